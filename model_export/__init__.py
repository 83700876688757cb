"""Training, conversion and export of bioauth's networks (PyTorch -> ONNX), with evaluation reports.

One folder per model (face/, antispoof/, signature/), each with the `train`
and `evaluate` entry that reproduce the shipped model and its report; common/
holds what they share. Imports preprocessing and the model runtime from
`functions/`, so training and serving share one definition of how an image
becomes a tensor.
"""
