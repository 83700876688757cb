"""Training, conversion and export of bioauth's networks (PyTorch -> ONNX), with evaluation reports.

One folder per pipeline (face/, antispoof/, signature/, quality/, system/),
each of steps run as `python -m model_export <model> <step>` (see __main__.py);
common/ holds what they share, including `ship`, the only step that writes
into models/. Imports preprocessing and the model runtime from `functions/`, so
training and serving share one definition of how an image becomes a tensor.
"""
