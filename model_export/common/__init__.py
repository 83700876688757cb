"""What every model's pipeline shares: paths, metrics (EER, DET), ONNX export, image reading, provenance, shipping."""
