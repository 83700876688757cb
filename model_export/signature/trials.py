"""Verification trials on a writer set, scored the way serving scores them.

A trial: a writer's `n_refs` enrolled genuine signatures and one questioned
signature, which is another genuine signature of that writer, one of their
skilled forgeries, or a random forgery (another writer's genuine signature).
The questioned signature is compared with each reference; the trial's
distance is the mean of those distances (the serving rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.metrics import roc_curve

from .data import SignatureSet

N_REFERENCES = 5
RANDOM_PER_OTHER_WRITER = 2
TRIAL_SEED = 7


@dataclass(frozen=True)
class Trial:
    writer: str
    refs: tuple[int, ...]
    query: int
    kind: str  # "genuine", "skilled" or "random"


def make_trials(sigset: SignatureSet, n_refs: int = N_REFERENCES, seed: int = TRIAL_SEED) -> list[Trial]:
    rng = np.random.default_rng(seed)
    writers = sorted(set(sigset.writers.tolist()))
    genuine_of = {w: np.flatnonzero((sigset.writers == w) & sigset.genuine) for w in writers}
    forged_of = {w: np.flatnonzero((sigset.writers == w) & ~sigset.genuine) for w in writers}
    refs_of, queries_of = {}, {}
    for w in writers:
        order = rng.permutation(genuine_of[w])
        refs_of[w], queries_of[w] = tuple(int(i) for i in order[:n_refs]), order[n_refs:]
    trials = []
    for w in writers:
        refs = refs_of[w]
        trials += [Trial(w, refs, int(q), "genuine") for q in queries_of[w]]
        trials += [Trial(w, refs, int(q), "skilled") for q in forged_of[w]]
        for other in writers:
            if other != w:
                picks = rng.choice(queries_of[other], size=min(RANDOM_PER_OTHER_WRITER, len(queries_of[other])), replace=False)
                trials += [Trial(w, refs, int(q), "random") for q in picks]
    return trials


def trial_distances(trials: list[Trial], pair_distance: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """(n_trials, n_refs) distances; `pair_distance(query_idx, ref_idx)` returns one distance per pair."""
    q = np.array([t.query for t in trials for _ in t.refs])
    r = np.array([ref for t in trials for ref in t.refs])
    return pair_distance(q, r).reshape(len(trials), -1)


def reference_spread(trials: list[Trial], pair_distance: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Per trial, the mean distance between its references (i < j), as serving computes it."""
    unique = sorted({t.refs for t in trials})
    q = np.array([refs[i] for refs in unique for i in range(len(refs)) for j in range(i + 1, len(refs))])
    r = np.array([refs[j] for refs in unique for i in range(len(refs)) for j in range(i + 1, len(refs))])
    d = pair_distance(q, r)
    n = len(unique[0]) * (len(unique[0]) - 1) // 2
    spread = {refs: float(d[k * n : (k + 1) * n].mean()) for k, refs in enumerate(unique)}
    return np.array([spread[t.refs] for t in trials])


@dataclass
class TrialScores:
    """Scores of every trial (higher = more likely genuine) with their kinds."""

    scores: np.ndarray
    kinds: np.ndarray

    def of(self, kind: str) -> np.ndarray:
        return self.scores[self.kinds == kind]


def eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """Equal error rate and the score threshold where FAR = FRR (accept when score >= threshold)."""
    y = np.r_[np.ones(len(genuine)), np.zeros(len(impostor))]
    s = np.r_[genuine, impostor]
    fpr, tpr, thr = roc_curve(y, s)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    threshold = float(thr[i]) if np.isfinite(thr[i]) else float(np.max(s))  # roc_curve's first threshold is +inf
    return float((fpr[i] + fnr[i]) / 2), threshold


def rates_at(scores: TrialScores, threshold: float) -> dict[str, float]:
    """FRR on genuine trials and FAR on skilled / random forgeries, accepting score >= threshold."""
    return {
        "frr": float(np.mean(scores.of("genuine") < threshold)),
        "far_skilled": float(np.mean(scores.of("skilled") >= threshold)),
        "far_random": float(np.mean(scores.of("random") >= threshold)),
    }
