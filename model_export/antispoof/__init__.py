"""Anti-spoofing, the MiniFASNet pair: `antispoof convert` (pretrained weights to one ONNX graph, parity checked)
-> `calibrate` (box mapping, fusion, zones on NUAA train) -> `evaluate` (NUAA dev and probes, a report) -> `ship`."""
