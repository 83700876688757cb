"""Signature verification: `signature train` (the feature network) -> `export` (ONNX) -> `calibrate` (rule and
zones on validation writers) -> `evaluate` (test writers, a report) -> `ship`."""
