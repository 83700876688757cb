"""Tiny ONNX models built on the fly for plumbing tests. Test fixtures, never shipped.

Each keeps a shipped model's manifest (input spec, thresholds, calibration)
and replaces the network with a graph that gives the same answer for any
input. The accept path of the end-to-end tests uses an always-live
anti-spoofing fixture and an always-genuine signature fixture beside the real
face model, so that path does not depend on the shipped anti-spoofing and
signature models, whose measured weaknesses are in their reports and in
tests/test_antispoof_step.py and tests/test_signature_step.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from functions.manifests import sha256_file

ROOT = Path(__file__).resolve().parent.parent


def constant_model(shipped: str, target: Path, answer: list[float], version: str) -> Path:
    """models/<shipped>'s manifest, with a graph whose single output is `answer` for every input row."""
    import onnx
    from onnx import TensorProto, helper

    real = json.loads((ROOT / "models" / shipped / "manifest.json").read_text())
    spec = real["input"]
    channels = 1 if spec["color"] == "GRAY" else 3
    if real.get("comparison", {}).get("kind") == "pair":
        channels = 2
    target.mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info(spec["name"], TensorProto.FLOAT, [None, channels, spec["height"], spec["width"]])
    y = helper.make_tensor_value_info(real["outputs"][0], TensorProto.FLOAT, [None, len(answer)])
    nodes = [
        helper.make_node("ReduceMean", [spec["name"]], ["m"], axes=[1, 2, 3], keepdims=0),  # (N,)
        helper.make_node("Unsqueeze", ["m", "axis1"], ["m1"]),  # (N, 1)
        helper.make_node("Mul", ["m1", "zero"], ["z"]),  # (N, k) zeros
        helper.make_node("Add", ["z", "answer"], [real["outputs"][0]]),
    ]
    inits = [
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("zero", TensorProto.FLOAT, [1, len(answer)], [0.0] * len(answer)),
        helper.make_tensor("answer", TensorProto.FLOAT, [1, len(answer)], answer),
    ]
    graph = helper.make_graph(nodes, f"{version}_test_fixture", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(target / "model.onnx"))
    real.update(version=version, sha256=sha256_file(target / "model.onnx"), file="model.onnx")
    (target / "manifest.json").write_text(json.dumps(real))
    return target


def models_for_the_accept_path(folder: Path) -> Path:
    """The shipped face model, an always-live anti-spoofing fixture and an always-genuine signature fixture."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "models" / "face_embedding", folder / "face_embedding")
    constant_model("antispoof", folder / "antispoof", [0.0, 1.0], "test-fixture-always-live")
    constant_model("signature", folder / "signature", [1.0], "test-fixture-always-genuine")
    return folder


def models_with_an_always_spoof_detector(folder: Path) -> Path:
    """The shipped face and signature models beside an anti-spoofing fixture that calls every face a clear spoof."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "models" / "face_embedding", folder / "face_embedding")
    shutil.copytree(ROOT / "models" / "signature", folder / "signature")
    constant_model("antispoof", folder / "antispoof", [1.0, 0.0], "test-fixture-always-spoof")
    return folder
