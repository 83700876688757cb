"""Face matching: embed aligned chips and compare a probe with the enrolled references (a twin network).

Both sides go through the same embedding network (SFace); embeddings are
scaled to unit length and compared by cosine similarity. References arrive as
protected templates (orthonormal projection, permutation, fine quantisation),
which keep inner products and lengths, so the score in the protected space is
the score of the raw embeddings.

Rule with several enrolment samples ("centroid"): the cosine between the probe
and the mean of the references decides. Averaging cancels part of each
sample's noise, and one comparison keeps the false-match rate independent of
how many samples were enrolled (a maximum over samples would raise it). The
scores against each sample are recorded alongside for audit.

Bands (calibrated, in the manifest's `thresholds`): accept at or above
`accept`, send to a person from `review` up to `accept`, reject below `review`.
Beside the band, the score as evidence: the log-likelihood ratio of "same
person" (manifest `calibration.llr`), which the decision sums with the other
checks' evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import BioauthError
from ..manifests import FACE_MODEL, LlrCalibration, llr_calibration
from ..onnx_models import OnnxModel, load_model

MODEL_NAME = FACE_MODEL
RULE = "centroid"
ACCEPT, REVIEW, REJECT = "accept", "review", "reject"


class NoReferences(BioauthError):
    """match_face was given no enrolled reference."""

    code = "no_face_references"
    http_status = 409


@dataclass(frozen=True)
class FaceBands:
    """Score thresholds of the three bands (cosine similarity; higher is more alike)."""

    accept: float
    review: float

    def band(self, score: float) -> str:
        if score >= self.accept:
            return ACCEPT
        if score >= self.review:
            return REVIEW
        return REJECT


@dataclass(frozen=True)
class FaceMatchResult:
    score: float  # cosine between the probe and the mean of the references
    band: str  # accept | review | reject
    bands: FaceBands
    model: str
    model_version: str
    rule: str = RULE
    reference_scores: tuple[float, ...] = field(default_factory=tuple)
    llr: float | None = None  # natural-log likelihood ratio of "same person"; None without a calibration

    @property
    def is_match(self) -> bool:
        return self.band == ACCEPT

    def to_record(self) -> dict:
        return {
            "score": round(self.score, 5),
            "band": self.band,
            "accept_at": self.bands.accept,
            "review_at": self.bands.review,
            "is_match": self.is_match,
            "model": self.model,
            "model_version": self.model_version,
            "rule": self.rule,
            "reference_scores": [round(v, 5) for v in self.reference_scores],
            "llr": None if self.llr is None else round(self.llr, 4),
        }


def face_model(model: OnnxModel | None = None) -> OnnxModel:
    return model if model is not None else load_model(MODEL_NAME)


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def embed_faces(chips: Sequence[np.ndarray], model: OnnxModel | None = None) -> np.ndarray:
    """(N, 128) float32 unit-length embeddings of aligned chips (the network takes one chip per run)."""
    model = face_model(model)
    out = [np.asarray(model.run_images([chip])[0], dtype=np.float64).reshape(-1) for chip in chips]
    return np.stack([unit(e) for e in out]).astype(np.float32)


def embed_face(chip: np.ndarray, model: OnnxModel | None = None) -> np.ndarray:
    """128-d float32 unit-length embedding of one aligned chip (from crop_face)."""
    return embed_faces([chip], model)[0]


def match_face(
    probe: np.ndarray,
    references: Sequence[np.ndarray],
    *,
    bands: FaceBands,
    model: str = MODEL_NAME,
    model_version: str,
    llr: LlrCalibration | None = None,
) -> FaceMatchResult:
    """Compare a probe embedding with the enrolled references (rule: cosine to their mean)."""
    if len(references) == 0:
        raise NoReferences("the subject has no enrolled face reference")
    probe = np.asarray(probe, dtype=np.float64).reshape(-1)
    refs = np.stack([np.asarray(r, dtype=np.float64).reshape(-1) for r in references])
    if refs.shape[1] != probe.shape[0]:
        raise ValueError(f"probe has {probe.shape[0]} values, references have {refs.shape[1]}")
    p = unit(probe)
    score = float(p @ unit(refs.mean(axis=0)))
    each = tuple(float(p @ unit(r)) for r in refs)
    return FaceMatchResult(
        score=score, band=bands.band(score), bands=bands, model=model, model_version=model_version, reference_scores=each,
        llr=None if llr is None else llr.llr(score),
    )


def bands_from_manifest(model: OnnxModel | None = None) -> FaceBands:
    t = face_model(model).manifest.thresholds
    return FaceBands(accept=float(t["accept"]), review=float(t["review"]))


def match_settings(model: OnnxModel | None = None) -> dict:
    """Keyword arguments for match_face from the installed model's manifest."""
    m = face_model(model).manifest
    return {"bands": bands_from_manifest(model), "model": m.name, "model_version": m.version, "llr": llr_calibration(m)}


def template_model(model: OnnxModel) -> str:
    """What a template records of the model that made it: name and version."""
    return f"{model.manifest.name}/{model.manifest.version}"
