"""What every model's training and evaluation share: paths, metrics (EER, DET), ONNX export, image reading, plots."""
