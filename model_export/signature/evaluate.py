"""`python -m model_export signature export|calibrate|evaluate`: a trained run to ONNX, the writer-dependent decision chosen on
validation writers, and what users get on test writers; `signature ship` takes the run into models/signature/.

Protocol (data.py, trials.py):
- writers are split once per set (`splits.json`): the network learns from
  training writers; every choice (SVM C, score normalisation, rule, fusion
  weights, calibration, LLR, zones) is made on validation writers; figures
  are on test writers only, never used for any choice;
- each writer enrols N_REFERENCES genuine signatures and is questioned with
  their other genuine signatures, their skilled forgeries and other writers'
  genuine signatures (random forgeries);
- captures of the same writers: `scan` (the sets' images), `pad` (every
  image re-drawn as pen-tablet strokes, capture.pad_strokes) and `photo`
  (every image as a phone photo of the page, capture.phone_photo), plus
  `scan->pad` and `scan->photo` (references scanned, questioned on a pad or
  photographed); choices use scans and pads only;
- figures come from the service's own path: preprocessing, ONNX features
  (`signature_features`), writer model (`writer_model_from_features` with the
  shipped background and cohort), score (`normalised_scores`, `raw_score`),
  calibration and zones from the manifest. The same function measures the
  model being replaced (`--before`), so both rows use one protocol.
- pooled figures (one threshold for every writer, as the service runs) lead;
  the mean of per-writer EERs (each writer's own best threshold) is a side column.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from functions.biometrics.signature_preparation import CANVAS_HEIGHT, CANVAS_WIDTH
from functions.biometrics.signature_verification import (
    COHORT,
    COHORT_AND_REFERENCES,
    background_features,
    batch_writer_scores,
    calibrated_score,
    cohort_features,
    normalised_scores,
    raw_score,
    signature_features,
    writer_model_from_features,
    zone,
)
from functions.manifests import InputSpec, ModelManifest, sha256_file, write_manifest
from functions.onnx_models import OnnxModel

from ..common.metrics import det_curve
from ..common.onnx_export import export_onnx, parity
from ..common.paths import RUNS_DIR
from ..common.provenance import not_shipped
from ..common.shipping import METRICS_FILE
from .data import (
    DEFAULT_DATA,
    FOLD_SEED,
    N_FOLDS,
    SETS,
    SPLITS_FILE,
    default_cache,
    development_writers,
    fold_writers,
    load_signatures,
    load_splits,
    load_variant,
    writers_of,
)
from .nets import INPUT_HEIGHT, INPUT_WIDTH, count_parameters, network_from_checkpoint
from .trials import N_REFERENCES, eer, make_trials

GENUINE_EDGE_FAR = 0.01  # skilled forgeries in the genuine zone, validation writers (scans and pads pooled)
GENUINE_EDGE_RANDOM_FAR = 0.001  # random forgeries in the genuine zone, validation writers
FORGED_EDGE_FRR = 0.02  # genuine signatures in the forged zone, validation writers
SVM_CS = (0.01, 0.1, 1.0)
RULES = ("distance_over_spread", "writer_svm", "fusion")
NORMALISATIONS = ("none", COHORT, COHORT_AND_REFERENCES)
CAPTURES = ("scan", "pad", "scan->pad", "photo", "scan->photo")  # references' capture -> questioned capture
KINDS = ("genuine", "skilled", "random")
BACKGROUND_PER_WRITER = 2  # the SVM's negatives: genuine #1 (scan) and #2 (as a pad) of every training writer
COHORT_PER_WRITER = 2  # z-norm cohort: genuine #3 (scan) and #4 (as a pad) of every training writer
LICENSE = ("Weights, background and cohort features derived from academic research data without a redistribution licence: "
           "SigComp2011 Dutch offline signatures (Kaggle sign_data), BHSig260 Bengali and Hindi (Pal et al. 2016; Dey et al. 2017), "
           "CEDAR (Kalera, Srihari, Xu 2004). Research use; no images are shipped; check the terms before production use.")


# ---------------------------------------------------------------- export


def checkpoint(run: Path) -> dict:
    import torch

    return torch.load(run / "best.pt", map_location="cpu")


def input_spec(ckpt: dict) -> InputSpec:
    height, width = ckpt.get("input", (INPUT_HEIGHT, INPUT_WIDTH))
    channels = int(ckpt.get("channels", 1))
    return InputSpec(name="signature", height=int(height), width=int(width), color="GRAY", layout="NCHW",
                     mean=(0.0,) * channels, std=(255.0,) * channels)


def export(run: Path, out_dir: Path) -> float:
    """best.pt to out_dir/model.onnx with a parity check against PyTorch; returns the largest difference."""
    ckpt = checkpoint(run)
    channels = int(ckpt.get("channels", 1))
    net = network_from_checkpoint(ckpt).eval()
    spec = input_spec(ckpt)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.onnx"
    export_onnx(net, path, input_name="signature", input_shape=(channels, spec.height, spec.width), output_name="embedding", dummy_batch=2)
    batch = np.random.default_rng(0).random((4, channels, spec.height, spec.width)).astype(np.float32) ** 8
    return parity(net, path, batch, tolerance=1e-4)


def model_features(model: OnnxModel, canvases: np.ndarray, batch: int = 128) -> np.ndarray:
    """Features as the service computes them (its canvas preparation and ONNX session), in batches."""
    return np.concatenate([signature_features(model, list(canvases[i : i + batch])) for i in range(0, len(canvases), batch)])


# ---------------------------------------------------------------- trials and scores


def first_genuine(data, writers, nth: slice) -> np.ndarray:
    """Indices of the nth genuine signatures of each writer (sorted by file), for the background and the cohort."""
    idx: list[int] = []
    for w in sorted(writers):
        idx += list(np.flatnonzero((data.writers == w) & data.genuine)[nth])
    return np.array(idx, int)


def mixed_capture(scan: np.ndarray, pad: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Features of idx taken alternately from scans and pad renderings (the shipped sets cover both captures)."""
    return np.stack([(scan if k % 2 == 0 else pad)[i] for k, i in enumerate(idx)])


def score_pairs(trials, ref_features: np.ndarray, q_features: np.ndarray, background: np.ndarray, cohort: np.ndarray | None,
                svm_c: float) -> list[dict[str, np.ndarray]]:
    """Per writer, per kind: (distance_over_spread, svm), raw and z-normalised by the cohort, of every questioned signature."""
    out = []
    for t in trials:
        writer = writer_model_from_features(ref_features[t.refs], background, svm_c, cohort=cohort)
        row = {}
        for kind in KINDS:
            idx = getattr(t, kind)
            pairs = batch_writer_scores(q_features[idx], writer) if len(idx) else np.zeros((0, 2))
            row[kind] = pairs
            for norm in (COHORT, COHORT_AND_REFERENCES):
                comparison = {"normalisation": norm}
                row[kind + ":" + norm] = np.array([normalised_scores(a, b, writer, comparison) for a, b in pairs]).reshape(-1, 2)
        out.append(row)
    return out


def rule_scores(pairs: list[dict], comparison: dict) -> list[dict[str, np.ndarray]]:
    """One raw score per questioned signature under a comparison (the service's raw_score)."""
    norm = comparison.get("normalisation", "none")
    suffix = "" if norm == "none" else ":" + norm
    return [{k: np.array([raw_score(a, b, comparison) for a, b in row[k + suffix]]) for k in KINDS} for row in pairs]


def pooled(scores: list[dict], kind: str, idx=None) -> np.ndarray:
    rows = scores if idx is None else [scores[i] for i in idx]
    return np.concatenate([r[kind] for r in rows]) if rows else np.zeros(0)


def pooled_eer(scores: list[dict], kind: str, idx=None) -> float:
    return eer(pooled(scores, "genuine", idx), pooled(scores, kind, idx))[0]


# ---------------------------------------------------------------- choices on validation writers


def fit_fusion(pairs_by_capture: list[list[dict]], suffix: str) -> dict:
    """Fusion weights by logistic regression: genuine vs skilled + random, scans and pads pooled, equal class weight."""
    from sklearn.linear_model import LogisticRegression

    x_pos = np.vstack([pooled(p, "genuine" + suffix) for p in pairs_by_capture])
    x_neg = np.vstack([pooled(p, k + suffix) for p in pairs_by_capture for k in ("skilled", "random")])
    x = np.vstack([x_pos, x_neg])
    y = np.r_[np.ones(len(x_pos)), np.zeros(len(x_neg))]
    lr = LogisticRegression(class_weight="balanced", C=100.0).fit(np.c_[-x[:, 0], x[:, 1]], y)
    return {"svm": float(lr.coef_[0, 1]), "distance": float(lr.coef_[0, 0])}


def fit_llr(scores_by_capture: list[list[dict]]) -> dict:
    """llr = a * raw + b: logistic regression of "same writer" with equal priors (genuine half; skilled and random a quarter each)."""
    from sklearn.linear_model import LogisticRegression

    parts = {k: np.concatenate([pooled(s, k) for s in scores_by_capture]) for k in KINDS}
    x = np.r_[parts["genuine"], parts["skilled"], parts["random"]]
    y = np.r_[np.ones(len(parts["genuine"])), np.zeros(len(parts["skilled"]) + len(parts["random"]))]
    w = np.r_[np.full(len(parts["genuine"]), 0.5 / len(parts["genuine"])), np.full(len(parts["skilled"]), 0.25 / len(parts["skilled"])),
              np.full(len(parts["random"]), 0.25 / len(parts["random"]))] * len(x)
    lr = LogisticRegression(C=100.0).fit(x.reshape(-1, 1), y, sample_weight=w)
    return {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def fit_zones(scores_by_capture: list[list[dict]], cal: dict) -> dict:
    """Zone edges on the calibrated score, validation writers, scans and pads pooled:
    `genuine` = lowest score with at most GENUINE_EDGE_FAR of skilled and GENUINE_EDGE_RANDOM_FAR of random forgeries at or above it,
    `forged` = highest score with at most FORGED_EDGE_FRR of genuine signatures below it; `eer` the single cut where FAR(skilled) = FRR."""
    def prob(kind: str) -> np.ndarray:
        raw = np.concatenate([pooled(s, kind) for s in scores_by_capture])
        return np.sort([calibrated_score(float(r), cal) for r in raw])

    g, s, r = prob("genuine"), prob("skilled"), prob("random")

    def edge(impostor: np.ndarray, rate: float) -> float:
        k = int(np.floor(rate * len(impostor)))
        return float(np.nextafter(impostor[len(impostor) - 1 - k], 1.0))

    t_genuine = min(max(edge(s, GENUINE_EDGE_FAR), edge(r, GENUINE_EDGE_RANDOM_FAR)), 1.0)
    t_forged = float(g[int(np.floor(FORGED_EDGE_FRR * len(g)))])
    t_eer = eer(g, s)[1]
    if t_forged > t_genuine:
        t_forged = t_genuine
    return {"genuine": t_genuine, "forged": t_forged, "eer": float(t_eer)}


@dataclass
class CalibrationGroup:
    """Writers scored by one network: its features of every image, the writers' trials, and the background and cohort
    made with that network from writers it was trained on. The fixed split has one group (validation writers);
    folds have one per fold (that fold's writers, scored by the network that did not see them)."""

    features: dict[str, np.ndarray]
    trials: list
    background: np.ndarray
    cohort: np.ndarray


def group_pairs(groups: list[CalibrationGroup], svm_c: float) -> dict[str, list[dict]]:
    """Per capture: every group's per-writer score pairs, one list (writers in group order)."""
    return {cap: [row for g in groups for row in score_pairs(g.trials, g.features[cap], g.features[cap], g.background, g.cohort, svm_c)]
            for cap in ("scan", "pad")}


def choose(groups: list[CalibrationGroup]) -> dict:
    """Every choice of the writer-dependent decision, on writers no network scoring them was trained on:
    lowest pooled skilled EER, scans and pads averaged."""
    search = []
    pairs_cache = {}
    for c in SVM_CS:
        pairs = group_pairs(groups, c)
        pairs_cache[c] = pairs
        for norm in NORMALISATIONS:
            suffix = "" if norm == "none" else ":" + norm
            fusion = fit_fusion(list(pairs.values()), suffix)
            for rule in RULES:
                comparison = {"rule": rule, "fusion": fusion, "normalisation": norm, "svm_c": c}
                scores = {cap: rule_scores(p, comparison) for cap, p in pairs.items()}
                row = {"svm_c": c, "normalisation": norm, "rule": rule, "fusion": fusion}
                for cap, sc in scores.items():
                    row[f"{cap}_skilled"] = pooled_eer(sc, "skilled")
                    row[f"{cap}_random"] = pooled_eer(sc, "random")
                row["key"] = (row["scan_skilled"] + row["pad_skilled"]) / 2
                search.append(row)
    best = min(search, key=lambda r: r["key"])
    comparison = {"rule": best["rule"], "fusion": best["fusion"], "normalisation": best["normalisation"], "svm_c": best["svm_c"]}
    by_capture = {cap: rule_scores(p, comparison) for cap, p in pairs_cache[best["svm_c"]].items()}
    scores = list(by_capture.values())
    llr = fit_llr(scores)
    calibration = {"method": "platt", "a": llr["a"], "b": llr["b"], "llr": llr}
    thresholds = fit_zones(scores, calibration)
    calibrated = {cap: [{k: np.array([calibrated_score(float(r), calibration) for r in row[k]]) for k in KINDS} for row in rows]
                  for cap, rows in by_capture.items()}
    trials = [t for g in groups for t in g.trials]
    return {"comparison": comparison, "calibration": calibration, "thresholds": thresholds, "search": search,
            "calibration_figures": figures(calibrated, trials, thresholds), "calibrated_scores": calibrated}


def same_writer_llr(calibrated: dict[str, list[dict]], data: str) -> dict:
    """The decision's signature LLR (same writer vs skilled forgery, of logit(score)), as `system calibrate` fits it,
    on the calibration writers' scans and pads."""
    from ..system.llr import describe
    from ..system.llr import fit_llr as fit_evidence_llr

    genuine = np.concatenate([pooled(rows, "genuine") for rows in calibrated.values()])
    skilled = np.concatenate([pooled(rows, "skilled") for rows in calibrated.values()])
    cal = fit_evidence_llr(genuine, skilled, "logit")
    return describe(cal, "same writer", data, genuine, skilled)


# ---------------------------------------------------------------- what users get (the service's path, any shipped model)


def deployed_scores(model: OnnxModel, features: dict[str, np.ndarray], trials) -> dict[str, list[dict]]:
    """Per capture, per writer, per kind: the calibrated score the service would give, from the manifest alone."""
    manifest = model.manifest
    comparison = manifest.extra["comparison"]
    background, cohort = background_features(model), cohort_features(model)
    out = {}
    for cap in CAPTURES:
        ref_cap, q_cap = cap.split("->") if "->" in cap else (cap, cap)
        if ref_cap not in features or q_cap not in features:
            continue
        rows = []
        for t in trials:
            writer = writer_model_from_features(features[ref_cap][t.refs], background, float(comparison["svm_c"]), manifest.sha256, cohort)
            row = {}
            for kind in KINDS:
                idx = getattr(t, kind)
                pairs = batch_writer_scores(features[q_cap][idx], writer) if len(idx) else np.zeros((0, 2))
                row[kind] = np.array([calibrated_score(raw_score(*normalised_scores(a, b, writer, comparison), comparison), manifest.calibration)
                                      for a, b in pairs])
            rows.append(row)
        out[cap] = rows
    return out


def figures(scores: dict[str, list[dict]], trials, thresholds: dict) -> dict:
    """Per capture, per set and all: pooled EERs, zone rates per kind, and the per-writer EER side column."""
    out = {}
    for cap, rows in scores.items():
        per_set = {}
        for name in sorted({t.set for t in trials}) + ["all"]:
            idx = [i for i, t in enumerate(trials) if name == "all" or t.set == name]
            zones = {}
            for kind in KINDS:
                labels = [zone(float(p), thresholds) for p in pooled(rows, kind, idx)]
                zones[kind] = {z: float(np.mean([lab == z for lab in labels])) for z in ("genuine", "uncertain", "forged")}
            per_writer = [eer(rows[i]["genuine"], rows[i]["skilled"])[0] for i in idx if len(rows[i]["skilled"]) and len(rows[i]["genuine"])]
            per_set[name] = {"writers": len(idx), "skilled_eer_pooled": pooled_eer(rows, "skilled", idx),
                             "random_eer_pooled": pooled_eer(rows, "random", idx),
                             "skilled_eer_writer_mean": float(np.mean(per_writer)), "skilled_eer_writer_median": float(np.median(per_writer)),
                             "zones": zones,
                             "trials": {k: int(len(pooled(rows, k, idx))) for k in KINDS}}
        out[cap] = per_set
    return out


def measure(model: OnnxModel, data, renderings: dict[str, np.ndarray], trials) -> tuple[dict, dict]:
    """The deployed figures of a shipped model on the given trials (its own preprocessing, features, rule, calibration, zones),
    for the scans and each capture rendering given (canvases aligned with `data`, e.g. {"pad": ..., "photo": ...})."""
    idx = np.unique(np.concatenate([np.r_[t.refs, t.genuine, t.skilled, t.random] for t in trials])).astype(int)
    features = {}
    for name, canvases in {"scan": data.canvases, **renderings}.items():
        f = model_features(model, canvases[idx])
        features[name] = np.zeros((len(data.paths), f.shape[1]))
        features[name][idx] = f
    thresholds = {"genuine": model.manifest.thresholds["genuine"], "forged": model.manifest.thresholds["forged"]}
    scores = deployed_scores(model, features, trials)
    return figures(scores, trials, thresholds), scores


# ---------------------------------------------------------------- report


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def pct_or_dash(row: dict, key: str) -> str:
    return pct(row[key]) if key in row else "-"


def plot_det(curves: dict[str, dict[str, list[dict]]], trials, out: Path) -> None:
    """DET per set: every model (colour) and capture (line), skilled forgeries; random forgeries dotted for scans."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    sets = sorted({t.set for t in trials})
    fig, axes = plt.subplots(1, len(sets), figsize=(4.4 * len(sets), 4.4), squeeze=False)
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5])
    colours = dict(zip(curves, ("tab:grey", "tab:blue", "tab:green", "tab:red")))
    for ax, name in zip(axes[0], sets):
        idx = [i for i, t in enumerate(trials) if t.set == name]
        for model_name, scores in curves.items():
            for cap, kind, style in (("scan", "skilled", "-"), ("pad", "skilled", "--"), ("scan", "random", ":")):
                g, f = pooled(scores[cap], "genuine", idx), pooled(scores[cap], kind, idx)
                _, far, frr = det_curve(np.r_[g, f], np.r_[np.ones(len(g)), np.zeros(len(f))])
                far, frr = np.clip(far, 5e-4, 1), np.clip(frr, 5e-4, 1)
                ax.plot(norm.ppf(far), norm.ppf(frr), style, color=colours[model_name], label=f"{model_name}: {cap}, {kind}")
        ax.set_xticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
        ax.set_yticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
        lim = (norm.ppf(0.0005), norm.ppf(0.6))
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_title(f"{name}: {SETS[name]}, test writers", fontsize=9)
        ax.set_xlabel("false accept rate")
        ax.set_ylabel("false reject rate")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def plot_writers(scores: list[dict], trials, out: Path, title: str) -> None:
    """Each test writer's own skilled-forgery EER per set: the spread a pooled threshold has to cover."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = sorted({t.set for t in trials})
    data = [[eer(scores[i]["genuine"], scores[i]["skilled"])[0] for i, t in enumerate(trials) if t.set == name] for name in sets]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.boxplot(data, showmeans=True)
    rng = np.random.default_rng(0)
    for k, d in enumerate(data, start=1):
        ax.scatter(k + rng.uniform(-0.2, 0.2, len(d)), d, s=8, alpha=0.5)
    ax.set_xticks(range(1, len(sets) + 1), sets, fontsize=8)
    ax.set_ylabel("per-writer skilled EER")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def figures_table(rows: dict[str, dict]) -> list[str]:
    """Markdown rows: model, capture, set, pooled EERs, zones per kind, per-writer side column."""
    lines = ["| model | capture | set | writers | skilled EER (pooled) | random EER (pooled) | genuine: genuine / uncertain / forged zone | "
             "skilled: genuine / uncertain / forged | random in genuine zone | skilled EER per writer (mean, side) |",
             "| --- | --- | --- | ---: | ---: | ---: | --- | --- | ---: | ---: |"]
    for model_name, figs in rows.items():
        for cap, per_set in figs.items():
            for name, r in per_set.items():
                z = r["zones"]
                lines.append(f"| {model_name} | {cap} | {name} | {r['writers']} | {pct(r['skilled_eer_pooled'])} | {pct(r['random_eer_pooled'])} | "
                             f"{pct(z['genuine']['genuine'])} / {pct(z['genuine']['uncertain'])} / {pct(z['genuine']['forged'])} | "
                             f"{pct(z['skilled']['genuine'])} / {pct(z['skilled']['uncertain'])} / {pct(z['skilled']['forged'])} | "
                             f"{pct(z['random']['genuine'])} | {pct(r['skilled_eer_writer_mean'])} |")
    return lines


def write_report(result: dict, out: Path) -> None:
    chosen = result["chosen"]
    c = chosen["comparison"]
    t = chosen["thresholds"]
    history = result["history"]
    lines = [
        "# Signature verification: evaluation report", "",
        f"Generated by `python -m model_export signature evaluate` on {datetime.now(timezone.utc):%Y-%m-%d} for model `{result['version']}`.", "",
        "## Protocol", "",
        *(["- Writers split once per set (`model_export/signature/splits.json`, seed 2026); the test writers are never used for any choice.",
           f"  The other (development) writers are dealt into {N_FOLDS} writer-disjoint folds (seed {FOLD_SEED}): one network per fold learns",
           "  from the other folds and scores its fold; every choice below is made on these out-of-fold scores of all development writers;",
           "  the shipped network learns from every development writer, the same way (same epochs, last epoch kept)."]
          if chosen.get("protocol") == "folds" else
          ["- Writers split once per set (`model_export/signature/splits.json`, seed 2026): the network learns from training writers;",
           "  every choice below is made on validation writers; every figure is on test writers, never used for any choice."]),
        f"- A trial: {N_REFERENCES} genuine references of a writer (seeded draw) and one questioned signature: another genuine signature",
        "  of theirs, one of their skilled forgeries, or a random forgery (a genuine signature of each other test writer of the same set).",
        "- Captures: `scan` = the sets' images as stored (sign_data raw scans; the others cleaned grey scans); `pad` = every image of the",
        "  same writers redrawn as pen-tablet strokes (centre line at 1-2 px, even darkness, white page; `capture.pad_strokes`),",
        "  references and questioned alike; `photo` = every image as a phone photo of the page (perspective, blur, grey paper, a shadow,",
        "  noise, JPEG; `capture.phone_photo`), never used for any choice; `scan->pad`, `scan->photo` = references scanned, questioned",
        "  signature from a pad or a phone photo.",
        "- Scores from the service's own path: preprocessing, ONNX features, writer model (with the shipped background and cohort),",
        "  score, calibration and the three zones of the manifest. `before` is the model this one replaces, measured the same way.",
        "- Pooled EER: one threshold for every writer, as the service runs. Per-writer EER (each writer's own best threshold) is a side column.",
        "",
        "## Figures on test writers", "",
    ]
    lines += figures_table(result["test"])
    who = "out-of-fold development writers" if chosen.get("protocol") == "folds" else "validation writers"
    lines += ["", f"## Choices on {who}", "",
              f"Chosen: rule `{c['rule']}`, normalisation `{c['normalisation']}`, SVM C = {c['svm_c']:g}"
              + (f", fusion {c['fusion']['svm']:.3f} x svm - {c['fusion']['distance']:.3f} x distance" if c["rule"] == "fusion" else "")
              + f" (lowest pooled skilled EER on {who}, scans and pads averaged).", "",
              f"Calibration (logistic, equal priors; genuine half, skilled and random forgeries a quarter each): llr = {chosen['calibration']['a']:.4f} x raw + "
              f"{chosen['calibration']['b']:.4f}; calibrated score = sigmoid(llr).", "",
              f"Zones on the calibrated score: genuine >= {t['genuine']:.4f} (at most {pct(GENUINE_EDGE_FAR)} of {who}' skilled and "
              f"{pct(GENUINE_EDGE_RANDOM_FAR)} of random forgeries above), forged < {t['forged']:.4f} (at most {pct(FORGED_EDGE_FRR)} of {who}' "
              f"genuine signatures below); single-cut EER point {t['eer']:.4f}.", "",
              "| SVM C | normalisation | rule | scan skilled | pad skilled | scan random | pad random |", "| ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for r in sorted(chosen["search"], key=lambda r: r["key"]):
        lines.append(f"| {r['svm_c']:g} | {r['normalisation']} | {r['rule']} | {pct(r['scan_skilled'])} | {pct(r['pad_skilled'])} | "
                     f"{pct(r['scan_random'])} | {pct(r['pad_random'])} |")
    lines += ["", ("Out-of-fold development writers with the shipped choices (each scored by its fold's network):"
                   if chosen.get("protocol") == "folds" else "Validation writers with the shipped choices (deployed path):"), ""]
    lines += figures_table({"this model": {k: {"all": v["all"]} for k, v in result["val"].items()}})
    lines += ["", "## Training", ""]
    members = list(zip(history["members"], history["member_histories"])) if "members" in history else [("", history)]
    for name, h_run in members:
        if name:
            lines += [f"Member `{Path(name).name}` (stroke width {h_run.get('stroke_width', 0)}, {h_run.get('channels', 1)} channel(s)):", ""]
        lines += ["| epoch | loss | val skilled (pooled, scan) | val skilled (pooled, pad) | val random (pooled) | seconds |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        for h in h_run["history"]:
            lines.append(f"| {h['epoch']} | {h['loss']:.3f} | {pct_or_dash(h, 'val_skilled_pooled')} | {pct_or_dash(h, 'val_pad_skilled_pooled')} | "
                         f"{pct_or_dash(h, 'val_random_pooled')} | {h['epoch_seconds']:.0f} |")
        lines += ["", f"Kept: epoch {h_run['best_epoch']}; {h_run['train_seconds'] / 60:.1f} min on {h_run.get('threads', 1)} thread(s)"
                  + (" (no validation writers: every development writer is in training)." if "val_skilled_pooled" not in h_run["history"][-1] else "."), ""]
    if result.get("fold_histories"):
        lines += ["Fold networks, last epoch (kept), their held-out fold scored by the distance rule without normalisation:", "",
                  "| fold | member | writers trained on | held-out skilled (pooled, scan) | held-out skilled (pooled, pad) | held-out random (pooled) |",
                  "| ---: | --- | ---: | ---: | ---: | ---: |"]
        for fold, members_of_fold in result["fold_histories"]:
            for name, h_run in members_of_fold:
                last = h_run["history"][-1]
                lines.append(f"| {fold} | {name} | {h_run.get('train_writers', '')} | {pct_or_dash(last, 'val_skilled_pooled')} | "
                             f"{pct_or_dash(last, 'val_pad_skilled_pooled')} | {pct_or_dash(last, 'val_random_pooled')} |")
        lines.append("")
    lines += ["",
              "## Figures", "", "- `report/det.png`: DET curves per set on test writers (grey: the model replaced; blue: this one;",
              "  solid: skilled forgeries on scans, dashed: skilled forgeries on pads, dotted: random forgeries on scans).",
              "- `report/writers.png`: each test writer's own skilled EER (scans), per set.", "",
              "![DET](report/det.png)", "", "![writers](report/writers.png)", ""]
    out.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- main


def mirrored(history: dict) -> bool:
    """Whether a run drew its training writers mirrored too (older runs say so only in their arguments)."""
    return bool(history.get("mirror_writers", history.get("args", {}).get("mirror_writers") == "True"))


def write_candidate(out_dir: Path, run: Path, version: str, parity_diff: float, chosen: dict | None, background: np.ndarray | None,
                    cohort: np.ndarray | None, background_info: dict | None, splits_path: Path) -> ModelManifest:
    """The model folder as the service reads it; without `chosen`, a provisional manifest that only serves features."""
    import torch

    ckpt = checkpoint(run)
    history = json.loads((run / "history.json").read_text())
    stroke_width = int(ckpt.get("stroke_width", 0))
    channels = int(ckpt.get("channels", 1))
    canvas_views = {"stroke_width": stroke_width} if stroke_width else {}
    if channels == 2:
        canvas_views["channels"] = ["canvas", "strokes"]
    comparison: dict = {}
    calibration_writers = (chosen or {}).get("calibration_writers", "validation writers")
    if chosen is not None:
        np.savez_compressed(out_dir / "background.npz", features=background.astype(np.float32))
        np.savez_compressed(out_dir / "cohort.npz", features=cohort.astype(np.float32))
        comparison = {"kind": "embedding", **chosen["comparison"],
                      "background": {"file": "background.npz", "sha256": sha256_file(out_dir / "background.npz"), "dim": int(background.shape[1]),
                                     **background_info["background"]},
                      "cohort": {"file": "cohort.npz", "sha256": sha256_file(out_dir / "cohort.npz"), "dim": int(cohort.shape[1]),
                                 **background_info["cohort"]},
                      "min_references": 3, "protocol": chosen.get("protocol", "fixed split"),
                      "chosen_by": f"lowest pooled skilled-forgery EER on {calibration_writers} (scans and pad renderings averaged) among "
                                   "every SVM C, normalisation (none, cohort z-norm, cohort-and-references) and rule (distance_over_spread, writer_svm, fusion)"}
    manifest = ModelManifest(
        name="signature", version=version, file="model.onnx", sha256=sha256_file(out_dir / "model.onnx"), input=input_spec(ckpt),
        outputs=("embedding",),
        thresholds=chosen["thresholds"] if chosen else {"genuine": 1.0, "forged": 0.0, "eer": 0.5},
        calibration=({**{k: v for k, v in chosen["calibration"].items() if k != "llr"}, "zones": {"genuine_edge_skilled_far": GENUINE_EDGE_FAR, "genuine_edge_random_far": GENUINE_EDGE_RANDOM_FAR,
                                                          "forged_edge_frr": FORGED_EDGE_FRR},
                      "data": f"{calibration_writers} of every set, scans and pad renderings, 5 references per trial; "
                              "llr: logistic regression with equal priors (genuine 1/2, skilled 1/4, random 1/4); score = sigmoid(llr)",
                      "llr": chosen["calibration"]["llr"]}  # last, where `system ship` writes it
                     if chosen else {"method": "platt", "a": 1.0, "b": 0.0}),
        metrics={},
        extra={
            "comparison": comparison,
            "canvas": {"height": CANVAS_HEIGHT, "width": CANVAS_WIDTH, "ink": "bright on black", **canvas_views},
            "training": {"architecture": "FeatureEnsemble of SignatureFeatureNet" if "members" in ckpt else "SignatureFeatureNet",
                         "parameters": count_parameters(network_from_checkpoint(ckpt)),
                         "loss": "additive-margin softmax over 2 classes per training writer (genuine; skilled and synthetic forgeries)",
                         "epochs": len(history["history"]), "best_epoch": history["best_epoch"], "train_seconds": history["train_seconds"],
                         "threads": history.get("threads", 1), "torch": torch.__version__, "onnx_parity_max_abs_diff": parity_diff,
                         "captures": history.get("captures", []), "capture_share": history.get("capture_share", 0.0),
                         "synthetic_forgeries": history.get("synthetic_forgeries", 0.0),
                         "mirror_writers": [mirrored(h) for h in history.get("member_histories", [history])],
                         "writer_copies": [int(h.get("writer_copies", 2 if mirrored(h) else 1))
                                           for h in history.get("member_histories", [history])],
                         "sets": history["sets"], "splits_file": "model_export/signature/splits.json",
                         "splits_sha256": hashlib.sha256(splits_path.read_bytes()).hexdigest()},
            "license": LICENSE,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    write_manifest(out_dir, manifest)
    return manifest


def build(data_root: Path, splits: dict, seed: int, folds: bool = False) -> dict:
    """Seeds and the content hashes of the training and calibration writers' images (the manifest's `build`)."""
    from ..common.provenance import data_record
    from .data import SPLIT_SEED, list_files
    from .trials import TRIAL_SEED

    files = list_files(data_root)

    def record(who: str, writers) -> dict:
        wanted = set(writers)
        return data_record(f"{who} images of {', '.join(splits['sets'])} (splits.json), with their capture renderings", data_root,
                           [path for _, writer, _, path in files if writer in wanted])

    seeds = {"training": seed, "writer_splits": SPLIT_SEED, "trials": TRIAL_SEED}
    if folds:
        data = {"training": record("development (train + validation) writers'", development_writers(splits)),
                "calibration": record(f"the same writers', out of fold ({N_FOLDS} writer-disjoint folds)", development_writers(splits))}
        seeds["folds"] = FOLD_SEED
    else:
        data = {"training": record("training writers'", writers_of(splits, "train")), "calibration": record("validation writers'", writers_of(splits, "val"))}
    return {"seeds": seeds, "data": data,
            "randomness": "training: the torch seed and batch generator; capture renderings: each image's own seed from its capture and path"}


def common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--splits", type=Path, default=SPLITS_FILE)
    p.add_argument("--run", type=Path, default=RUNS_DIR / "signature")


class Inputs:
    """What calibrate and evaluate both read: scans and their pad renderings, the splits and each part's trials."""

    def __init__(self, args: argparse.Namespace):
        cache = args.cache or default_cache()
        self.data = load_signatures(args.data, cache)
        self.splits = load_splits(args.splits)
        every_writer = sorted(set(self.data.writers.tolist()))
        self.pad_canvases, self.pad_valid = load_variant(args.data, self.data, cache, "pad", every_writer)
        self.photo_canvases, self.photo_valid = load_variant(args.data, self.data, cache, "photo", every_writer)
        self.trials = {part: make_trials(self.data.sets, self.data.writers, self.data.genuine, writers_of(self.splits, part))
                       for part in ("val", "test")}


def export_main(argv: list[str] | None = None) -> int:
    """`python -m model_export signature export --run RUN`: the run's best.pt to model.onnx, checked against PyTorch."""
    p = argparse.ArgumentParser(prog="python -m model_export signature export", description=export_main.__doc__)
    p.add_argument("--run", type=Path, default=RUNS_DIR / "signature")
    args = p.parse_args(argv)
    run = not_shipped(args.run)
    diff = export(run, run)
    (run / "parity.json").write_text(json.dumps({"max_abs_diff": diff}))
    print(f"wrote {run / 'model.onnx'} (largest difference to PyTorch {diff:.2e})")
    return 0


def network_features(run: Path, data, pad_canvases: np.ndarray) -> dict[str, np.ndarray]:
    """Scan and pad features of every image with an exported run's network (provisional manifest: features only)."""
    model = OnnxModel(run)
    return {"scan": model_features(model, data.canvases), "pad": model_features(model, pad_canvases)}


def background_and_cohort(features: dict[str, np.ndarray], data, writers) -> tuple[np.ndarray, np.ndarray, dict]:
    """The SVM background (genuine #1 scanned, #2 as a pad) and the cohort (#3, #4) of the given writers, and what they hold."""
    bg_idx = first_genuine(data, writers, slice(0, BACKGROUND_PER_WRITER))
    cohort_idx = first_genuine(data, writers, slice(BACKGROUND_PER_WRITER, BACKGROUND_PER_WRITER + COHORT_PER_WRITER))
    info = {"background": {"signatures": len(bg_idx), "writers": len(set(data.writers[bg_idx].tolist())), "captures": "scan, pad alternately"},
            "cohort": {"signatures": len(cohort_idx), "writers": len(set(data.writers[cohort_idx].tolist())), "captures": "scan, pad alternately",
                       "disjoint_from_background": True}}
    return mixed_capture(features["scan"], features["pad"], bg_idx), mixed_capture(features["scan"], features["pad"], cohort_idx), info


def exported(run: Path) -> float:
    if not (run / "parity.json").is_file():
        raise SystemExit(f"{run / 'model.onnx'} is not exported: run `signature export --run {run}` first")
    return float(json.loads((run / "parity.json").read_text())["max_abs_diff"])


def calibrate_main(argv: list[str] | None = None) -> int:
    """`python -m model_export signature calibrate --run RUN [--folds F0 F1 F2 F3]`: SVM C, normalisation, rule, fusion,
    calibration and zones, with the background and cohort, into the run's manifest.json, background.npz and cohort.npz.

    Without --folds, the choices are made on the validation writers of splits.json (RUN trained on the training
    writers). With --folds (runs trained with `--fold K`, RUN with `--final`), on the out-of-fold scores of every
    development writer: each fold's writers scored by the network that did not see them, with a background and
    cohort made by that network from its own training writers; RUN's background and cohort come from every
    development writer. The decision's LLR (same writer vs skilled forgery) is fitted on the same scores."""
    p = argparse.ArgumentParser(prog="python -m model_export signature calibrate", description=calibrate_main.__doc__)
    common_args(p)
    p.add_argument("--folds", type=Path, nargs="*", default=None, help="the fold runs (trained with --fold K), exported")
    p.add_argument("--seed", type=int, default=1, help="the seed the run was trained with (recorded, not used)")
    p.add_argument("--version", default=datetime.now(timezone.utc).strftime("%Y.%m.%d") + "-signet-folds")
    args = p.parse_args(argv)
    run = not_shipped(args.run)
    diff = exported(run)
    t0 = time.time()
    inputs = Inputs(args)
    data = inputs.data
    write_candidate(run, run, args.version, diff, None, None, None, None, args.splits)
    features = network_features(run, data, inputs.pad_canvases)
    print(f"features in {time.time() - t0:.0f} s", flush=True)
    # The shipped network's own background and cohort: from the writers it was trained on.
    own_writers = development_writers(inputs.splits) if args.folds else writers_of(inputs.splits, "train")
    background, cohort, info = background_and_cohort(features, data, own_writers)
    if args.folds:
        folds = []
        for fold_run in args.folds:
            fold = json.loads((fold_run / "history.json").read_text()).get("fold")
            if fold is None:
                raise SystemExit(f"{fold_run} was not trained with --fold")
            write_candidate(fold_run, fold_run, f"fold-{fold}", exported(fold_run), None, None, None, None, args.splits)
            held_out = fold_writers(inputs.splits, fold)
            fold_features = network_features(fold_run, data, inputs.pad_canvases)
            fold_background, fold_cohort, _ = background_and_cohort(fold_features, data, sorted(set(development_writers(inputs.splits)) - set(held_out)))
            trials = make_trials(data.sets, data.writers, data.genuine, held_out)
            folds.append((fold, CalibrationGroup(fold_features, trials, fold_background, fold_cohort)))
            print(f"fold {fold}: {len(held_out)} writers scored, {time.time() - t0:.0f} s", flush=True)
        if sorted(f for f, _ in folds) != list(range(N_FOLDS)):
            raise SystemExit(f"expected one run for each of the {N_FOLDS} folds, got folds {sorted(f for f, _ in folds)}")
        groups = [g for _, g in sorted(folds, key=lambda fg: fg[0])]
        protocol = {"protocol": "folds", "folds": N_FOLDS, "fold_runs": [str(r) for r in args.folds],
                    "calibration_writers": f"out-of-fold development writers ({len(own_writers)}, each scored by the fold network that never saw it)"}
    else:
        groups = [CalibrationGroup(features, inputs.trials["val"], background, cohort)]
        protocol = {"protocol": "fixed split", "calibration_writers": f"validation writers ({len(inputs.trials['val'])}, never trained on)"}
    chosen = choose(groups)
    if args.folds:
        chosen["calibration"]["llr"] = same_writer_llr(chosen["calibrated_scores"], protocol["calibration_writers"] +
                                                       ", scans and pad renderings, 5 references per writer: genuine trials against skilled forgeries")
    chosen.pop("calibrated_scores")
    chosen.update(protocol)
    print("chosen", json.dumps({k: v for k, v in chosen.items() if k not in ("search", "calibration_figures")}), flush=True)
    manifest = write_candidate(run, run, args.version, diff, chosen, background, cohort, info, args.splits)
    d = manifest.to_dict()
    d["build"] = build(args.data, inputs.splits, args.seed, folds=bool(args.folds))
    (run / "manifest.json").write_text(json.dumps(d, indent=2) + "\n")
    (run / "chosen.json").write_text(json.dumps(chosen, indent=1, default=float))
    print("thresholds:", manifest.thresholds)
    print("\n".join(figures_table({"calibration writers": chosen["calibration_figures"]})))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m model_export signature evaluate --run RUN [--before DIR]`: the calibrated run on validation and test writers
    through the service's path; REPORT.md, report/ (DET, per-writer EERs, results, metrics) in the run."""
    p = argparse.ArgumentParser(prog="python -m model_export signature evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p)
    p.add_argument("--before", type=Path, default=None, help="folder of the shipped model this one replaces (measured with the same protocol)")
    args = p.parse_args(argv)
    run = not_shipped(args.run)
    if not (run / "chosen.json").is_file():
        raise SystemExit(f"{run} is not calibrated: run `signature calibrate --run {run}` first")
    t0 = time.time()
    inputs = Inputs(args)
    data, pad_canvases, trials = inputs.data, inputs.pad_canvases, inputs.trials
    model = OnnxModel(run)
    version = model.version
    chosen = json.loads((run / "chosen.json").read_text())
    fold_histories = []
    if chosen.get("protocol") == "folds":  # the final network saw every development writer: their out-of-fold figures stand for it
        val_figs = chosen["calibration_figures"]
        for fold_run in map(Path, chosen["fold_runs"]):
            h = json.loads((fold_run / "history.json").read_text())
            members = list(zip(h["members"], h["member_histories"])) if "members" in h else [(fold_run.name, h)]
            fold_histories.append((h.get("fold"), [(Path(name).name, m) for name, m in members]))
    else:
        val_figs, _ = measure(model, data, {"pad": pad_canvases}, trials["val"])
    test_writers = np.isin(data.writers, writers_of(inputs.splits, "test"))
    if (~inputs.photo_valid[test_writers]).mean() > 0.01:
        raise SystemExit("the photo renderings of the test writers are missing from the capture cache (made before they were "
                         "measured): delete its -photo.npz and run again")
    renderings = {"pad": pad_canvases, "photo": inputs.photo_canvases}
    test_figs, test_scores = measure(model, data, renderings, trials["test"])
    result = {"version": version, "chosen": chosen, "val": val_figs, "test": {}, "fold_histories": fold_histories,
              "history": json.loads((run / "history.json").read_text()), "pad_renderings_refused": int((~inputs.pad_valid).sum()),
              "photo_renderings_refused_test": int((~inputs.photo_valid[test_writers]).sum())}
    curves = {}
    if args.before:
        before = OnnxModel(args.before)
        before_figs, before_scores = measure(before, data, renderings, trials["test"])
        result["test"][f"before ({before.version})"] = before_figs
        curves["before"] = before_scores
    result["test"][f"after ({version})"] = test_figs
    curves["after"] = test_scores
    report_dir = run / "report"
    report_dir.mkdir(exist_ok=True)
    plot_det(curves, trials["test"], report_dir / "det.png")
    plot_writers(test_scores["scan"], trials["test"], report_dir / "writers.png", f"{version}: per-writer skilled EER, test writers, scans")
    (report_dir / "results.json").write_text(json.dumps(result, indent=1, default=float))
    # `ship` puts these into the manifest: the test figures at the deployed zones (pooled, per set and capture).
    metrics = {"data": "test writers of every set, never trained on nor used for any choice; 5 references; service path; "
                       "pooled over writers at the manifest's zones; per-writer EER mean as a side figure",
               "per_capture": test_figs}
    (report_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1, default=float) + "\n")
    write_report(result, run / "REPORT.md")
    print("\n".join(figures_table(result["test"])))
    print(f"evaluated in {time.time() - t0:.0f} s")
    return 0
