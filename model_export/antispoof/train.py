"""`python -m model_export train-antispoof`: grey micro-texture, multi-scale LBP histograms of the face and an RBF SVM, as one ONNX graph.

    python -m model_export train-antispoof --data ../shared/data/nuaa [--reviewed DIR ...]

The features follow Maatta, Hadid and Pietikainen (IJCB 2011), who found that
a printed face loses micro-texture a camera sees on skin: the face box only
(no context), grey, 64x64; uniform LBP(8,1) histograms on 3x3 overlapping
blocks, plus LBP(8,2) and LBP(16,2) over the whole face (833 values). They are
computed by the graph's own tensor module (lbp_svm.py), in training as
in serving. Grey levels only: colour and background tell NUAA's capture
sessions apart better than they tell live from print, and a model that uses
them does not carry to a new session.

Model choice and thresholds use the training people only (NUAA's nine, plus
any reviewed people given with --reviewed), in two ways:
- C is chosen by a subject- and session-disjoint cross-validation: fit on one
  capture session of two thirds of the people, score the other session of the
  remaining third: the nearest the training list comes to a new site.
- The thresholds and the Platt sigmoid come from leave-one-subject-out scores:
  every person is scored by an SVM fitted without them. Pooled over nine people
  the operating point is far steadier than on two held-out people.
The final SVM is then fitted on every person. The dev split is never read
here (evaluate-antispoof measures on it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from functions.manifests import InputSpec, ModelManifest, sha256_file, write_manifest
from functions.runtime.models import OnnxModel
from functions.steps.antispoof import MODEL_NAME, live_scores, prepare_input

from ..common.metrics import calibrate_thresholds, equal_error_rate, error_rates
from ..common.onnx_export import ParityError, export_onnx
from ..common.paths import RUNS_DIR
from .data import DEFAULT_CACHE, DEFAULT_DATA, ensure_cache, load_reviewed, load_split

LBP_VARIANT = "lbp_svm_face64"
LBP_SCALE = 1.0  # the face box itself
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
SUBJECT_GROUPS = 3  # cross-session folds: people split in thirds


def lbp_spec() -> InputSpec:
    return InputSpec(name="input", height=64, width=64, color="GRAY", layout="NCHW", mean=(0.0,), std=(1.0,))


def face_features(crops: np.ndarray, batch: int = 256) -> np.ndarray:
    """Features of cached face crops through the serving resize and the ONNX graph's own LBP module."""
    import torch

    from .lbp_svm import LBPFeatures

    spec, module, out = lbp_spec(), LBPFeatures(), []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            x = spec.to_tensor([prepare_input(np.asarray(c), spec) for c in crops[i : i + batch]])
            out.append(module(torch.from_numpy(x)).numpy())
    return np.concatenate(out).astype(np.float64)


def session_of(path: str) -> str:
    """NUAA names are <subject>_<glasses>_<position>_<session>_<n>.jpg."""
    return Path(path).name.split("_")[3]


def fit_svm(x: np.ndarray, y: np.ndarray, c: float):
    """Standardise, then an RBF SVM with balanced classes; returns (scaler, svm)."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    scaler = StandardScaler().fit(x)
    return scaler, SVC(C=c, kernel="rbf", class_weight="balanced").fit(scaler.transform(x), y)


def decision(model, x: np.ndarray) -> np.ndarray:
    scaler, svm = model
    return svm.decision_function(scaler.transform(x))


def leave_one_subject_out(x: np.ndarray, y: np.ndarray, subjects: np.ndarray, c: float) -> np.ndarray:
    """Each person's SVM decision values from an SVM fitted on everyone else."""
    out = np.zeros(len(y))
    for s in np.unique(subjects):
        held = subjects == s
        out[held] = decision(fit_svm(x[~held], y[~held], c), x[held])
    return out


def cross_session_eer(x: np.ndarray, y: np.ndarray, subjects: np.ndarray, sessions: np.ndarray, c: float) -> float:
    """Mean EER when fitting on one session of two thirds of the people and scoring the other sessions of the rest
    (folds where either side lacks live faces or attacks are skipped)."""
    people = np.unique(subjects)
    rates = []
    for g in range(SUBJECT_GROUPS):
        held = np.isin(subjects, people[g::SUBJECT_GROUPS])
        for session in np.unique(sessions):
            fit, score = ~held & (sessions == session), held & (sessions != session)
            if len(np.unique(y[fit])) < 2 or len(np.unique(y[score])) < 2:
                continue
            rates.append(equal_error_rate(decision(fit_svm(x[fit], y[fit], c), x[score]), y[score])[0])
    return float(np.mean(rates))


def train_features(data_root: Path, cache_root: Path, reviewed: list[Path] = ()):
    """(features, labels, subjects, sessions, NUAA crops) of every training-split face, then of every reviewed face
    (`export-reviews` folders: more people, in a session of their own)."""
    cache_dir = ensure_cache(data_root, cache_root, splits=("train",), scale=LBP_SCALE)
    train = load_split(cache_dir, "train")
    x, y, subjects = face_features(train.crops), train.labels, train.subjects
    sessions = np.array([session_of(f) for f in train.files])
    for folder in reviewed:
        extra = load_reviewed(folder, LBP_SCALE)
        print(f"{folder}: {int((extra.labels == 1).sum())} live and {int((extra.labels == 0).sum())} attack faces "
              f"of {len(set(extra.subjects))} people")
        if len(extra):
            x, y = np.concatenate([x, face_features(extra.crops)]), np.concatenate([y, extra.labels])
            subjects = np.concatenate([subjects, extra.subjects])
            sessions = np.concatenate([sessions, np.full(len(extra), "reviewed")])
    return x, y, subjects, sessions, train


def provisional_model(run_dir: Path, base: dict) -> OnnxModel:
    """The exported run, loadable by the serving code before its thresholds are known (a placeholder manifest)."""
    write_manifest(run_dir, ModelManifest(**base, thresholds={"live": 0.5, "spoof": 0.5}, extra={"live_class_index": 1}))
    return OnnxModel(run_dir)


def calibration_from_scores(run_dir: Path, scores: np.ndarray, labels: np.ndarray, *, target_rate: float, score: str, data: str) -> dict:
    """The manifest's thresholds, calibration and validation metrics from held-out live scores; the scores are kept beside the run."""
    cal = calibrate_thresholds(scores, labels, target_rate=target_rate)
    np.save(run_dir / "val_scores.npy", np.stack([scores, labels]))
    point = error_rates(scores, labels, cal["operating"])
    return {
        "thresholds": {"live": cal["live"], "spoof": cal["spoof"], "operating": cal["operating"]},
        "calibration": {
            "method": "operating = validation EER threshold; uncertain band between the 1st percentile of live scores "
            "and the 99th percentile of attack scores (whichever order they fall in)",
            "data": data,
            "score": score,
            **cal,
        },
        "metrics": {
            "validation": {"eer": cal["val_eer"], **point.to_dict(), "n_live": int((labels == 1).sum()), "n_attack": int((labels == 0).sum())}
        },
    }


def train_lbp_svm(data_root: Path, cache_root: Path, run_dir: Path, c_grid=C_GRID, c: float | None = None,
                  reviewed: list[Path] = ()) -> Path:
    """Choose C across sessions, calibrate on leave-one-subject-out scores, fit on every person, export one graph."""
    from datetime import datetime, timezone

    from sklearn.linear_model import LogisticRegression

    from .lbp_svm import LBPSVM, LBPFeatures, WithSoftmax

    x, y, subjects, sessions, train = train_features(data_root, cache_root, reviewed=reviewed)
    selection = {k: cross_session_eer(x, y, subjects, sessions, k) for k in c_grid}
    best_c = min(selection, key=lambda k: (round(selection[k], 3), -k))  # on a tie, the larger C: fewer support vectors
    print("cross-session EER by C:", {k: round(v, 4) for k, v in selection.items()}, "-> C =", best_c)
    if c is not None:
        print(f"C = {c} as given (--c), not the cross-session choice")
        best_c = c

    held_out = leave_one_subject_out(x, y, subjects, best_c)
    platt = LogisticRegression(C=1e6).fit(held_out[:, None], y)
    held_out_live = platt.predict_proba(held_out[:, None])[:, 1]
    scaler, svm = fit_svm(x, y, best_c)
    net = LBPSVM(LBPFeatures(), scaler.mean_, scaler.scale_, svm.support_vectors_, svm.dual_coef_[0], float(svm.intercept_[0]),
                 float(svm._gamma), float(platt.coef_[0, 0]), float(platt.intercept_[0])).eval()

    run_dir.mkdir(parents=True, exist_ok=True)
    spec = lbp_spec()
    export_onnx(WithSoftmax(net), run_dir / "model.onnx", input_name=spec.name, input_shape=(spec.channels, spec.height, spec.width),
                output_name="probs")
    version = f"{datetime.now(timezone.utc):%Y.%m.%d}-{run_dir.name}"
    base = dict(name=MODEL_NAME, version=version, file="model.onnx", sha256=sha256_file(run_dir / "model.onnx"), input=spec, outputs=("probs",))
    nuaa_people = sorted(set(train.subjects))
    reviewed_people = len(set(subjects)) - len(nuaa_people)
    people_text = f"NUAA train subjects {nuaa_people[0]}-{nuaa_people[-1]}" + (
        f" and {reviewed_people} reviewed people ({len(y) - len(train)} faces)" if reviewed_people else "")
    fitted = calibration_from_scores(
        run_dir, held_out_live, y, target_rate=0.01,
        score="probability of live: the SVM decision value through a Platt sigmoid fitted on the leave-one-subject-out decisions",
        data=f"leave-one-subject-out over {people_text}: each person scored by an SVM fitted without them ({len(y)} crops)",
    )

    # The served graph must compute what scikit-learn fitted: score every 7th training face both ways.
    sample = np.arange(0, len(train), 7)  # NUAA faces: their crops are at hand
    served = live_scores([np.asarray(train.crops[i]) for i in sample], provisional_model(run_dir, base))
    fitted_live = platt.predict_proba(decision((scaler, svm), x[sample])[:, None])[:, 1]
    parity = float(np.max(np.abs(served - fitted_live)))
    if parity > 1e-3:
        raise ParityError(f"the ONNX graph differs from the fitted SVM by {parity:.2e} in live probability")

    (run_dir / "history.json").write_text(json.dumps([{"epoch": 1, "val_eer": fitted["calibration"]["val_eer"], "cross_session_eer": selection[best_c], "elapsed_s": 0}]))
    manifest = ModelManifest(
        **base,
        **fitted,
        extra={
            "live_class_index": 1,
            "classes": ["spoof", "live"],
            "context_scale": LBP_SCALE,
            "preprocessing": "256x256 context crop of the face box x1 (functions.imaging.face_detection.context_crop), resized to 64x64 "
            "with INTER_AREA, grey (OpenCV RGB2GRAY), values 0..255",
            "training": {
                "variant": run_dir.name,
                "arch": "LBP(8,1) 3x3 blocks + LBP(8,2) + LBP(16,2) uniform histograms (833) -> RBF SVM",
                "head": "svm",
                "C": best_c,
                "C_chosen_by": "given on the command line (--c)" if c is not None else
                "subject- and session-disjoint cross-validation on the training subjects (lowest mean EER)",
                "cross_session_eer_by_C": {str(k): v for k, v in selection.items()},
                "support_vectors": int(svm.support_vectors_.shape[0]),
                "parameters": int(svm.support_vectors_.size + 3 * x.shape[1] + svm.support_vectors_.shape[0]),
                "serving_parity_max_abs": parity,
                "data": "NUAA Photograph Imposter Database, train split (sessions 1-2, subjects 0001-0009), all subjects"
                + (f"; reviewed cases from {', '.join(str(r) for r in reviewed)}: {reviewed_people} people, "
                   f"{len(y) - len(train)} faces" if reviewed_people else ""),
            },
            "license": "Model: same licence as the project code. Fitted on NUAA, academic research data without a redistribution licence; see MODEL_CARD.md.",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    write_manifest(run_dir, manifest)
    print(json.dumps(manifest.thresholds), json.dumps(manifest.metrics), f"parity {parity:.1e}")
    return run_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export train-antispoof", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--runs", type=Path, default=RUNS_DIR / "antispoof")
    parser.add_argument("--c", type=float, default=None, help="SVM C; default: the grid value with the lowest cross-session EER")
    parser.add_argument("--reviewed", type=Path, nargs="*", default=[],
                        help="export-reviews folders: faces whose presentation a reviewer judged join the training people")
    parser.add_argument("--variant", default=LBP_VARIANT, help="run folder name under --runs")
    args = parser.parse_args(argv)
    train_lbp_svm(args.data, args.cache, args.runs / args.variant, c=args.c, reviewed=args.reviewed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
