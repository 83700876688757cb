"""Tiny ONNX models built on the fly for plumbing tests. Test fixtures, never shipped.

`always_live_antispoof` answers "live" for any crop. The accept path of the
end-to-end tests uses it beside the real face and signature models, so that
path does not depend on the shipped anti-spoofing model, whose known weakness
on studio portraits is recorded in its report and in test_antispoof_step.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from functions.model_runtime import sha256_file

ROOT = Path(__file__).resolve().parent.parent


def always_live_antispoof(target: Path) -> Path:
    """models/antispoof's manifest, with a graph that outputs probs = [0, 1] for every input."""
    import onnx
    from onnx import TensorProto, helper

    real = json.loads((ROOT / "models/antispoof/manifest.json").read_text())
    spec = real["input"]
    target.mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info(spec["name"], TensorProto.FLOAT, [None, 3, spec["height"], spec["width"]])
    y = helper.make_tensor_value_info(real["outputs"][0], TensorProto.FLOAT, [None, 2])
    nodes = [
        helper.make_node("ReduceMean", [spec["name"]], ["m"], axes=[1, 2, 3], keepdims=0),  # (N,)
        helper.make_node("Unsqueeze", ["m", "axis1"], ["m1"]),  # (N, 1)
        helper.make_node("Mul", ["m1", "zero"], ["z"]),
        helper.make_node("Add", ["z", "live"], [real["outputs"][0]]),  # (N, 2) = [0, 1]
    ]
    inits = [
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("zero", TensorProto.FLOAT, [1, 2], [0.0, 0.0]),
        helper.make_tensor("live", TensorProto.FLOAT, [1, 2], [0.0, 1.0]),
    ]
    graph = helper.make_graph(nodes, "always_live_test_fixture", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(target / "model.onnx"))
    real.update(version="test-fixture-always-live", sha256=sha256_file(target / "model.onnx"), file="model.onnx")
    (target / "manifest.json").write_text(json.dumps(real))
    return target


def models_with_always_live_antispoof(folder: Path) -> Path:
    """A models folder: the shipped face and signature models, and the always-live anti-spoofing fixture."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("face_embedding", "signature"):
        if (ROOT / "models" / name).is_dir():
            shutil.copytree(ROOT / "models" / name, folder / name)
    always_live_antispoof(folder / "antispoof")
    return folder


def check_fixture(folder: Path) -> float:
    from functions.antispoof import check_liveness
    from functions.model_runtime import OnnxModel

    return check_liveness(np.zeros((256, 256, 3), np.uint8), OnnxModel(folder / "antispoof")).score
