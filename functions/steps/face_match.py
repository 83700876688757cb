"""Face-match step: embed the probe chip and compare it with the enrolled references (a twin network).

Both sides go through the same embedding network; the decision is on the
Euclidean distance between embeddings. References may arrive as protected
templates (orthonormal projection, permutation, fine quantisation): those keep
distances and means, so nothing here assumes raw embeddings or unit norm.

Rule with several enrolment samples ("centroid"): the distance from the probe
to the mean of the references decides. Averaging cancels part of each
sample's noise, and one comparison keeps the false-match rate independent of
how many samples were enrolled (a minimum over samples would raise it). The
distances to each sample are recorded alongside for audit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import BioauthError, StepFailed
from ..imaging.images import load_rgb
from ..runtime.models import OnnxModel, load_model
from ..runtime.step_runner import StepContext, StepOutcome
from ..runtime.subjects import enrolled_subject, load_face_template, protect_probe

MODEL_NAME = "face_embedding"
RULE = "centroid"


class NoReferences(BioauthError):
    """match_face was given no enrolled reference."""

    code = "no_face_references"
    http_status = 409


@dataclass(frozen=True)
class FaceMatchResult:
    distance: float  # probe to the mean of the references
    similarity: float  # calibrated, in [0, 1]; 0.5 at the threshold
    threshold: float
    is_match: bool
    model_version: str
    rule: str = RULE
    reference_distances: tuple[float, ...] = field(default_factory=tuple)
    strict_threshold: float | None = None
    # "strong" below the strict threshold, "weak" between it and the threshold, "no_match" beyond
    band: str = ""

    def to_record(self) -> dict:
        return {
            "distance": round(self.distance, 5),
            "similarity": round(self.similarity, 5),
            "threshold": self.threshold,
            "is_match": self.is_match,
            "model_version": self.model_version,
            "rule": self.rule,
            "reference_distances": [round(d, 5) for d in self.reference_distances],
            "strict_threshold": self.strict_threshold,
            "band": self.band,
        }


def face_model(model: OnnxModel | None = None) -> OnnxModel:
    return model if model is not None else load_model(MODEL_NAME)


def embed_faces(chips: Sequence[np.ndarray], model: OnnxModel | None = None) -> np.ndarray:
    """(N, 128) float32 embeddings of aligned chips, in one batch."""
    model = face_model(model)
    return np.asarray(model.run_images(list(chips))[0], dtype=np.float32)


def embed_face(chip: np.ndarray, model: OnnxModel | None = None) -> np.ndarray:
    """128-d float32 embedding of one aligned chip (from crop_face)."""
    return embed_faces([chip], model)[0]


def similarity_from_distance(distance: float, *, threshold: float, slope: float) -> float:
    """Calibrated similarity: 1 / (1 + exp(slope * (distance - threshold)))."""
    z = slope * (distance - threshold)
    if z > 50:
        return 0.0
    return 1.0 / (1.0 + math.exp(z))


def match_face(
    probe: np.ndarray,
    references: Sequence[np.ndarray],
    *,
    threshold: float,
    model_version: str,
    similarity_slope: float = 12.0,
    strict_threshold: float | None = None,
) -> FaceMatchResult:
    """Compare a probe embedding with the enrolled references (rule: distance to their mean).

    `threshold`, `strict_threshold` and `similarity_slope` come from the
    face_embedding manifest (`thresholds.distance`, `thresholds.distance_strict`,
    `calibration.similarity.slope`); see match_settings(). `is_match` uses
    `threshold`; `band` also places the distance against the strict threshold,
    which keeps the false-match rate low on populations where the network's
    impostor distances run short (see the model card): accept only "strong".
    """
    if len(references) == 0:
        raise NoReferences("the subject has no enrolled face reference")
    probe = np.asarray(probe, dtype=np.float64).reshape(-1)
    refs = np.stack([np.asarray(r, dtype=np.float64).reshape(-1) for r in references])
    if refs.shape[1] != probe.shape[0]:
        raise ValueError(f"probe has {probe.shape[0]} values, references have {refs.shape[1]}")
    distance = float(np.linalg.norm(probe - refs.mean(axis=0)))
    each = tuple(float(d) for d in np.linalg.norm(refs - probe, axis=1))
    if distance >= threshold:
        band = "no_match"
    elif strict_threshold is not None and distance >= strict_threshold:
        band = "weak"
    else:
        band = "strong"
    return FaceMatchResult(
        distance=distance,
        similarity=similarity_from_distance(distance, threshold=threshold, slope=similarity_slope),
        threshold=float(threshold),
        is_match=distance < threshold,
        model_version=model_version,
        reference_distances=each,
        strict_threshold=None if strict_threshold is None else float(strict_threshold),
        band=band,
    )


def match_settings(model: OnnxModel | None = None) -> dict:
    """Keyword arguments for match_face from the installed model's manifest."""
    m = face_model(model).manifest
    return {
        "threshold": m.thresholds["distance"],
        "strict_threshold": m.thresholds.get("distance_strict"),
        "model_version": m.version,
        "similarity_slope": float(m.calibration.get("similarity", {}).get("slope", 12.0)),
    }


# --- the queue step -------------------------------------------------------------------------


def face_match_step(ctx: StepContext) -> StepOutcome:
    """Embed the probe chip, protect it with the subject's token, compare it in the protected space."""
    services = ctx.services
    model = load_model(MODEL_NAME, services.settings.models_dir)
    subject = enrolled_subject(services, ctx.record["subject_id"])
    template = load_face_template(subject, services)
    if template.model_version != model.version:
        raise StepFailed(
            f"the template was made with face model {template.model_version}, the service runs {model.version}: re-enrol",
            code="reenrolment_required",
        )
    chip = load_rgb(services.blobs.get(ctx.result_of("face-crop")["crops"]["chip"]))
    probe = protect_probe(embed_face(chip, model), template, services)
    result = match_face(probe, template.references, **match_settings(model))
    return StepOutcome(result=result.to_record(), next_step="signature")
