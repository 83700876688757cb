"""Presentation-attack detection metrics in the ISO/IEC 30107-3 vocabulary, and threshold calibration.

Scores are the probability of live (bona fide). A presentation is classified
as bona fide when its score is at or above the threshold.

- APCER: proportion of attack presentations classified as bona fide.
- BPCER: proportion of bona fide presentations classified as attacks.
- ACER:  (APCER + BPCER) / 2 at one operating point.
- EER:   the rate where APCER and BPCER are equal as the threshold moves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    apcer: float
    bpcer: float

    @property
    def acer(self) -> float:
        return (self.apcer + self.bpcer) / 2.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["acer"] = self.acer
        return d


def error_rates(scores: np.ndarray, labels: np.ndarray, threshold: float) -> OperatingPoint:
    """APCER and BPCER when scores >= threshold are accepted as live (label 1 = live, 0 = attack)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    attacks, bona_fide = scores[labels == 0], scores[labels == 1]
    apcer = float(np.mean(attacks >= threshold)) if len(attacks) else 0.0
    bpcer = float(np.mean(bona_fide < threshold)) if len(bona_fide) else 0.0
    return OperatingPoint(float(threshold), apcer, bpcer)


def det_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, APCER, BPCER) over every distinct score, thresholds ascending."""
    scores = np.asarray(scores, dtype=np.float64)
    thresholds = np.unique(np.concatenate([scores, [np.nextafter(scores.max(), np.inf)]]))
    attacks = np.sort(scores[np.asarray(labels) == 0])
    bona_fide = np.sort(scores[np.asarray(labels) == 1])
    apcer = 1.0 - np.searchsorted(attacks, thresholds, side="left") / max(len(attacks), 1)
    bpcer = np.searchsorted(bona_fide, thresholds, side="left") / max(len(bona_fide), 1)
    return thresholds, apcer, bpcer


def equal_error_rate(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(EER, threshold at the EER). Where the curves cross between two thresholds, the mean of the two rates is taken."""
    thresholds, apcer, bpcer = det_curve(scores, labels)
    i = int(np.argmin(np.abs(apcer - bpcer)))
    eer = float((apcer[i] + bpcer[i]) / 2.0)
    # When the classes separate, a whole range of thresholds gives zero error: take its middle.
    zero = np.flatnonzero((apcer == 0) & (bpcer == 0))
    if len(zero):
        lo = thresholds[zero[0] - 1] if zero[0] > 0 else thresholds[zero[0]]
        return 0.0, float((lo + thresholds[zero[-1]]) / 2.0)
    return eer, float(thresholds[i])


def calibrate_thresholds(scores: np.ndarray, labels: np.ndarray, *, target_rate: float = 0.01) -> dict:
    """Operating threshold and the uncertain band, from validation scores.

    The operating threshold is the validation EER threshold. The band runs
    between the score under which `target_rate` of live faces fall and the
    score above which `target_rate` of attacks fall: when the classes overlap
    it covers the overlap, when they separate it covers the gap between them.
    Scores in the band are sent to human review.
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    eer, operating = equal_error_rate(scores, labels)
    live_low = float(np.quantile(scores[labels == 1], target_rate))
    attack_high = float(np.quantile(scores[labels == 0], 1.0 - target_rate))
    spoof_edge = min(live_low, attack_high, operating)
    live_edge = max(live_low, attack_high, operating)
    return {
        "operating": operating,
        "spoof": spoof_edge,
        "live": live_edge,
        "val_eer": eer,
        "target_rate": target_rate,
    }


def three_zone_rates(scores: np.ndarray, labels: np.ndarray, live_edge: float, spoof_edge: float) -> dict:
    """How the three zones treat each class: attacks accepted, live rejected, and how many go to review."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    attacks, bona_fide = scores[labels == 0], scores[labels == 1]
    return {
        "apcer_accepted_as_live": float(np.mean(attacks >= live_edge)) if len(attacks) else 0.0,
        "bpcer_rejected_as_spoof": float(np.mean(bona_fide <= spoof_edge)) if len(bona_fide) else 0.0,
        "attacks_to_review": float(np.mean((attacks > spoof_edge) & (attacks < live_edge))) if len(attacks) else 0.0,
        "live_to_review": float(np.mean((bona_fide > spoof_edge) & (bona_fide < live_edge))) if len(bona_fide) else 0.0,
    }
