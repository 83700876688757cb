"""Signature verification: `signature train` (the feature network) -> `export` (ONNX) -> `calibrate` (rule and
zones on validation writers, or out of fold with `--folds`) -> `evaluate` (test writers, a report) -> `ship`."""
