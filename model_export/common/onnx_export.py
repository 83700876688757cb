"""Export a PyTorch module to ONNX with a dynamic batch, then check that onnxruntime computes what PyTorch does."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class ParityError(RuntimeError):
    """The exported graph does not compute what the PyTorch module computes."""


def export_onnx(module, path: Path, *, input_name: str, input_shape: tuple[int, ...], output_name: str,
                dummy_batch: int = 1, opset: int = 17) -> None:
    """One ONNX file (TorchScript exporter, opset 17), batch axis dynamic on the input and the output.

    `input_shape` is one example's shape (channels, height, width).
    """
    import torch

    module.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        module,
        (torch.zeros(dummy_batch, *input_shape),),
        str(path),
        input_names=[input_name],
        output_names=[output_name],
        dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
        opset_version=opset,
        dynamo=False,
    )


def parity(module, path: Path, batch: np.ndarray, *, tolerance: float) -> float:
    """Largest absolute difference between onnxruntime and PyTorch on `batch`; ParityError above `tolerance`."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    served = session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
    with torch.no_grad():
        expected = module.eval()(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()
    diff = float(np.max(np.abs(served - expected)))
    if diff > tolerance:
        raise ParityError(f"{path.name}: onnxruntime differs from PyTorch by {diff:.2e} (tolerance {tolerance:.0e})")
    return diff
