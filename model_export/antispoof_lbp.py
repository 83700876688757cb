"""A texture baseline for anti-spoofing: multi-scale LBP histograms of the grey face and an RBF SVM.

    python -m model_export lbp-antispoof --data ../shared/data/nuaa

The features follow Maatta, Hadid and Pietikainen (IJCB 2011), who found that
a printed face loses micro-texture a camera sees on skin: the face box only
(no context), grey, 64x64; uniform LBP(8,1) histograms on 3x3 overlapping
blocks, plus LBP(8,2) and LBP(16,2) over the whole face (833 values). An SVM
(RBF kernel, balanced classes) is fitted on the training subjects for each C
of a grid; thresholds come from the validation subjects, as for the networks.

It is a diagnostic, not a served model: it shows how far grey micro-texture
of the face carries across NUAA's capture sessions, where the CNNs trained
here on colour context crops do not.
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


if __name__ == "__main__":
    raise SystemExit(main())
