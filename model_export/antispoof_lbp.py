"""A texture baseline for anti-spoofing: multi-scale LBP histograms of the grey face and an RBF SVM.

    python -m model_export lbp-antispoof --data ../shared/data/nuaa

The features follow Maatta, Hadid and Pietikainen (IJCB 2011), who found that
a printed face loses micro-texture a camera sees on skin: the face box only
(no context), grey, 64x64; uniform LBP(8,1) histograms on 3x3 overlapping
blocks, plus LBP(8,2) and LBP(16,2) over the whole face (833 values). An SVM
(RBF kernel, balanced classes) is fitted on the training subjects for each C
of a grid; thresholds come from the validation subjects, as for the networks.

The sweep is a diagnostic: it shows how far grey micro-texture of the face
carries across NUAA's capture sessions, where the CNNs trained here on colour
context crops do not. `train-antispoof-lbp` (below) builds the servable
candidate: the same kind of features written as tensor operations
(antispoof_lbp_net) in front of the SVM, one ONNX graph.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .antispoof_data import DEFAULT_CACHE, DEFAULT_DATA, ensure_cache, load_split, train_val_split
from .antispoof_metrics import equal_error_rate, error_rates

FACE_SIZE = 64
CROP_SCALE = 2.0  # the cache's context scale: the face box is the central half of the crop
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


def _histogram(codes: np.ndarray, bins: int) -> np.ndarray:
    h = np.bincount(codes.ravel().astype(np.int64), minlength=bins).astype(np.float32)
    return h / max(float(h.sum()), 1.0)


def lbp_features(context_crop: np.ndarray, crop_scale: float = CROP_SCALE) -> np.ndarray:
    """833 LBP histogram values of the grey 64x64 face cut from the centre of a context crop."""
    import cv2
    from skimage.feature import local_binary_pattern

    side = int(round(context_crop.shape[0] / crop_scale))
    o = (context_crop.shape[0] - side) // 2
    face = cv2.cvtColor(np.ascontiguousarray(context_crop[o : o + side, o : o + side]), cv2.COLOR_RGB2GRAY)
    face = cv2.resize(face, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    near = local_binary_pattern(face, 8, 1, "nri_uniform")  # 59 codes
    parts = [_histogram(near[y : y + 22, x : x + 22], 59) for y in (0, 21, 42) for x in (0, 21, 42)]
    parts.append(_histogram(local_binary_pattern(face, 8, 2, "nri_uniform"), 59))
    parts.append(_histogram(local_binary_pattern(face, 16, 2, "nri_uniform"), 243))
    return np.concatenate(parts)


def evaluate(data_root: Path, cache_root: Path, c_grid=C_GRID) -> list[dict]:
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    cache_dir = ensure_cache(data_root, cache_root, splits=("train", "dev"), scale=CROP_SCALE)
    train, val = train_val_split(load_split(cache_dir, "train"))
    dev = load_split(cache_dir, "dev")
    feats = {name: np.stack([lbp_features(c) for c in split.crops]) for name, split in (("train", train), ("val", val), ("dev", dev))}
    scaler = StandardScaler().fit(feats["train"])
    rows = []
    for c in c_grid:
        svm = SVC(C=c, kernel="rbf", class_weight="balanced").fit(scaler.transform(feats["train"]), train.labels)
        val_scores = svm.decision_function(scaler.transform(feats["val"]))
        dev_scores = svm.decision_function(scaler.transform(feats["dev"]))
        val_eer, val_threshold = equal_error_rate(val_scores, val.labels)
        dev_eer, _ = equal_error_rate(dev_scores, dev.labels)
        point = error_rates(dev_scores, dev.labels, val_threshold)
        rows.append({
            "C": c, "support_vectors": int(svm.support_vectors_.shape[0]), "val_eer": val_eer, "dev_eer": dev_eer,
            "dev_apcer": point.apcer, "dev_bpcer": point.bpcer, "dev_acer": point.acer,
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export lbp-antispoof", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="NUAA root (holds train/ and dev/)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    rows = evaluate(args.data, args.cache)
    print(f"{'C':>6} {'SVs':>5} {'val EER':>8} {'dev EER':>8} {'APCER':>7} {'BPCER':>7} {'ACER':>7}  (dev, at the validation EER threshold)")
    for r in rows:
        print(f"{r['C']:>6g} {r['support_vectors']:>5d} {100 * r['val_eer']:>7.2f}% {100 * r['dev_eer']:>7.2f}% "
              f"{100 * r['dev_apcer']:>6.2f}% {100 * r['dev_bpcer']:>6.2f}% {100 * r['dev_acer']:>6.2f}%")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0



# ---------------------------------------------------------------------------
# The served variant: LBP written as tensor operations (antispoof_lbp_net), one ONNX graph
# ---------------------------------------------------------------------------

LBP_VARIANT = "lbp_svm_face64"
LBP_SCALE = 1.0  # the face box itself


def lbp_spec():
    from functions.model_runtime import InputSpec

    return InputSpec(name="input", height=64, width=64, color="GRAY", layout="NCHW", mean=(0.0,), std=(1.0,))


def torch_features(crops: np.ndarray, batch: int = 256) -> np.ndarray:
    """Features of cached context crops through the serving resize and the ONNX graph's own LBP module."""
    import torch

    from functions.antispoof import prepare_input

    from .antispoof_lbp_net import LBPFeatures

    spec, module, out = lbp_spec(), LBPFeatures(), []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            x = spec.to_tensor([prepare_input(np.asarray(c), spec) for c in crops[i : i + batch]])
            out.append(module(torch.from_numpy(x)).numpy())
    return np.concatenate(out).astype(np.float64)


def session_of(path: str) -> str:
    """NUAA names are <subject>_<glasses>_<position>_<session>_<n>.jpg."""
    return Path(path).name.split("_")[3]


def cross_session_eer(features: np.ndarray, labels: np.ndarray, sessions: np.ndarray, c: float) -> float:
    """Fit on one capture session, score the other, both ways: the shift the service meets in a new place."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    rates = []
    for fit_on in sorted(set(sessions)):
        a, b = sessions == fit_on, sessions != fit_on
        scaler = StandardScaler().fit(features[a])
        svm = SVC(C=c, kernel="rbf", class_weight="balanced").fit(scaler.transform(features[a]), labels[a])
        rates.append(equal_error_rate(svm.decision_function(scaler.transform(features[b])), labels[b])[0])
    return float(np.mean(rates))


def train_lbp_svm(data_root: Path, cache_root: Path, run_dir: Path, c_grid=C_GRID, c: float | None = None) -> Path:
    """Choose C by cross-session EER on the training subjects, fit, Platt-scale and threshold on the validation subjects, export."""
    from datetime import datetime, timezone

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from functions.antispoof import MODEL_NAME
    from functions.model_runtime import ModelManifest, sha256_file, write_manifest

    from .antispoof_lbp_net import LBPFeatures, LBPSVM
    from .antispoof_train import calibrate_on_validation, export_onnx

    cache_dir = ensure_cache(data_root, cache_root, splits=("train",), scale=LBP_SCALE)
    train, val = train_val_split(load_split(cache_dir, "train"))
    x_train, x_val = torch_features(train.crops), torch_features(val.crops)
    sessions = np.array([session_of(f) for f in train.files])
    selection = {c: cross_session_eer(x_train, train.labels, sessions, c) for c in c_grid}
    best_c = min(selection, key=lambda k: (round(selection[k], 3), -k))  # on a tie, the larger C: fewer support vectors
    print("cross-session EER by C:", {k: round(v, 4) for k, v in selection.items()}, "-> C =", best_c)
    if c is not None:
        print(f"C = {c} as given (--c), not the cross-session choice")
        best_c = c

    scaler = StandardScaler().fit(x_train)
    svm = SVC(C=best_c, kernel="rbf", class_weight="balanced").fit(scaler.transform(x_train), train.labels)
    val_decision = svm.decision_function(scaler.transform(x_val))
    platt = LogisticRegression(C=1e6).fit(val_decision[:, None], val.labels)
    net = LBPSVM(LBPFeatures(), scaler.mean_, scaler.scale_, svm.support_vectors_, svm.dual_coef_[0], float(svm.intercept_[0]),
                 float(svm._gamma), float(platt.coef_[0, 0]), float(platt.intercept_[0])).eval()

    run_dir.mkdir(parents=True, exist_ok=True)
    spec = lbp_spec()
    export_onnx(net, spec, run_dir / "model.onnx")
    version = f"{datetime.now(timezone.utc):%Y.%m.%d}-{LBP_VARIANT}"
    base = dict(name=MODEL_NAME, version=version, file="model.onnx", sha256=sha256_file(run_dir / "model.onnx"), input=spec, outputs=("probs",))
    fitted = calibrate_on_validation(
        run_dir, base, val, target_rate=0.01,
        score="probability of live: the SVM decision value through a Platt sigmoid fitted on the validation subjects",
    )
    history = [{"epoch": 1, "val_eer": fitted["calibration"]["val_eer"], "cross_session_eer": selection[best_c], "elapsed_s": 0}]
    (run_dir / "history.json").write_text(json.dumps(history))
    manifest = ModelManifest(
        **base,
        **fitted,
        extra={
            "live_class_index": 1,
            "classes": ["spoof", "live"],
            "context_scale": LBP_SCALE,
            "preprocessing": "256x256 context crop of the face box x1 (functions.face_crop.context_crop), resized to 64x64 "
            "with INTER_AREA, grey (OpenCV RGB2GRAY), values 0..255",
            "training": {
                "variant": LBP_VARIANT,
                "arch": "LBP(8,1) 3x3 blocks + LBP(8,2) + LBP(16,2) uniform histograms (833) -> RBF SVM",
                "head": "svm",
                "C": best_c,
                "C_chosen_by": "given on the command line (--c)" if c is not None else "cross-session EER on the training subjects",
                "cross_session_eer_by_C": {str(k): v for k, v in selection.items()},
                "support_vectors": int(svm.support_vectors_.shape[0]),
                "parameters": int(svm.support_vectors_.size + 3 * x_train.shape[1] + svm.support_vectors_.shape[0]),
                "data": "NUAA Photograph Imposter Database, train split (sessions 1-2, subjects 0001-0009) minus validation subjects",
            },
            "license": "Model: same licence as the project code. Fitted on NUAA, academic research data without a redistribution licence; see MODEL_CARD.md.",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    write_manifest(run_dir, manifest)
    print(json.dumps(manifest.thresholds), json.dumps(manifest.metrics))
    return run_dir


def train_main(argv: list[str] | None = None) -> int:
    from .antispoof_train import DEFAULT_RUNS

    parser = argparse.ArgumentParser(prog="python -m model_export train-antispoof-lbp", description=train_lbp_svm.__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS)
    parser.add_argument("--c", type=float, default=None, help="SVM C; default: the grid value with the lowest cross-session EER")
    args = parser.parse_args(argv)
    train_lbp_svm(args.data, args.cache, args.runs / LBP_VARIANT, c=args.c)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
