"""Running a step: the step runner, the process's services, ONNX sessions, subjects' references, webhooks."""
