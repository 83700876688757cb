"""The face embedding: dlib's ResNet converted to ONNX (`train-face`) and its evaluation (`evaluate-face`)."""
