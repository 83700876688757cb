"""Convert the pretrained MiniFASNet pair to one ONNX graph and check it against the reference forward pass.

`python -m model_export antispoof convert [--weights DIR] [--reference DIR] [--run DIR]`

The weights (Apache-2.0) are loaded into the project's own MiniFASNet
definition (`model_export.antispoof.minifasnet`), and both networks go into one
graph with one 80x80 input per member and one output `probs` (N, members, 3):
each member's softmax, class 1 = real face. Parity is checked twice on the
same 80x80 crops: the exported graph against our PyTorch definition always,
and against the upstream implementation when its checkout is given with
`--reference` (its code is imported from there at run time, never copied).
The reference softmax for crops of the project's own sample photos is written
to `tests/fixtures/antispoof_reference.json`, so CI checks parity without the
reference code. Box mapping, fusion weights and thresholds are added by
`antispoof calibrate`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.biometrics.face_detection import scaled_box_crop
from functions.manifests import sha256_file
from functions.settings import REPO_ROOT

from ..common.paths import RUNS_DIR, SHARED_DATA
from ..common.provenance import not_shipped

DEFAULT_WEIGHTS = SHARED_DATA / "minifasnet"
DEFAULT_RUN = RUNS_DIR / "antispoof"
CONVERSION_FILE = "conversion.json"  # the manifest's conversion part, for `antispoof calibrate`
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "antispoof_reference.json"
UPSTREAM = "minivision-ai/Silent-Face-Anti-Spoofing"
UPSTREAM_COMMIT = "b6d5f04ad787"
PARITY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class MemberSource:
    """One pretrained network: its file, our name for it, its crop scale and architecture."""

    name: str
    file: str
    crop_scale: float
    version: str  # expansion widths, "v1" or "v2"
    se: bool  # squeeze-excitation in the residual stages
    upstream_class: str

    @property
    def input_name(self) -> str:
        return "crop_" + self.name.rsplit("_", 1)[1].replace(".", "_")


MEMBERS = (
    MemberSource("minifasnet_v2_x2.7", "2.7_80x80_MiniFASNetV2.pth", 2.7, "v2", False, "MiniFASNetV2"),
    MemberSource("minifasnet_v1se_x4.0", "4_0_0_80x80_MiniFASNetV1SE.pth", 4.0, "v1", True, "MiniFASNetV1SE"),
)
INPUT_SIZE = 80

# Parity inputs that any machine can rebuild: crops of the project's sample photos at fixed boxes (x, y, w, h).
FIXTURE_PHOTOS = {
    "astronaut": [(178.0, 83.0, 95.0, 95.0), (170.0, 70.0, 110.0, 120.0)],
    "grace_hopper": [(171.0, 147.0, 194.0, 194.0), (150.0, 120.0, 230.0, 250.0)],
}


def fixture_photo(name: str) -> np.ndarray:
    from tests.fixtures.photos import astronaut, grace_hopper

    return {"astronaut": astronaut, "grace_hopper": grace_hopper}[name]()


def fixture_crops() -> list[dict]:
    """[{photo, box, crops: {member: 80x80 RGB}}] for every fixture photo and box."""
    items = []
    for photo, boxes in FIXTURE_PHOTOS.items():
        image = fixture_photo(photo)
        for box in boxes:
            crops = {m.name: scaled_box_crop(image, box, scale=m.crop_scale, size=INPUT_SIZE) for m in MEMBERS}
            items.append({"photo": photo, "box": list(box), "crops": crops})
    return items


def to_input(rgb_crops: list[np.ndarray]) -> np.ndarray:
    """RGB 80x80 crops to the networks' input: BGR, 0..255, NCHW float32 (no normalisation)."""
    return np.ascontiguousarray(np.stack([c[:, :, ::-1] for c in rgb_crops]).transpose(0, 3, 1, 2), dtype=np.float32)


def load_members(weights_dir: Path):
    from model_export.antispoof.minifasnet import load_minifasnet

    return [load_minifasnet(weights_dir / m.file, m.version, m.se) for m in MEMBERS]


def ensemble_module(nets):
    """Both networks as one module: crops in member order -> (N, members, 3) softmax."""
    import torch
    from torch import nn

    class MemberSoftmax(nn.Module):
        def __init__(self, nets):
            super().__init__()
            self.nets = nn.ModuleList(nets)

        def forward(self, *crops):
            return torch.stack([torch.softmax(net(x), dim=1) for net, x in zip(self.nets, crops)], dim=1)

    return MemberSoftmax(nets).eval()


def export_onnx(nets, path: Path) -> None:
    import torch

    module = ensemble_module(nets)
    dummy = tuple(torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE) for _ in MEMBERS)
    names = [m.input_name for m in MEMBERS]
    axes = {n: {0: "batch"} for n in names} | {"probs": {0: "batch"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, dummy, str(path), input_names=names, output_names=["probs"], dynamic_axes=axes, opset_version=17, dynamo=False)


def torch_softmax(nets, batch: list[np.ndarray]) -> np.ndarray:
    """(N, members, 3) from our PyTorch definitions."""
    import torch

    with torch.no_grad():
        return ensemble_module(nets)(*(torch.from_numpy(x) for x in batch)).numpy()


def onnx_softmax(path: Path, batch: list[np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probs"], {m.input_name: x for m, x in zip(MEMBERS, batch)})[0]


def reference_softmax(reference_dir: Path, weights_dir: Path, batch: list[np.ndarray]) -> np.ndarray:
    """(N, members, 3) from the upstream implementation, imported from its checkout."""
    import torch

    sys.path.insert(0, str(reference_dir))
    try:
        from src.model_lib import MiniFASNet as upstream  # the reference's own module
    finally:
        sys.path.remove(str(reference_dir))
    out = []
    for m, x in zip(MEMBERS, batch):
        net = getattr(upstream, m.upstream_class)(conv6_kernel=(5, 5))
        state = torch.load(str(weights_dir / m.file), map_location="cpu", weights_only=False)
        net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
        net.eval()
        with torch.no_grad():
            out.append(torch.softmax(net(torch.from_numpy(x)), dim=1).numpy())
    return np.stack(out, axis=1)


def parity_batch(extra_images: list[tuple[str, np.ndarray, tuple]] = ()) -> tuple[list[str], list[np.ndarray]]:
    """Labels and per-member input batches: the fixture crops plus any (label, image, box) given."""
    labels, per_member = [], [[] for _ in MEMBERS]
    for item in fixture_crops():
        labels.append(f"{item['photo']} {item['box']}")
        for i, m in enumerate(MEMBERS):
            per_member[i].append(item["crops"][m.name])
    for label, image, box in extra_images:
        labels.append(label)
        for i, m in enumerate(MEMBERS):
            per_member[i].append(scaled_box_crop(image, box, scale=m.crop_scale, size=INPUT_SIZE))
    return labels, [to_input(crops) for crops in per_member]


def sample_images(weights_dir: Path) -> list[tuple[str, np.ndarray, tuple]]:
    """The upstream sample photos (when present) with the service detector's box, for parity on real attacks."""
    import cv2

    from functions.biometrics.face_detection import detect_faces

    found = []
    for path in sorted((weights_dir / "samples").glob("*.jpg")):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        faces = detect_faces(rgb)
        if faces:
            found.append((path.name, rgb, faces[0].box))
    return found


def convert(weights_dir: Path, out_dir: Path, reference_dir: Path | None, write_fixture: bool) -> dict:
    """Export model.onnx and return the conversion part of the manifest (members, parity, provenance)."""
    import torch

    torch.set_num_threads(1)
    nets = load_members(weights_dir)
    onnx_path = out_dir / "model.onnx"
    export_onnx(nets, onnx_path)
    labels, batch = parity_batch(sample_images(weights_dir))
    ours = torch_softmax(nets, batch)
    served = onnx_softmax(onnx_path, batch)
    parity = {
        "inputs": len(labels),
        "what": "80x80 crops of the project's sample photos at fixed boxes and of the upstream sample photos",
        "max_abs_softmax_onnx_vs_pytorch": float(np.abs(served - ours).max()),
        "tolerance": PARITY_TOLERANCE,
    }
    if parity["max_abs_softmax_onnx_vs_pytorch"] >= PARITY_TOLERANCE:
        raise SystemExit(f"ONNX export differs from the PyTorch definition: {parity}")
    if reference_dir is not None:
        ref = reference_softmax(reference_dir, weights_dir, batch)
        parity["max_abs_softmax_onnx_vs_reference"] = float(np.abs(served - ref).max())
        parity["max_abs_softmax_pytorch_vs_reference"] = float(np.abs(ours - ref).max())
        parity["reference"] = f"{UPSTREAM} at {UPSTREAM_COMMIT}, its MiniFASNet classes and torch forward pass"
        if parity["max_abs_softmax_onnx_vs_reference"] >= PARITY_TOLERANCE:
            raise SystemExit(f"ONNX export differs from the reference: {parity}")
        if write_fixture:
            n = sum(len(b) for b in FIXTURE_PHOTOS.values())
            fixture = {
                "what": "reference softmax (N, members, 3) of the upstream implementation on crops of the sample photos",
                "reference": parity["reference"],
                "members": [m.name for m in MEMBERS],
                "crop_scales": [m.crop_scale for m in MEMBERS],
                "items": [
                    {"photo": lab.split(" ", 1)[0], "box": json.loads(lab.split(" ", 1)[1]), "softmax": ref[i].tolist()}
                    for i, lab in enumerate(labels[:n])
                ],
            }
            FIXTURE.parent.mkdir(parents=True, exist_ok=True)
            FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
    members = [
        {
            "name": m.name,
            "input": {"name": m.input_name, "height": INPUT_SIZE, "width": INPUT_SIZE, "color": "BGR", "layout": "NCHW",
                      "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
            "crop_scale": m.crop_scale,
            "live_class_index": 1,
            "architecture": f"MiniFASNet{m.version.upper()}{'SE' if m.se else ''}, 3-class softmax (1 = real face)",
            "weights": {"file": m.file, "sha256": sha256_file(weights_dir / m.file)},
        }
        for m in MEMBERS
    ]
    return {
        "file": "model.onnx",
        "sha256": sha256_file(onnx_path),
        "members": members,
        "parity": parity,
        "licence": "Apache-2.0",
        "licence_file": "LICENSE-minifasnet",
        "provenance": {
            "weights": f"{UPSTREAM} at {UPSTREAM_COMMIT}, resources/anti_spoof_models/ (Apache-2.0, Minivision)",
            "network_definition": "model_export/antispoof/minifasnet.py (the project's, from the published architecture and the weights' tensor shapes)",
            "conversion": "model_export/antispoof/convert.py: weights loaded strictly, both networks in one ONNX graph (opset 17)",
        },
    }


def build_manifest(conversion: dict, calibration: dict, version: str) -> dict:
    first = conversion["members"][0]
    return {
        "name": "antispoof",
        "version": version,
        "file": conversion["file"],
        "sha256": conversion["sha256"],
        "input": first["input"],
        "outputs": ["probs"],
        "output_meaning": "probs (N, members, 3): each member's softmax; class 1 = real face, 0 and 2 = attack classes",
        "thresholds": calibration["thresholds"],
        "calibration": calibration["calibration"],
        "metrics": {},
        "members": [
            {**m, "weight": calibration["fusion"]["weights"][m["name"]]} for m in conversion["members"]
        ],
        "box_mapping": calibration["box_mapping"],
        "fusion": calibration["fusion"],
        "parity": conversion["parity"],
        "licence": conversion["licence"],
        "licence_file": conversion["licence_file"],
        "provenance": conversion["provenance"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export antispoof convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="folder with the MiniFASNet .pth files and LICENSE")
    parser.add_argument("--reference", type=Path, help="checkout of the upstream repository: parity against its forward pass")
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN, help="run folder to write model.onnx and conversion.json into")
    parser.add_argument("--no-fixture", action="store_true", help="do not rewrite tests/fixtures/antispoof_reference.json")
    args = parser.parse_args(argv)
    run = not_shipped(args.run)
    conversion = convert(args.weights, run, args.reference, write_fixture=not args.no_fixture)
    (run / "LICENSE-minifasnet").write_bytes((args.weights / "LICENSE").read_bytes())
    (run / CONVERSION_FILE).write_text(json.dumps(conversion, indent=2) + "\n")
    print(json.dumps(conversion["parity"], indent=2))
    return 0
