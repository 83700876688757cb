"""`python -m model_export face edgeface`: the authors' EdgeFace-XS weights through our definition into ONNX, with a parity check.

EdgeFace (Idiap Research Institute; George, Ecabert, Otroshi Shahreza,
Kotwal, Marcel, IEEE T-BIOM 2024) is published under BSD-3-Clause, which
covers the repository's code and the checkpoints it distributes; trained on
WebFace12M. The checkpoint used is `edgeface_xs_q.pt`, the authors' int8
dynamic-quantised state dict (sha256 below); the network is our own
definition (edgeface_net.py). The ONNX graph is float32 with the published
int8-rounded weights; ONNX Runtime's output is compared with the PyTorch
module's on real aligned chips (the chips SFace sees: same five-point
geometry, 112x112).

Writes model.onnx, LICENSE (the authors' notice), a candidate manifest and
report/metrics.json (the parity check) into --run; never into models/.
EdgeFace has no bands of its own: the face score is the mean of its cosine
and SFace's, banded and calibrated in models/face_sface (manifest
`fused_into`). `python -m model_export face ship --run <run>` ships it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from functions.biometrics.face_alignment import sface_geometry
from functions.manifests import InputSpec, ModelManifest, write_manifest

from ..common.paths import RUNS_DIR
from ..common.provenance import not_shipped

MODEL_NAME = "face_edgeface"
MODEL_VERSION = "1.0.0"
DEFAULT_RUN = RUNS_DIR / "face_edgeface"
CHECKPOINT = "edgeface_xs_q.pt"
CHECKPOINT_SHA256 = "a31314377876ab9fa2a75e5638bc528efe79fd17d5c9c0a228fb7f846d7581a6"
PROVENANCE = {
    "file": CHECKPOINT,
    "sha256": CHECKPOINT_SHA256,
    "origin": "EdgeFace, Idiap Research Institute (https://github.com/otroshi/edgeface), checkpoint edgeface_xs_q",
    "obtained_from": "mirror yayoimizuha/face_recognition_train @ 3e631e35bf207a09aa2af79239961cfb14248c0a, checkpoints/edgeface_xs_q.pt",
    "paper": "George et al., EdgeFace: Efficient Face Recognition Model for Edge Devices, IEEE T-BIOM (2024)",
    "training_data": "WebFace12M (the authors' training set; not used here)",
    "license": "BSD-3-Clause (EdgeFace repository LICENSE: code and the checkpoints it distributes)",
    "modified": "int8 Linear weights turned back into float32 (values unchanged); loaded into our own definition, exported to ONNX",
}


LICENSE_TEXT = """BSD 3-Clause License

Copyright (c) 2024, Anjith George, Christophe Ecabert, Hatef Otroshi Shahreza,
Ketan Kotwal, S\u00e9bastien Marcel
Idiap Research Institute, Martigny 1920, Switzerland.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(checkpoint: Path, out: Path) -> None:
    import torch

    from .edgeface_net import load_published

    net = load_published(checkpoint)
    torch.onnx.export(
        net, torch.zeros(1, 3, 112, 112), str(out), input_names=["data"], output_names=["embedding"],
        opset_version=17, dynamo=False,
    )


def parity(checkpoint: Path, onnx_path: Path, chips: list[np.ndarray]) -> dict:
    """ONNX Runtime against the PyTorch module on real chips: max abs difference and lowest cosine."""
    import onnxruntime as ort
    import torch

    from .edgeface_net import load_published

    net = load_published(checkpoint)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst, lowest = 0.0, 1.0
    for chip in chips:
        x = ((chip.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        with torch.no_grad():
            a = net(torch.from_numpy(x)).numpy()[0]
        b = session.run(None, {"data": x})[0][0]
        worst = max(worst, float(np.abs(a - b).max()))
        lowest = min(lowest, float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    return {"chips": len(chips), "max_abs_diff": worst, "min_cosine": lowest}


def sample_chips(faces_dir: Path, limit: int = 40) -> list[np.ndarray]:
    from functions.biometrics.face_alignment import align_face
    from functions.biometrics.face_detection import crop_face

    from ..common.images import read_rgb

    geometry = sface_geometry()
    chips = []
    for path in sorted(faces_dir.glob("*.jpg"))[:limit]:
        image = read_rgb(path)
        found = crop_face(image)
        if found.ok:
            chips.append(align_face(image, found.detection.keypoints, geometry))
    return chips


def main(argv: list[str] | None = None) -> int:
    from ..common.paths import SHARED_DATA

    parser = argparse.ArgumentParser(prog="python -m model_export face edgeface", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help=f"the authors' {CHECKPOINT}")
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN)
    parser.add_argument("--faces", type=Path, default=SHARED_DATA / "faces", help="real photos for the parity check")
    args = parser.parse_args(argv)
    if sha256(args.checkpoint) != CHECKPOINT_SHA256:
        raise SystemExit(f"{args.checkpoint} is not the published {CHECKPOINT} (sha256 differs)")
    run = not_shipped(args.run)
    run.mkdir(parents=True, exist_ok=True)
    onnx_path = run / "model.onnx"
    export(args.checkpoint, onnx_path)
    check = parity(args.checkpoint, onnx_path, sample_chips(args.faces))
    print(json.dumps(check))
    manifest = ModelManifest(
        name=MODEL_NAME,
        version=MODEL_VERSION,
        file="model.onnx",
        sha256=sha256(onnx_path),
        input=InputSpec(name="data", height=112, width=112, color="RGB", layout="NCHW", mean=(127.5,) * 3, std=(127.5,) * 3),
        outputs=("embedding",),
        thresholds={},
        extra={
            "alignment": {**sface_geometry().to_dict(), "method": "the same chip as face_sface (five-point 112x112 reference)"},
            "embedding": {"size": 512, "score": "cosine", "unit_norm": True, "batch": 1},
            "license": PROVENANCE["license"] + "; LICENSE beside the model",
            "training": "none here: the authors' published checkpoint (trained on WebFace12M)",
            "fused_into": "face_sface",
            "source": PROVENANCE,
            "conversion": {"parity_onnx_vs_pytorch": check},
        },
    )
    write_manifest(run, manifest)
    (run / "LICENSE").write_text(LICENSE_TEXT)
    (run / "report").mkdir(exist_ok=True)
    (run / "report" / "metrics.json").write_text(json.dumps({"parity_onnx_vs_pytorch": check}, indent=1) + "\n")
    print(f"{onnx_path}, LICENSE, its manifest and report/metrics.json written")
    return 0
