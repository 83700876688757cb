"""The face embedding: SFace installed and checked (`train-face`), evaluated beside dlib's ResNet (`evaluate-face`);
dlib's ResNet converted to ONNX (`train-face-dlib`) and its own evaluation (`evaluate-face-dlib`)."""
