"""The face embedding, SFace: `face fetch` (the published network, checked) -> `calibrate` (bands on NUAA
calibration subjects) -> `evaluate` (figures on the other subjects and faces/, a report) -> `ship`."""
