"""Evaluate the trained signature runs on writers never seen in training, calibrate, ship the better one.

    python -m model_export evaluate-signature --data /work/shared/data/signatures/sign_data

For every run in the work folder (`train-signature` output) the exported ONNX
model is scored through ONNX Runtime, with the serving rule and calibration
code from functions/steps/signature.py:

1. validation writers: fit the score calibration (Platt) and the three-zone
   thresholds, and pick the run to ship (lowest validation EER on skilled
   forgeries: the test writers play no part in any choice);
2. test writers: EER, FRR and FAR for skilled and random forgeries at the
   calibrated thresholds, ROC and DET plots.

The chosen run is copied to models/signature/ with its manifest, and the
report is written to models/signature/REPORT.md with plots in report/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.imaging.signature_preprocessing import CANVAS_HEIGHT, CANVAS_WIDTH, to_network_input
from functions.manifests import InputSpec, ModelManifest, sha256_file, write_manifest
from functions.steps.signature import aggregate_distance, calibrated_score, zone

from ..common.paths import MODELS_DIR
from .data import DEFAULT_DATA, DEFAULT_WORK_DIR, SignatureSet, load_signature_set, split_writers
from .trials import N_REFERENCES, TrialScores, eer, make_trials, rates_at, reference_spread, trial_distances

RULES = ("mean", "min", "mean_over_spread")

MODEL_DIR = MODELS_DIR / "signature"
TARGET_ERROR = 0.02  # band edges: FAR(skilled) and FRR on validation writers at most this
VERSION_DATE = dt.date.today().strftime("%Y.%m.%d")


@dataclass
class RunScores:
    """One run's trial distances on validation and test writers."""

    tag: str
    kind: str  # "embedding" | "pair"
    info: dict
    val: np.ndarray  # (n_trials, n_refs)
    val_spread: np.ndarray  # (n_trials,) mean distance between the trial's references
    val_kinds: np.ndarray
    test: np.ndarray
    test_spread: np.ndarray
    test_kinds: np.ndarray


class OnnxComparator:
    """Distances between canvases through one exported model, batched for evaluation."""

    def __init__(self, path: Path, input_size: tuple[int, int]):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0]
        self.kind = "pair" if self.input.shape[1] == 2 else "embedding"
        self.size = input_size

    def _net(self, canvases: np.ndarray) -> np.ndarray:
        return (np.stack([to_network_input(c, *self.size) for c in canvases]).astype(np.float32) / 255.0)

    def distances(self, sigset: SignatureSet, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        if self.kind == "embedding":
            emb = np.concatenate([self.session.run(None, {self.input.name: self._net(sigset.canvases[s : s + 128])[:, None]})[0] for s in range(0, len(sigset.canvases), 128)])
            return np.linalg.norm(emb[q].astype(np.float64) - emb[r], axis=1)
        out = []
        for s in range(0, len(q), 256):
            x = np.stack([self._net(sigset.canvases[q[s : s + 256]]), self._net(sigset.canvases[r[s : s + 256]])], axis=1)
            out.append(1.0 - self.session.run(None, {self.input.name: x})[0].reshape(-1).astype(np.float64))
        return np.concatenate(out)


def score_run(run_dir: Path, val: SignatureSet, test: SignatureSet) -> RunScores:
    info = json.loads((run_dir / "training.json").read_text())
    comp = OnnxComparator(run_dir / "model.onnx", tuple(info["input_size"]))
    val_trials, test_trials = make_trials(val), make_trials(test)
    val_d = lambda q, r: comp.distances(val, q, r)
    test_d = lambda q, r: comp.distances(test, q, r)
    return RunScores(
        tag=run_dir.name,
        kind=comp.kind,
        info=info,
        val=trial_distances(val_trials, val_d),
        val_spread=reference_spread(val_trials, val_d),
        val_kinds=np.array([t.kind for t in val_trials]),
        test=trial_distances(test_trials, test_d),
        test_spread=reference_spread(test_trials, test_d),
        test_kinds=np.array([t.kind for t in test_trials]),
    )


def fit_calibration(distance: np.ndarray, kinds: np.ndarray) -> dict:
    """Platt scaling on validation trials, genuine vs (skilled + random) with equal class weight."""
    from sklearn.linear_model import LogisticRegression

    y = (kinds == "genuine").astype(int)
    lr = LogisticRegression(class_weight="balanced", C=100.0).fit(distance.reshape(-1, 1), y)
    return {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def aggregate(distances: np.ndarray, spread: np.ndarray, rule: str) -> np.ndarray:
    return np.array([aggregate_distance(d, rule, s) for d, s in zip(distances, spread)])


def raw_eer(agg: np.ndarray, kinds: np.ndarray, impostor: str = "skilled") -> float:
    return eer(-agg[kinds == "genuine"], -agg[kinds == impostor])[0]


def calibrated(agg: np.ndarray, kinds: np.ndarray, calibration: dict) -> TrialScores:
    return TrialScores(np.array([calibrated_score(a, calibration) for a in agg]), kinds)


def fit_thresholds(val: TrialScores) -> dict[str, float]:
    """Band edges on validation writers.

    `genuine`: the lowest score at which FAR(skilled) <= TARGET_ERROR;
    `forged`: the highest score at which FRR <= TARGET_ERROR;
    `eer`: where FAR(skilled) = FRR. When the two edges cross, the band
    collapses to the EER threshold (no uncertain zone is needed).
    """
    _, t_eer = eer(val.of("genuine"), val.of("skilled"))
    skilled = np.sort(val.of("skilled"))
    genuine = np.sort(val.of("genuine"))
    k = int(np.floor(TARGET_ERROR * len(skilled)))  # forgeries allowed above the edge
    t_genuine = float(np.nextafter(skilled[len(skilled) - 1 - k], 1.0)) if len(skilled) else 1.0
    k = int(np.floor(TARGET_ERROR * len(genuine)))
    t_forged = float(genuine[k]) if len(genuine) else 0.0
    if t_forged > t_genuine:
        t_forged = t_genuine = t_eer
    return {"genuine": min(t_genuine, 1.0), "forged": t_forged, "eer": t_eer}


def test_metrics(test: TrialScores, thresholds: dict[str, float]) -> dict:
    e_sk, _ = eer(test.of("genuine"), test.of("skilled"))
    e_rd, _ = eer(test.of("genuine"), test.of("random"))
    at_eer = rates_at(test, thresholds["eer"])
    labels = np.array([zone(s, thresholds) for s in test.scores])
    zones = {}
    for kind in ("genuine", "skilled", "random"):
        lab = labels[test.kinds == kind]
        zones[kind] = {z: float(np.mean(lab == z)) for z in ("genuine", "uncertain", "forged")}
    n_g, n_s = len(test.of("genuine")), len(test.of("skilled"))
    accuracy = 1 - (at_eer["frr"] * n_g + at_eer["far_skilled"] * n_s) / (n_g + n_s)
    return {
        "eer_skilled": e_sk,
        "eer_random": e_rd,
        "at_validation_eer_threshold": {**at_eer, "accuracy_genuine_vs_skilled": accuracy},
        "three_zones": zones,
        "trials": {k: int(np.sum(test.kinds == k)) for k in ("genuine", "skilled", "random")},
    }


def summarise(run: RunScores) -> dict:
    # Every rule on both splits (EER needs only the order of the raw distances); the rule is chosen on validation writers.
    rules = {
        rule: {
            "val_eer_skilled": raw_eer(aggregate(run.val, run.val_spread, rule), run.val_kinds),
            "test_eer_skilled": raw_eer(aggregate(run.test, run.test_spread, rule), run.test_kinds),
        }
        for rule in RULES
    }
    rule = min(RULES, key=lambda r: rules[r]["val_eer_skilled"])
    val_agg = aggregate(run.val, run.val_spread, rule)
    calibration = fit_calibration(val_agg, run.val_kinds)
    val_scores = calibrated(val_agg, run.val_kinds, calibration)
    test_scores = calibrated(aggregate(run.test, run.test_spread, rule), run.test_kinds, calibration)
    thresholds = fit_thresholds(val_scores)
    val_eer, _ = eer(val_scores.of("genuine"), val_scores.of("skilled"))
    return {
        "tag": run.tag,
        "kind": run.kind,
        "rule": rule,
        "rules": rules,
        "calibration": calibration,
        "thresholds": thresholds,
        "val_eer_skilled": val_eer,
        "val_eer_random": eer(val_scores.of("genuine"), val_scores.of("random"))[0],
        "test": test_metrics(test_scores, thresholds),
        "val_scores": val_scores,
        "test_scores": test_scores,
    }


# ---------------------------------------------------------------- plots and report


def plot_curves(summaries: list[dict], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm
    from sklearn.metrics import roc_curve

    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for s in summaries:
        sc = s["test_scores"]
        for ax, kind in zip(axes, ("skilled", "random")):
            y = np.r_[np.ones(len(sc.of("genuine"))), np.zeros(len(sc.of(kind)))]
            fpr, tpr, _ = roc_curve(y, np.r_[sc.of("genuine"), sc.of(kind)])
            ax.plot(fpr, tpr, label=f"{s['tag']} (EER {s['test']['eer_' + kind]:.1%})")
    for ax, kind in zip(axes, ("skilled", "random")):
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set(title=f"ROC, test writers: genuine vs {kind} forgeries", xlabel="false acceptance rate", ylabel="true acceptance rate")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "roc.png", dpi=110)
    plt.close(fig)
    files.append("roc.png")

    fig, ax = plt.subplots(figsize=(6, 5.5))
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5])
    for s in summaries:
        sc = s["test_scores"]
        for kind, style in (("skilled", "-"), ("random", "--")):
            y = np.r_[np.ones(len(sc.of("genuine"))), np.zeros(len(sc.of(kind)))]
            fpr, tpr, _ = roc_curve(y, np.r_[sc.of("genuine"), sc.of(kind)])
            far, frr = np.clip(fpr, 1e-4, 1 - 1e-4), np.clip(1 - tpr, 1e-4, 1 - 1e-4)
            ax.plot(norm.ppf(far), norm.ppf(frr), style, label=f"{s['tag']}, {kind}")
    ax.set_xticks(norm.ppf(ticks), [f"{t:.1%}" for t in ticks])
    ax.set_yticks(norm.ppf(ticks), [f"{t:.1%}" for t in ticks])
    ax.set(xlim=norm.ppf([5e-4, 0.8]), ylim=norm.ppf([5e-4, 0.8]), xlabel="false acceptance rate", ylabel="false rejection rate", title="DET, test writers")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "det.png", dpi=110)
    plt.close(fig)
    files.append("det.png")

    fig, axes = plt.subplots(1, len(summaries), figsize=(5.5 * len(summaries), 4), squeeze=False)
    for ax, s in zip(axes[0], summaries):
        sc = s["test_scores"]
        bins = np.linspace(0, 1, 41)
        for kind, color in (("genuine", "tab:green"), ("skilled", "tab:red"), ("random", "tab:grey")):
            ax.hist(sc.of(kind), bins=bins, alpha=0.55, density=True, label=kind, color=color)
        for name, t in s["thresholds"].items():
            if name != "eer":
                ax.axvline(t, color="k", ls="--" if name == "genuine" else ":", lw=1)
        ax.set(title=f"{s['tag']}: calibrated scores, test writers", xlabel="score (higher = genuine)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "scores.png", dpi=110)
    plt.close(fig)
    files.append("scores.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    for s in summaries:
        h = s["info"]["history"]
        ax.plot([e["epoch"] for e in h], [e["val_eer_skilled"] for e in h], label=s["tag"])
    ax.set(xlabel="epoch", ylabel="EER (skilled), validation writers", title="Training progress")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "training.png", dpi=110)
    plt.close(fig)
    files.append("training.png")
    return files


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def write_report(summaries: list[dict], chosen: dict, split, out: Path, data_path: Path) -> None:
    lines = [
        "# Signature verification: evaluation report",
        "",
        f"Generated by `python -m model_export evaluate-signature --data {data_path}` on {dt.date.today().isoformat()}.",
        "",
        "## Protocol",
        "",
        f"- Data: SigComp2011 Dutch offline signatures (Kaggle `sign_data`), 48 writers, split by writer with seed {split['seed']}:",
        f"  {len(split['train'])} training writers, {len(split['val'])} validation writers (calibration, thresholds, model choice),",
        f"  {len(split['test'])} test writers never seen in training or in any choice: {', '.join(split['test'])}.",
        f"- A trial: {N_REFERENCES} enrolled genuine signatures of a writer (drawn with a fixed seed) and one questioned signature:",
        "  another genuine signature of that writer, one of their skilled forgeries, or a random forgery",
        "  (2 genuine signatures of each other writer of the same split).",
        "- Score: the distances to the references combined by a rule chosen on validation writers (below),",
        "  calibrated to 0..1 by Platt scaling on validation writers",
        "  (genuine vs forged, equal class weight). Higher = more likely genuine.",
        f"- Thresholds (validation writers): `genuine` = lowest score with FAR(skilled) <= {pct(TARGET_ERROR)},",
        f"  `forged` = highest score with FRR <= {pct(TARGET_ERROR)}; between them: uncertain (human review);",
        "  `eer` = where FAR(skilled) = FRR on validation writers.",
        "- Preprocessing (both networks, training and serving): functions/imaging/signature_preprocessing.py.",
        "",
        "## Results on test writers",
        "",
        "| run | net | params | augmentation | val EER skilled | test EER skilled | test EER random | FRR | FAR skilled | FAR random | accuracy genuine vs skilled |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in summaries:
        t, at = s["test"], s["test"]["at_validation_eer_threshold"]
        lines.append(
            f"| {s['tag']}{' (shipped)' if s is chosen else ''} | {s['info']['architecture']} | {s['info']['parameters']:,} | {s['info']['augment']} | "
            f"{pct(s['val_eer_skilled'])} | {pct(t['eer_skilled'])} | {pct(t['eer_random'])} | {pct(at['frr'])} | {pct(at['far_skilled'])} | "
            f"{pct(at['far_random'])} | {pct(at['accuracy_genuine_vs_skilled'])} |"
        )
    lines += [
        "",
        "FRR, FAR and accuracy are at the `eer` threshold fixed on validation writers (a single cut, no uncertain band).",
        f"Trials on test writers: {chosen['test']['trials']}.",
        "",
        "### Three zones of the shipped model (test writers)",
        "",
        f"Thresholds on the score: genuine >= {chosen['thresholds']['genuine']:.3f}, forged < {chosen['thresholds']['forged']:.3f}.",
        "",
        "| questioned signature | labelled genuine | uncertain (review) | labelled forged |",
        "| --- | ---: | ---: | ---: |",
    ]
    for kind, z in chosen["test"]["three_zones"].items():
        lines.append(f"| {kind} | {pct(z['genuine'])} | {pct(z['uncertain'])} | {pct(z['forged'])} |")
    lines += [
        "",
        "### Rule: how the distances to the references become one (EER, skilled forgeries)",
        "",
        "`mean` / `min`: of the distances to the references; `mean_over_spread`: the mean divided by the mean",
        "distance between the references themselves (how much this writer varies). Chosen per run on validation writers.",
        "",
        "| run | " + " | ".join(f"val, {r} | test, {r}" for r in RULES) + " | chosen |",
        "| --- | " + " | ".join("---: | ---:" for _ in RULES) + " | --- |",
    ]
    for s in summaries:
        cells = " | ".join(f"{pct(s['rules'][r]['val_eer_skilled'])} | {pct(s['rules'][r]['test_eer_skilled'])}" for r in RULES)
        lines.append(f"| {s['tag']} | {cells} | {s['rule']} |")
    lines += [
        "",
        "## Figures",
        "",
        "- `report/roc.png`: ROC on test writers, skilled and random forgeries, every run.",
        "- `report/det.png`: DET (normal-deviate axes) on test writers.",
        "- `report/scores.png`: calibrated score distributions with the two band edges.",
        "- `report/training.png`: validation EER per epoch.",
        "",
        "![ROC](report/roc.png)",
        "![DET](report/det.png)",
        "![scores](report/scores.png)",
        "",
        "## Training runs",
        "",
        "| run | epochs (best) | optimizer, lr | input | train time | threads |",
        "| --- | --- | --- | --- | ---: | ---: |",
    ]
    for s in summaries:
        i = s["info"]
        lines.append(f"| {s['tag']} | {i['epochs']} ({i['best_epoch']}) | {i['optimizer']}, {i['lr']} | {i['input_size'][0]}x{i['input_size'][1]} | {i['train_seconds'] / 60:.1f} min | {i['threads']} |")
    out.write_text("\n".join(lines) + "\n")


def ship(chosen: dict, run_dir: Path, split: dict, data_path: Path) -> None:
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    target = MODEL_DIR / "model.onnx"
    shutil.copyfile(run_dir / "model.onnx", target)
    info = chosen["info"]
    h, w = info["input_size"]
    pair = chosen["kind"] == "pair"
    t = chosen["test"]
    manifest = ModelManifest(
        name="signature",
        version=f"{VERSION_DATE}-{chosen['tag']}",
        file="model.onnx",
        sha256=sha256_file(target),
        input=InputSpec(name="pair" if pair else "signature", height=h, width=w, color="GRAY", layout="NCHW", mean=(0.0,), std=(255.0,)),
        outputs=("probability",) if pair else ("embedding",),
        thresholds={k: round(v, 6) for k, v in chosen["thresholds"].items()},
        calibration={
            "method": "platt",
            "a": chosen["calibration"]["a"],
            "b": chosen["calibration"]["b"],
            "data": f"validation writers {', '.join(split['val'])} (never trained on), {N_REFERENCES} references per trial, genuine vs skilled + random forgeries, equal class weight",
            "band_target_error": TARGET_ERROR,
        },
        metrics={
            "data": "test writers never seen in training: " + ", ".join(split["test"]),
            "eer_skilled": round(t["eer_skilled"], 4),
            "eer_random": round(t["eer_random"], 4),
            "frr_at_eer_threshold": round(t["at_validation_eer_threshold"]["frr"], 4),
            "far_skilled_at_eer_threshold": round(t["at_validation_eer_threshold"]["far_skilled"], 4),
            "far_random_at_eer_threshold": round(t["at_validation_eer_threshold"]["far_random"], 4),
            "three_zones": {k: {z: round(v, 4) for z, v in zs.items()} for k, zs in t["three_zones"].items()},
            "trials": t["trials"],
        },
        extra={
            "comparison": {
                "kind": chosen["kind"],
                "distance": "1 - probability" if pair else "euclidean between unit embeddings",
                "rule": chosen["rule"],
                "min_references": 3,
            },
            "canvas": {"height": CANVAS_HEIGHT, "width": CANVAS_WIDTH, "ink": "bright on black"},
            "training": {k: info[k] for k in ("architecture", "parameters", "augment", "epochs", "best_epoch", "optimizer", "lr", "seed", "train_seconds")}
            | {"split": split},
            "license": "Weights trained on SigComp2011 Dutch offline signatures (Kaggle sign_data): research data without a redistribution licence.",
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    )
    write_manifest(MODEL_DIR, manifest)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export evaluate-signature", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    p.add_argument("--runs", default=None, help="comma-separated run folders (default: every run in the work folder)")
    p.add_argument("--no-ship", action="store_true", help="write the report only, leave models/signature/model.onnx alone")
    args = p.parse_args(argv)

    data = load_signature_set(args.data)
    split = split_writers(data.writers.tolist())
    val, test = data.subset(split.val), data.subset(split.test)
    tags = args.runs.split(",") if args.runs else sorted(d.name for d in args.work_dir.iterdir() if (d / "training.json").is_file())
    summaries = []
    for tag in tags:
        run = score_run(args.work_dir / tag, val, test)
        s = summarise(run)
        s["info"] = run.info
        summaries.append(s)
        print(f"{tag} (rule {s['rule']}): val EER skilled {s['val_eer_skilled']:.4f}; test EER skilled {s['test']['eer_skilled']:.4f}, random {s['test']['eer_random']:.4f}")
    chosen = min(summaries, key=lambda s: s["val_eer_skilled"])
    print(f"shipping {chosen['tag']} (lowest validation EER on skilled forgeries)")
    report_dir = MODEL_DIR / "report"
    plot_curves(summaries, report_dir)
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    write_report(summaries, chosen, split.to_dict(), MODEL_DIR / "REPORT.md", args.data)
    metrics = {s["tag"]: {k: v for k, v in s.items() if k not in ("val_scores", "test_scores", "info")} for s in summaries}
    (report_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if not args.no_ship:
        ship(chosen, args.work_dir / chosen["tag"], split.to_dict(), args.data)
    return 0
