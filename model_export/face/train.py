"""`python -m model_export train-face-dlib`: the dlib face ResNet, converted to ONNX with its manifest (no training here).

Steps: read dlib's CC0 weights into our PyTorch module, check it against dlib
on a real photo, measure the MediaPipe chip geometry (alignment.py),
calibrate the similarity curve, export one ONNX file with a dynamic batch, and
write manifest.json and MODEL_CARD.md in models/face_embedding/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np

from functions.biometrics.face_detection import detect_faces
from functions.biometrics.face_alignment import align_face
from functions.manifests import InputSpec, ModelManifest, sha256_file, write_manifest

from ..common.images import read_rgb
from ..common.onnx_export import export_onnx, parity
from ..common.paths import MODELS_DIR, SHARED_DATA
from .dlib_format import FACE_MODEL_FILE, face_recognition_models_file, read_dlib_network

DEFAULT_DATA = SHARED_DATA
MODEL_NAME = "face_embedding"
MODEL_VERSION = "1.0.0"
DEFAULT_OUT = MODELS_DIR / MODEL_NAME
# The distance below which dlib's author calls two faces the same person (LFW, 10-fold).
PUBLISHED_THRESHOLD = 0.6
ALIGNMENT_KEYPOINTS = "eyes_mouth"


def input_spec(mean: tuple[float, float, float]) -> InputSpec:
    return InputSpec(name="chip", height=150, width=150, color="RGB", layout="NCHW", mean=tuple(mean), std=(256.0, 256.0, 256.0))


def load_converted():
    """(torch module, parsed dlib network) from the face-recognition-models file."""
    from .resnet import FaceResNet

    network = read_dlib_network(face_recognition_models_file(FACE_MODEL_FILE))
    return FaceResNet.from_dlib(network), network


def torch_embed(model, chips: list[np.ndarray], spec: InputSpec) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(spec.to_tensor(chips))).numpy()


def calibration_images(nuaa_dir: Path, per_subject: int = 10) -> list[tuple[str, Path]]:
    """(subject, path) of NUAA live training frames, offset from the frames the alignment fit uses."""
    out = []
    for subject in sorted((nuaa_dir / "train" / "live").iterdir()):
        frames = sorted(subject.glob("*.jpg"))
        step = max(1, len(frames) // per_subject)
        out += [(subject.name, p) for p in frames[step // 2 :: step][:per_subject]]
    return out


def fit_similarity_slope(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Slope k of similarity = 1 / (1 + exp(k * (d - threshold))), fitted by logistic regression.

    The midpoint stays at the decision threshold so similarity 0.5 is the boundary.
    """
    from sklearn.linear_model import LogisticRegression

    x = (distances - threshold).reshape(-1, 1)
    lr = LogisticRegression(fit_intercept=False, class_weight="balanced", C=1.0)
    lr.fit(x, same.astype(int))
    return float(-lr.coef_[0, 0])


def main(argv: list[str]) -> int:
    import torch

    from .alignment import CANDIDATE_KEYPOINTS, DlibAligner, collect_samples, fit_images, geometry_from_samples

    ap = argparse.ArgumentParser(prog="python -m model_export train-face-dlib", description=__doc__)
    ap.add_argument("--faces", type=Path, default=DEFAULT_DATA / "faces", help="faces/ folder (only photos outside master.csv pairs are used)")
    ap.add_argument("--nuaa", type=Path, default=DEFAULT_DATA / "nuaa", help="NUAA folder (live training frames)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    model, network = load_converted()
    spec = input_spec(network.input_mean)

    print("fitting the MediaPipe chip geometry on dlib chips ...")
    aligner = DlibAligner()
    fit_paths = fit_images(args.faces, args.nuaa)
    samples = collect_samples(fit_paths, aligner)
    geometry = geometry_from_samples(samples, CANDIDATE_KEYPOINTS[ALIGNMENT_KEYPOINTS])
    drift = []
    for s in samples:
        image = read_rgb(Path(s.path))
        shape = aligner.shape(image)
        faces = detect_faces(image)
        e = torch_embed(model, [aligner.chip(image, shape), align_face(image, faces[0].keypoints, geometry)], spec)
        drift.append(float(np.linalg.norm(e[0] - e[1])))
    print(f"  {len(samples)} photos, embedding drift MediaPipe vs dlib chip: median {np.median(drift):.3f}")

    print("calibrating the similarity curve on NUAA live frames ...")
    labelled = calibration_images(args.nuaa)
    chips, subjects = [], []
    for subject, path in labelled:
        image = read_rgb(path)
        faces = detect_faces(image)
        if faces:
            chips.append(align_face(image, faces[0].keypoints, geometry))
            subjects.append(subject)
    emb = torch_embed(model, chips, spec)
    iu = np.triu_indices(len(chips), 1)
    dist = np.linalg.norm(emb[:, None] - emb[None], axis=2)[iu]
    same = (np.array(subjects)[:, None] == np.array(subjects)[None])[iu]
    slope = fit_similarity_slope(dist, same, PUBLISHED_THRESHOLD)
    # A stricter operating point: the largest threshold keeping FMR <= 1% on these pairs.
    impostor = np.sort(dist[~same])
    strict = float(impostor[int(np.floor(0.01 * len(impostor)))])
    strict_fnmr = float((dist[same] >= strict).mean())
    cal_fmr = float((dist[~same] < PUBLISHED_THRESHOLD).mean())
    cal_fnmr = float((dist[same] >= PUBLISHED_THRESHOLD).mean())
    print(f"  {len(chips)} chips, {int(same.sum())} genuine / {int((~same).sum())} impostor pairs; "
          f"at {PUBLISHED_THRESHOLD}: FMR {cal_fmr:.4f} FNMR {cal_fnmr:.4f}; slope {slope:.2f}; "
          f"FMR 1% at {strict:.3f} (FNMR {strict_fnmr:.4f})")

    onnx_path = args.out / "model.onnx"
    export_onnx(model, onnx_path, input_name="chip", input_shape=(3, 150, 150), output_name="embedding")
    diff = parity(model, onnx_path, spec.to_tensor(chips[:4]), tolerance=1e-3)
    print(f"  ONNX vs torch max abs difference: {diff:.2e}")

    previous = {}
    if (args.out / "manifest.json").is_file():
        previous = json.loads((args.out / "manifest.json").read_text())
    alignment = geometry.to_dict()
    alignment.update({
        "method": "similarity transform (least squares) of MediaPipe keypoints onto their median place in dlib's get_face_chip(size=150, padding=0.25)",
        "fit": {"photos": len(samples), "data": "faces/ photos outside the evaluation pairs + NUAA live training frames",
                "median_embedding_drift_vs_dlib_chip": round(float(np.median(drift)), 4)},
    })
    manifest = ModelManifest(
        name=MODEL_NAME,
        version=MODEL_VERSION,
        file="model.onnx",
        sha256=sha256_file(onnx_path),
        input=spec,
        outputs=("embedding",),
        thresholds={"distance": PUBLISHED_THRESHOLD, "distance_strict": round(strict, 4)},
        calibration={
            "method": "distance threshold from the network author's LFW calibration (10-fold, 6000 pairs); "
                      "similarity = 1 / (1 + exp(slope * (distance - threshold))), slope by logistic regression",
            "data": f"NUAA live training frames, {len(chips)} chips of {len(set(subjects))} people",
            "similarity": {"slope": round(slope, 4), "midpoint": PUBLISHED_THRESHOLD},
            "check": {"pairs_genuine": int(same.sum()), "pairs_impostor": int((~same).sum()),
                      "fmr_at_threshold": round(cal_fmr, 5), "fnmr_at_threshold": round(cal_fnmr, 5)},
            "distance_strict": {"method": "largest distance keeping FMR <= 1% on the NUAA calibration pairs",
                                "fnmr": round(strict_fnmr, 5)},
            "warning": "the network's impostor distances depend strongly on the population: on NUAA (webcam, "
                       "9 East-Asian subjects) most different-person pairs fall below 0.6; see MODEL_CARD.md",
        },
        metrics=previous.get("metrics", {}),
        extra={
            "alignment": alignment,
            "embedding": {"size": 128, "distance": "euclidean", "unit_norm": False},
            "license": "CC0-1.0 (weights: dlib_face_recognition_resnet_model_v1.dat by Davis E. King, pip package face-recognition-models)",
            "source": {"file": FACE_MODEL_FILE, "sha256": sha256_file(face_recognition_models_file(FACE_MODEL_FILE))},
            "training": "none here: dlib's published weights, converted layer by layer",
            "conversion": {"onnx_vs_torch_max_abs_diff": diff, "opset": 17},
            "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    write_manifest(args.out, manifest)
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB) and manifest.json")
    return 0
