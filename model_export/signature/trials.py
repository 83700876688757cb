"""Verification trials per writer, scored with the service's own writer-dependent rules.

For each writer: N_REFERENCES enrolled genuine signatures (a seeded draw),
questioned by every other genuine signature of theirs, every skilled forgery
of them, and a random forgery (one genuine signature of every other writer of
the same set and part).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from functions.biometrics.signature_verification import raw_score, writer_model_from_features, writer_scores

from ..common.metrics import equal_error_rate

N_REFERENCES = 5
TRIAL_SEED = 7
KINDS = ("genuine", "skilled", "random")


@dataclass
class WriterTrials:
    set: str
    writer: str
    refs: np.ndarray  # indices into the signature set
    genuine: np.ndarray
    skilled: np.ndarray
    random: np.ndarray


def make_trials(sets: np.ndarray, writers: np.ndarray, genuine: np.ndarray, writer_list, n_refs: int = N_REFERENCES, seed: int = TRIAL_SEED) -> list[WriterTrials]:
    rng = np.random.default_rng(seed)
    out: dict[str, WriterTrials] = {}
    for w in sorted(writer_list):
        g = np.flatnonzero((writers == w) & genuine)
        order = rng.permutation(g)
        out[w] = WriterTrials(str(sets[g[0]]), w, order[:n_refs], order[n_refs:], np.flatnonzero((writers == w) & ~genuine), np.array([], int))
    for w, t in out.items():
        t.random = np.array([o.genuine[0] for k, o in out.items() if k != w and o.set == t.set and len(o.genuine)], int)
    return list(out.values())


def score_trials(trials: list[WriterTrials], features: np.ndarray, background: np.ndarray | None, svm_c: float = 1.0) -> list[dict]:
    """Per writer, per kind: (distance over spread, SVM decision value) of every questioned signature.

    Without a background (model selection during training) the SVM column is zero.
    """
    out = []
    for t in trials:
        negatives = background if background is not None else -features[t.refs]
        writer = writer_model_from_features(features[t.refs], negatives, svm_c)
        if background is None:
            writer = replace(writer, svm=np.zeros_like(writer.svm))
        row = {}
        for kind in KINDS:
            pairs = [writer_scores(features[i], writer)[1:] for i in getattr(t, kind)]
            row[kind] = np.array(pairs, dtype=np.float64).reshape(-1, 2)
        out.append(row)
    return out


def rule_scores(scored: list[dict[str, np.ndarray]], comparison: dict) -> list[dict[str, np.ndarray]]:
    """The same trials as one score per questioned signature under a rule (the service's raw_score)."""
    return [{k: np.array([raw_score(o, s, comparison) for o, s in v]) for k, v in row.items()} for row in scored]


def eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """Equal error rate and its threshold, accepting score >= threshold."""
    scores = np.r_[genuine, impostor]
    labels = np.r_[np.ones(len(genuine)), np.zeros(len(impostor))]
    return equal_error_rate(scores, labels)


def summarise(scored: list[dict[str, np.ndarray]], trials: list[WriterTrials]) -> dict:
    """Per set and overall, skilled and random: mean per-writer EER (each writer's own threshold), its spread, and the pooled EER."""
    out = {}
    for name in sorted({t.set for t in trials}) + ["all"]:
        idx = [i for i, t in enumerate(trials) if name == "all" or t.set == name]
        row: dict = {"writers": len(idx)}
        for kind in ("skilled", "random"):
            per = np.array([eer(scored[i]["genuine"], scored[i][kind])[0] for i in idx if len(scored[i][kind]) and len(scored[i]["genuine"])])
            pooled = eer(np.concatenate([scored[i]["genuine"] for i in idx]), np.concatenate([scored[i][kind] for i in idx]))[0]
            row[kind] = {"eer_writer_mean": float(per.mean()), "eer_writer_median": float(np.median(per)), "eer_writer_p90": float(np.percentile(per, 90)),
                         "eer_writer_max": float(per.max()), "writers_at_zero": int(np.sum(per == 0)), "eer_pooled": pooled}
        out[name] = row
    return out
