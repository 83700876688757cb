"""Training, conversion and export of bioauth's networks (PyTorch -> ONNX), with evaluation reports.

Imports preprocessing and the model runtime from `functions/`, so training and
serving share one definition of how an image becomes a tensor.
"""
