"""`python -m model_export signature export|calibrate|evaluate`: a trained run to ONNX, its calibration, its report.

Protocol (data.py, trials.py): the features come from the exported ONNX graph
(checked against PyTorch); the SVM's background is two genuine signatures of
every training writer; on validation writers the SVM's C, the fusion weights,
the rule, the Platt calibration (genuine vs skilled + random forgeries, equal
class weight) and the three-zone thresholds are chosen; every figure is on
test writers. `--cross SET=RUN` adds a run trained without SET, measured on
SET's test writers (its calibration from the other sets' validation writers).

`export` writes the run's model.onnx; `calibrate` keeps the choices made on
validation writers (the run's manifest.json and background.npz); `evaluate`
writes REPORT.md and report/ into the run; `signature ship` takes them into
models/signature/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from functions.biometrics.signature_preparation import CANVAS_HEIGHT, CANVAS_WIDTH, to_network_input
from functions.manifests import InputSpec

from ..common.onnx_export import export_onnx, parity
from ..common.paths import RUNS_DIR
from ..common.provenance import not_shipped
from ..common.shipping import METRICS_FILE
from .data import DEFAULT_DATA, SETS, SPLITS_FILE, load_signatures, load_splits, writers_of
from .nets import INPUT_HEIGHT, INPUT_WIDTH, SignatureFeatureNet, count_parameters
from .trials import N_REFERENCES, make_trials, rule_scores, score_trials, summarise

TARGET_ERROR = 0.02  # band edges: FAR(skilled) at the genuine edge, FRR at the forged edge, on validation writers
BACKGROUND_PER_WRITER = 2
SVM_CS = (0.01, 0.1, 1.0, 10.0)
RULES = ("distance_over_spread", "writer_svm", "fusion")
def input_spec(run: Path) -> InputSpec:
    """The run's input size (older checkpoints: the default), grey, ink / 255."""
    import torch

    height, width = torch.load(run / "best.pt", map_location="cpu").get("input", (INPUT_HEIGHT, INPUT_WIDTH))
    return InputSpec(name="signature", height=int(height), width=int(width), color="GRAY", layout="NCHW", mean=(0.0,), std=(255.0,))
LICENSE = ("Weights and background features derived from academic research data without a redistribution licence: "
           "SigComp2011 Dutch offline signatures (Kaggle sign_data), BHSig260 Bengali and Hindi (Pal et al. 2016; Dey et al. 2017), "
           "CEDAR (Kalera, Srihari, Xu 2004). Research use; no images are shipped; check the terms before production use.")


def export(run: Path) -> tuple[Path, float]:
    import torch

    net = SignatureFeatureNet()
    net.load_state_dict(torch.load(run / "best.pt", map_location="cpu")["net"])
    path = run / "model.onnx"
    spec = input_spec(run)
    export_onnx(net, path, input_name="signature", input_shape=(1, spec.height, spec.width), output_name="embedding", dummy_batch=2)
    batch = np.random.default_rng(0).random((4, 1, spec.height, spec.width)).astype(np.float32) ** 8
    return path, parity(net, path, batch, tolerance=1e-4)


def onnx_features(path: Path, canvases: np.ndarray, spec: InputSpec, batch: int = 256) -> np.ndarray:
    """Features as serving computes them: canvas resized to the input, the input spec's normalisation, onnxruntime."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    out = []
    for i in range(0, len(canvases), batch):
        tensor = spec.to_tensor([to_network_input(c, spec.height, spec.width) for c in canvases[i : i + batch]])
        out.append(session.run(None, {"signature": tensor})[0])
    return np.concatenate(out).astype(np.float64)


def run_features(run: Path, canvases: np.ndarray) -> tuple[np.ndarray, float]:
    """Export and extract once per checkpoint (cached beside it)."""
    cached = run / "features.npy"
    if cached.is_file() and (run / "model.onnx").is_file() and cached.stat().st_mtime > (run / "best.pt").stat().st_mtime:
        return np.load(cached), float(json.loads((run / "parity.json").read_text())["max_abs_diff"])
    path, diff = export(run)
    features = onnx_features(path, canvases, input_spec(run))
    np.save(cached, features)
    (run / "parity.json").write_text(json.dumps({"max_abs_diff": diff}))
    return features, diff


def background_indices(data, train_writers) -> np.ndarray:
    """The SVM's negatives: the first genuine signatures of every training writer (never a validation or test writer)."""
    idx: list[int] = []
    for w in sorted(train_writers):
        idx += list(np.flatnonzero((data.writers == w) & data.genuine)[:BACKGROUND_PER_WRITER])
    return np.array(idx)


def platt(scores: np.ndarray, genuine: np.ndarray) -> dict:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(class_weight="balanced", C=100.0).fit(scores.reshape(-1, 1), genuine.astype(int))
    return {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))


def pooled(scored: list[dict], kind: str, idx=None) -> np.ndarray:
    rows = scored if idx is None else [scored[i] for i in idx]
    return np.concatenate([r[kind] for r in rows])


def fit_thresholds(val: list[dict], cal: dict) -> dict:
    """Band edges on validation writers: `genuine` = lowest score with FAR(skilled) <= TARGET_ERROR,
    `forged` = highest score with FRR <= TARGET_ERROR; `eer` where FAR(skilled) = FRR (collapsed band if they cross)."""
    from .trials import eer

    g = np.sort(sigmoid(cal["a"] * pooled(val, "genuine") + cal["b"]))
    s = np.sort(sigmoid(cal["a"] * pooled(val, "skilled") + cal["b"]))
    _, t_eer = eer(g, s)
    k = int(np.floor(TARGET_ERROR * len(s)))
    t_genuine = float(np.nextafter(s[len(s) - 1 - k], 1.0))
    t_forged = float(g[int(np.floor(TARGET_ERROR * len(g)))])
    if t_forged > t_genuine:
        t_forged = t_genuine = t_eer
    return {"genuine": min(t_genuine, 1.0), "forged": t_forged, "eer": t_eer}


def zone_rates(test: list[dict], idx, cal: dict, thr: dict) -> dict:
    out = {}
    for kind in ("genuine", "skilled", "random"):
        p = sigmoid(cal["a"] * pooled(test, kind, idx) + cal["b"])
        out[kind] = {"genuine": float(np.mean(p >= thr["genuine"])), "uncertain": float(np.mean((p >= thr["forged"]) & (p < thr["genuine"]))),
                     "forged": float(np.mean(p < thr["forged"])), "accepted_at_eer_threshold": float(np.mean(p >= thr["eer"]))}
    return out


def evaluate(data, features: np.ndarray, splits: dict, train_sets: list[str], test_sets: list[str]) -> tuple[dict, dict]:
    """Every rule measured; choices on validation writers of `train_sets`, figures on test writers of `test_sets`."""
    from sklearn.linear_model import LogisticRegression

    trials = {"val": make_trials(data.sets, data.writers, data.genuine, writers_of(splits, "val", train_sets)),
              "test": make_trials(data.sets, data.writers, data.genuine, writers_of(splits, "test", test_sets))}
    bg_idx = background_indices(data, writers_of(splits, "train", train_sets))
    background = features[bg_idx]
    search = {}
    for c in SVM_CS:
        sc = rule_scores(score_trials(trials["val"], features, background, c), {"rule": "writer_svm"})
        search[str(c)] = summarise(sc, trials["val"])["all"]["skilled"]["eer_writer_mean"]
    svm_c = float(min(search, key=search.get))
    raw = {part: score_trials(t, features, background, svm_c) for part, t in trials.items()}
    # Fusion weights: logistic regression on validation writers, genuine vs skilled + random, equal class weight.
    x = np.vstack([pooled(raw["val"], k) for k in ("genuine", "skilled", "random")])
    y = np.r_[np.ones(len(pooled(raw["val"], "genuine"))), np.zeros(len(x) - len(pooled(raw["val"], "genuine")))]
    lr = LogisticRegression(class_weight="balanced", C=100.0).fit(np.c_[-x[:, 0], x[:, 1]], y)
    fusion = {"svm": float(lr.coef_[0, 1]), "distance": float(lr.coef_[0, 0])}
    result: dict = {"svm_c": svm_c, "svm_c_search_val_skilled": search, "fusion": fusion, "rules": {},
                    "background": {"signatures": len(bg_idx), "writers": len(set(data.writers[bg_idx].tolist()))},
                    "trials": {part: {k: int(sum(len(getattr(t, k)) for t in ts)) for k in ("genuine", "skilled", "random")} | {"writers": len(ts)}
                               for part, ts in trials.items()}}
    scores = {}
    for rule in RULES:
        comparison = {"rule": rule, "fusion": fusion}
        sc = {part: rule_scores(raw[part], comparison) for part in trials}
        scores[rule] = sc
        val_scores = np.r_[pooled(sc["val"], "genuine"), pooled(sc["val"], "skilled"), pooled(sc["val"], "random")]
        cal = platt(val_scores, np.r_[np.ones(len(pooled(sc["val"], "genuine"))), np.zeros(len(val_scores) - len(pooled(sc["val"], "genuine")))])
        thr = fit_thresholds(sc["val"], cal)
        test = summarise(sc["test"], trials["test"])
        for name in test:
            idx = [i for i, t in enumerate(trials["test"]) if name == "all" or t.set == name]
            test[name]["zones"] = zone_rates(sc["test"], idx, cal, thr)
        by_script = [replace(t, set=splits["sets"][t.set]["script"]) for t in trials["test"]]
        scripts = {k: v for k, v in summarise(sc["test"], by_script).items() if k != "all"}
        result["rules"][rule] = {"calibration": cal, "thresholds": thr, "val": summarise(sc["val"], trials["val"]), "test": test,
                                 "test_by_script": scripts}
    # The rule: lowest pooled skilled-forgery EER on validation writers (the service applies one threshold to everyone).
    result["chosen_rule"] = min(RULES, key=lambda r: result["rules"][r]["val"]["all"]["skilled"]["eer_pooled"])
    return result, {"trials": trials, "scores": scores, "background": background, "background_idx": bg_idx}


def plot_det(scores: dict, trials: list, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    from ..common.metrics import det_curve

    sets = sorted({t.set for t in trials})
    fig, axes = plt.subplots(1, len(sets), figsize=(4.3 * len(sets), 4.2), squeeze=False)
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5])
    for ax, name in zip(axes[0], sets):
        idx = [i for i, t in enumerate(trials) if t.set == name]
        for rule, sc in scores.items():
            for kind, style in (("skilled", "-"), ("random", ":")):
                g, f = pooled(sc["test"], "genuine", idx), pooled(sc["test"], kind, idx)
                _, far, frr = det_curve(np.r_[g, f], np.r_[np.ones(len(g)), np.zeros(len(f))])
                ok = (far > 0) & (frr > 0)
                ax.plot(norm.ppf(far[ok]), norm.ppf(frr[ok]), style, label=f"{rule}, {kind}")
        ax.set_xticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
        ax.set_yticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
        lim = (norm.ppf(0.0005), norm.ppf(0.6))
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_title(f"{name}: {SETS[name]}, test writers")
        ax.set_xlabel("false accept rate")
        ax.set_ylabel("false reject rate")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def plot_writers(scores: dict, trials: list, rule: str, out: Path) -> None:
    """Spread over test writers: each writer's own skilled- and random-forgery EER, per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .trials import eer

    sets = sorted({t.set for t in trials})
    fig, ax = plt.subplots(figsize=(8, 4))
    for j, kind in enumerate(("skilled", "random")):
        data = [[eer(scores[rule]["test"][i]["genuine"], scores[rule]["test"][i][kind])[0] for i, t in enumerate(trials) if t.set == name]
                for name in sets]
        pos = np.arange(len(sets)) * 3 + j
        ax.boxplot(data, positions=pos, widths=0.8, showmeans=True)
        for p, d in zip(pos, data):
            ax.scatter(np.full(len(d), p) + np.random.default_rng(0).uniform(-0.25, 0.25, len(d)), d, s=8, alpha=0.5)
    ax.set_xticks(np.arange(len(sets)) * 3 + 0.5, [f"{s}\n(skilled | random)" for s in sets], fontsize=8)
    ax.set_ylabel("per-writer EER")
    ax.set_title(f"Spread over test writers ({rule}, {N_REFERENCES} references)")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def plot_training(histories: dict[str, dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, h in histories.items():
        e = [r["epoch"] for r in h["history"]]
        ax.plot(e, [r["val_skilled"] for r in h["history"]], "-o", label=f"{name}: skilled")
        ax.plot(e, [r["val_random"] for r in h["history"]], ":o", label=f"{name}: random")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation EER (mean per writer)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def candidate_manifest(run: Path, result: dict, extra: dict, splits_path: Path, parity_diff: float, version: str) -> dict:
    """The run's manifest from the choices made on validation writers; writes the SVM's background beside it."""
    import torch

    from functions.manifests import ModelManifest, sha256_file

    bg = run / "background.npz"
    np.savez_compressed(bg, features=extra["background"].astype(np.float32))
    rule = result["chosen_rule"]
    r = result["rules"][rule]
    history = json.loads((run / "history.json").read_text())
    manifest = ModelManifest(
        name="signature",
        version=version,
        file="model.onnx",
        sha256=sha256_file(run / "model.onnx"),
        input=input_spec(run),
        outputs=("embedding",),
        thresholds=r["thresholds"],
        calibration={"method": "platt", **r["calibration"], "band_target_error": TARGET_ERROR,
                     "data": f"validation writers of every set ({result['trials']['val']['writers']}, never trained on), {N_REFERENCES} references per trial, "
                             "genuine vs skilled + random forgeries, equal class weight"},
        extra={
            "comparison": {"kind": "embedding", "rule": rule, "svm_c": result["svm_c"], "fusion": result["fusion"],
                           "background": {"file": bg.name, "sha256": sha256_file(bg), "dim": int(extra["background"].shape[1]), **result["background"]},
                           "min_references": 3,
                           "chosen_by": "lowest pooled skilled-forgery EER on validation writers among distance_over_spread, writer_svm, fusion"},
            "canvas": {"height": CANVAS_HEIGHT, "width": CANVAS_WIDTH, "ink": "bright on black"},
            "training": {"architecture": "SignatureFeatureNet", "parameters": count_parameters(SignatureFeatureNet()),
                         "loss": "additive-margin softmax over 2 classes per training writer (genuine, skilled forgeries)",
                         "epochs": len(history["history"]), "best_epoch": history["best_epoch"], "train_seconds": history["train_seconds"],
                         "threads": history.get("threads", 2), "torch": torch.__version__, "onnx_parity_max_abs_diff": parity_diff,
                         "sets": history["sets"], "splits_file": "model_export/signature/splits.json",
                         "splits_sha256": hashlib.sha256(splits_path.read_bytes()).hexdigest()},
            "license": LICENSE,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    return manifest.to_dict()


def test_metrics(result: dict) -> dict:
    """The manifest's `metrics`: the chosen rule on test writers."""
    r = result["rules"][result["chosen_rule"]]
    return {"data": f"test writers of every set ({result['trials']['test']['writers']}), never trained on nor used for any choice; "
                    f"{N_REFERENCES} references per writer; EER per writer (own threshold) averaged, and pooled (one threshold)",
            "per_set": {name: {k: v for k, v in row.items() if k != "zones"} | {"three_zones": row["zones"]} for name, row in r["test"].items()},
            "trials": result["trials"]["test"]}


def build(data_root: Path, splits: dict, seed: int) -> dict:
    """Seeds and the content hashes of the training and validation writers' images (the manifest's `build`)."""
    from ..common.provenance import data_record
    from .data import SPLIT_SEED, list_files
    from .trials import TRIAL_SEED

    files = list_files(data_root)
    data = {role: data_record(f"{who} writers' images of {', '.join(splits['sets'])} (splits.json)", data_root,
                              [path for _, writer, _, path in files if writer in set(writers_of(splits, part))])
            for role, part, who in (("training", "train", "training"), ("calibration", "val", "validation"))}
    return {"seeds": {"training": seed, "writer_splits": SPLIT_SEED, "trials": TRIAL_SEED}, "data": data}


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def write_report(report: dict, manifest: dict | None, run: Path, out: Path) -> None:
    """REPORT.md from the measured results: protocol, per-set tables for every rule, zones, cross-set, training."""
    main = report["main"]
    history = json.loads((run / "history.json").read_text())
    chosen = main["chosen_rule"]
    lines = [
        "# Signature verification: evaluation report",
        "",
        f"Generated by `python -m model_export signature evaluate` on {datetime.now(timezone.utc):%Y-%m-%d}"
        + (f" for model `{manifest['version']}`." if manifest else "."),
        "",
        "## Protocol",
        "",
        "- Data: four sets, each split by writer once (`model_export/signature/splits.json`): the network learns from",
        "  training writers only; the SVM's C, the fusion weights, the rule, the Platt calibration and the thresholds are",
        "  chosen on validation writers; every figure below is on test writers, never used for any choice.",
        f"- A trial: {N_REFERENCES} genuine references of a writer (seeded draw) and one questioned signature: another genuine",
        "  signature of theirs, one of their skilled forgeries, or a random forgery (a genuine signature of every other",
        "  test writer of the same set).",
        "- Features: the exported ONNX graph on canvases made by the service's preprocessing",
        "  (`functions/imaging/signature_preprocessing.py`); scores by the service's own writer model",
        "  (`functions/steps/signature.py`).",
        "- Rules: `distance_over_spread` (mean feature distance to the references over their own mean pairwise distance;",
        f"  the previous model's rule), `writer_svm` (a linear SVM per writer, C = {main['svm_c']:g}, the references against",
        f"  a fixed background of {main['background']['signatures']} genuine signatures of {main['background']['writers']} training writers), and `fusion`",
        f"  ({main['fusion']['svm']:.2f} x svm - {main['fusion']['distance']:.2f} x distance_over_spread, weights from validation writers).",
        "- EER per writer: each writer's own threshold (the usual writer-dependent figure), then the mean over test",
        "  writers; pooled EER: one threshold for everyone, which is what the service applies.",
        "",
        f"## Test writers: EER by set and rule (chosen rule: `{chosen}`, lowest pooled skilled EER on validation writers)",
        "",
        "| rule | set | writers | skilled: mean per writer | median | p90 | worst | pooled | random: mean per writer | pooled |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rule, r in main["rules"].items():
        for name, row in r["test"].items():
            sk, rd = row["skilled"], row["random"]
            lines.append(f"| {rule} | {name} | {row['writers']} | {pct(sk['eer_writer_mean'])} | {pct(sk['eer_writer_median'])} | {pct(sk['eer_writer_p90'])} | "
                         f"{pct(sk['eer_writer_max'])} | {pct(sk['eer_pooled'])} | {pct(rd['eer_writer_mean'])} | {pct(rd['eer_pooled'])} |")
    lines += ["", "By script (Latin = sign_data + CEDAR):", "",
              "| rule | script | writers | skilled: mean per writer | pooled | random: mean per writer | pooled |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for rule, r in main["rules"].items():
        for name, row in r["test_by_script"].items():
            lines.append(f"| {rule} | {name} | {row['writers']} | {pct(row['skilled']['eer_writer_mean'])} | {pct(row['skilled']['eer_pooled'])} | "
                         f"{pct(row['random']['eer_writer_mean'])} | {pct(row['random']['eer_pooled'])} |")
    lines += ["", "Validation writers (where the choices were made), all sets:", "",
              "| rule | skilled: mean per writer | pooled | random: mean per writer | pooled |", "| --- | ---: | ---: | ---: | ---: |"]
    for rule, r in main["rules"].items():
        v = r["val"]["all"]
        lines.append(f"| {rule} | {pct(v['skilled']['eer_writer_mean'])} | {pct(v['skilled']['eer_pooled'])} | {pct(v['random']['eer_writer_mean'])} | {pct(v['random']['eer_pooled'])} |")
    r = main["rules"][chosen]
    t = r["thresholds"]
    lines += ["", f"## Three zones of the shipped rule on test writers (`{chosen}`)", "",
              f"Thresholds on the calibrated score, from validation writers: genuine >= {t['genuine']:.3f} (FAR on skilled forgeries <= {pct(TARGET_ERROR)}),",
              f"forged < {t['forged']:.3f} (FRR <= {pct(TARGET_ERROR)}); single-cut EER threshold {t['eer']:.3f}.", "",
              "| set | questioned | labelled genuine | uncertain (review) | labelled forged | accepted at the EER cut |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for name, row in r["test"].items():
        for kind in ("genuine", "skilled", "random"):
            z = row["zones"][kind]
            lines.append(f"| {name} | {kind} | {pct(z['genuine'])} | {pct(z['uncertain'])} | {pct(z['forged'])} | {pct(z['accepted_at_eer_threshold'])} |")
    if report["cross_set"]:
        lines += ["", "## Cross-set: trained without a set, tested on its test writers", "",
                  "Calibration and choices on the validation writers of the other sets.", "",
                  "| left out | epochs | rule | skilled: mean per writer | pooled | random: mean per writer | pooled | with it in training (same rule) |",
                  "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
        for left_out, cross in report["cross_set"].items():
            for rule, cr in cross["rules"].items():
                row = cr["test"][left_out]
                ref = main["rules"][rule]["test"][left_out]["skilled"]["eer_writer_mean"]
                lines.append(f"| {left_out} | {len(cross['history']['history'])} | {rule} | {pct(row['skilled']['eer_writer_mean'])} | {pct(row['skilled']['eer_pooled'])} | "
                             f"{pct(row['random']['eer_writer_mean'])} | {pct(row['random']['eer_pooled'])} | {pct(ref)} |")
    lines += ["", "## Figures", "", "- `report/det.png`: DET curves per set on test writers (every rule; skilled solid, random dotted).",
              "- `report/writers.png`: each test writer's own EER, per set (the spread over writers).",
              "- `report/training.png`: validation EER per epoch.", "",
              "![DET](report/det.png)", "![writers](report/writers.png)", "![training](report/training.png)", "",
              "## Training", "",
              "| run | sets | epochs (best) | train time | threads |", "| --- | --- | ---: | ---: | ---: |",
              f"| shipped | {', '.join(history['sets'])} | {len(history['history'])} ({history['best_epoch']}) | {history['train_seconds'] / 60:.1f} min | {history.get('threads', 2)} |"]
    for left_out, cross in report["cross_set"].items():
        h = cross["history"]
        lines.append(f"| without {left_out} | {', '.join(h['sets'])} | {len(h['history'])} ({h['best_epoch']}) | {h['train_seconds'] / 60:.1f} min | {h.get('threads', 2)} |")
    out.write_text("\n".join(lines) + "\n")


def common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--splits", type=Path, default=SPLITS_FILE)
    p.add_argument("--run", type=Path, default=RUNS_DIR / "signature")


def export_main(argv: list[str] | None = None) -> int:
    """`python -m model_export signature export --run RUN`: the run's best.pt to model.onnx, checked against PyTorch."""
    p = argparse.ArgumentParser(prog="python -m model_export signature export", description=export_main.__doc__)
    p.add_argument("--run", type=Path, default=RUNS_DIR / "signature")
    args = p.parse_args(argv)
    path, diff = export(not_shipped(args.run))
    (args.run / "parity.json").write_text(json.dumps({"max_abs_diff": diff}))
    print(f"wrote {path} (largest difference to PyTorch {diff:.2e})")
    return 0


def calibrate_main(argv: list[str] | None = None) -> int:
    """`python -m model_export signature calibrate --run RUN`: rule, SVM C, fusion, Platt and zones on validation writers into the run's manifest."""
    p = argparse.ArgumentParser(prog="python -m model_export signature calibrate", description=calibrate_main.__doc__)
    common_args(p)
    p.add_argument("--seed", type=int, default=1, help="the seed the run was trained with (recorded, not used)")
    p.add_argument("--version", default=datetime.now(timezone.utc).strftime("%Y.%m.%d") + "-signet-lite")
    args = p.parse_args(argv)
    run = not_shipped(args.run)
    data, splits = load_signatures(args.data, args.cache), load_splits(args.splits)
    features, diff = run_features(run, data.canvases)
    result, extra = evaluate(data, features, splits, list(splits["sets"]), list(splits["sets"]))
    manifest = candidate_manifest(run, result, extra, args.splits, diff, args.version)
    manifest["build"] = build(args.data, splits, args.seed)
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print("chosen rule:", result["chosen_rule"], "svm C:", result["svm_c"], "thresholds:", manifest["thresholds"])
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export signature evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p)
    p.add_argument("--cross", action="append", default=[], help="SET=RUN_DIR: a run trained without SET, measured on SET's test writers")
    args = p.parse_args(argv)
    run = not_shipped(args.run)
    data = load_signatures(args.data, args.cache)
    splits = load_splits(args.splits)
    all_sets = list(splits["sets"])
    t = time.time()
    features, _ = run_features(run, data.canvases)
    result, extra = evaluate(data, features, splits, all_sets, all_sets)
    result["seconds"] = round(time.time() - t, 1)
    report = {"main": result, "cross_set": {}}
    for spec in args.cross:
        left_out, cross_run = spec.split("=", 1)
        cf, _ = run_features(Path(cross_run), data.canvases)
        cross, _ = evaluate(data, cf, splits, [s for s in all_sets if s != left_out], [left_out])
        cross["history"] = json.loads((Path(cross_run) / "history.json").read_text())
        report["cross_set"][left_out] = cross
    report_dir = run / "report"
    report_dir.mkdir(exist_ok=True)
    plot_det(extra["scores"], extra["trials"]["test"], report_dir / "det.png")
    plot_writers(extra["scores"], extra["trials"]["test"], result["chosen_rule"], report_dir / "writers.png")
    histories = {"all sets": json.loads((run / "history.json").read_text())}
    histories.update({f"without {k}": v["history"] for k, v in report["cross_set"].items()})
    plot_training(histories, report_dir / "training.png")
    (report_dir / "results.json").write_text(json.dumps(report, indent=1))
    for rule, r in result["rules"].items():
        for name, row in r["test"].items():
            print(f"{rule:<22}{name:<15}{row['writers']:>4}  skilled {row['skilled']['eer_writer_mean']:.4f} (pooled {row['skilled']['eer_pooled']:.4f})"
                  f"  random {row['random']['eer_writer_mean']:.4f} (pooled {row['random']['eer_pooled']:.4f})")
    print("chosen rule:", result["chosen_rule"], "svm C:", result["svm_c"])
    for left_out, cross in report["cross_set"].items():
        for rule, r in cross["rules"].items():
            row = r["test"][left_out]
            print(f"cross-set without {left_out}: {rule:<22} skilled {row['skilled']['eer_writer_mean']:.4f}  random {row['random']['eer_writer_mean']:.4f}")
    manifest_path = run / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    (report_dir / METRICS_FILE).write_text(json.dumps(test_metrics(result), indent=1) + "\n")
    write_report(report, manifest, run, run / "REPORT.md")
    return 0
