"""Face matching: embed aligned chips and compare a probe with the enrolled references (a twin network).

Both sides go through the same embedding networks; embeddings are scaled to
unit length and compared by cosine similarity. The face model's manifest
names the networks whose cosines make the score (`fusion.members`: SFace and
EdgeFace-XS on the same chip); the score is the mean of their cosines, which
separates people better than either network alone (models/face_sface/MODEL_CARD.md).
A manifest without `fusion` scores with SFace alone. References arrive as
protected templates (orthonormal projection, permutation, fine quantisation),
which keep inner products and lengths, so the score in the protected space is
the score of the raw embeddings.

Rule with several enrolment samples ("centroid"): per network, the cosine
between the probe and the mean of the references. Averaging cancels part of each
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
from typing import Mapping, Sequence

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
    score: float  # mean over the networks of the cosine between the probe and the mean of the references
    band: str  # accept | review | reject
    bands: FaceBands
    model: str
    model_version: str
    rule: str = RULE
    reference_scores: tuple[float, ...] = field(default_factory=tuple)  # the first network's cosine to each reference
    llr: float | None = None  # natural-log likelihood ratio of "same person"; None without a calibration
    member_scores: Mapping[str, float] = field(default_factory=dict)  # each network's cosine (probe vs mean of references)

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
            "member_scores": {k: round(v, 5) for k, v in self.member_scores.items()},
        }


def face_model(model: OnnxModel | None = None) -> OnnxModel:
    return model if model is not None else load_model(MODEL_NAME)


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def embed_faces(chips: Sequence[np.ndarray], model: OnnxModel | None = None) -> np.ndarray:
    """(N, d) float32 unit-length embeddings of aligned chips (the network takes one chip per run)."""
    model = face_model(model)
    out = [np.asarray(model.run_images([chip])[0], dtype=np.float64).reshape(-1) for chip in chips]
    return np.stack([unit(e) for e in out]).astype(np.float32)


def embed_face(chip: np.ndarray, model: OnnxModel | None = None) -> np.ndarray:
    """Float32 unit-length embedding of one aligned chip (from crop_face) by one network."""
    return embed_faces([chip], model)[0]


def _cosine_to_centroid(probe: np.ndarray, references: Sequence[np.ndarray]) -> tuple[float, tuple[float, ...]]:
    probe = np.asarray(probe, dtype=np.float64).reshape(-1)
    refs = np.stack([np.asarray(r, dtype=np.float64).reshape(-1) for r in references])
    if refs.shape[1] != probe.shape[0]:
        raise ValueError(f"probe has {probe.shape[0]} values, references have {refs.shape[1]}")
    p = unit(probe)
    return float(p @ unit(refs.mean(axis=0))), tuple(float(p @ unit(r)) for r in refs)


def match_face(
    probe: np.ndarray | Mapping[str, np.ndarray],
    references: Sequence[np.ndarray] | Mapping[str, Sequence[np.ndarray]],
    *,
    bands: FaceBands,
    model: str = MODEL_NAME,
    model_version: str,
    llr: LlrCalibration | None = None,
) -> FaceMatchResult:
    """Compare a probe with the enrolled references (rule: cosine to their mean, averaged over the networks).

    One network: an embedding and a list of references. Several: both keyed by
    network name (the same names on both sides); the score is the mean of the
    networks' cosines.
    """
    probes = dict(probe) if isinstance(probe, Mapping) else {model: probe}
    refs = dict(references) if isinstance(references, Mapping) else {model: references}
    if set(probes) != set(refs):
        raise ValueError(f"the probe has embeddings of {sorted(probes)}, the references of {sorted(refs)}")
    if not probes or any(len(r) == 0 for r in refs.values()):
        raise NoReferences("the subject has no enrolled face reference")
    member_scores, first_each = {}, ()
    for name, embedding in probes.items():
        member_scores[name], each = _cosine_to_centroid(embedding, refs[name])
        first_each = first_each or each
    score = float(np.mean(list(member_scores.values())))
    return FaceMatchResult(
        score=score, band=bands.band(score), bands=bands, model=model, model_version=model_version, reference_scores=first_each,
        llr=None if llr is None else llr.llr(score), member_scores=member_scores if len(member_scores) > 1 else {},
    )


def bands_from_manifest(model: OnnxModel | None = None) -> FaceBands:
    t = face_model(model).manifest.thresholds
    return FaceBands(accept=float(t["accept"]), review=float(t["review"]))


def match_settings(model: OnnxModel | None = None) -> dict:
    """Keyword arguments for match_face from the installed model's manifest."""
    m = face_model(model).manifest
    return {"bands": bands_from_manifest(model), "model": m.name, "model_version": m.version, "llr": llr_calibration(m)}


@dataclass(frozen=True)
class FaceModels:
    """The networks whose cosines make the face score, the face model first (its manifest holds the bands and the LLR)."""

    members: tuple[OnnxModel, ...]

    @property
    def primary(self) -> OnnxModel:
        return self.members[0]

    @property
    def template_model(self) -> str:
        """What a template records of the networks that made it, e.g. "face_sface/1.0.0+face_edgeface/1.0.0"."""
        return "+".join(f"{m.manifest.name}/{m.manifest.version}" for m in self.members)


def member_names(manifest) -> tuple[str, ...]:
    """The networks the face manifest fuses (`fusion.members`), the face model itself when it fuses none."""
    return tuple((manifest.extra.get("fusion") or {}).get("members") or (manifest.name,))


def face_models(models_dir=None, model: OnnxModel | None = None) -> FaceModels:
    """The face model and the networks its manifest fuses, each loaded once per process."""
    primary = face_model(model) if model is not None else load_model(MODEL_NAME, models_dir)
    names = member_names(primary.manifest)
    if names[0] != primary.manifest.name:
        raise ValueError(f"the face manifest's fusion.members must start with {primary.manifest.name}, got {names}")
    return FaceModels((primary, *(load_model(n, models_dir) for n in names[1:])))


def embed_members(chip: np.ndarray, models: FaceModels) -> dict[str, np.ndarray]:
    """Each network's unit-length embedding of one aligned chip, keyed by network name."""
    return {m.manifest.name: embed_face(chip, m) for m in models.members}


def template_model(model: OnnxModel | FaceModels) -> str:
    """What a template records of the model(s) that made it: "<name>/<version>", joined by "+" for a fusion."""
    if isinstance(model, FaceModels):
        return model.template_model
    return f"{model.manifest.name}/{model.manifest.version}"
