"""Signature step: is the questioned signature a genuine one by the enrolled subject?

Enrolment keeps the subject's reference signatures as preprocessed canvases
(`prepare_reference`), which do not depend on any network, so a model upgrade
does not need a new enrolment. Storage uses `encode_references` /
`decode_references` (one compressed npz).

Verification (`verify_signature`) compares the questioned signature with every
reference through the `signature` ONNX model and turns the distances into a
calibrated score:

- each comparison gives a distance: between the two embeddings (twin network)
  or one minus the pair network's genuine probability;
- the rule (named in the manifest, chosen on validation writers): the mean
  distance to all references (steadier than the minimum, which one unusual
  reference can swing), optionally divided by the references' own spread, so
  a writer who varies a lot is not judged like a very steady one;
- score = sigmoid(a * distance + b), with a and b fitted on validation
  writers (Platt scaling, equal weight to genuine and forged): higher means
  more likely genuine;
- three zones from thresholds calibrated on validation writers and stored in
  the manifest: score >= `genuine` -> genuine, score < `forged` -> forged,
  in between -> uncertain (sent to human review).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import BioauthError
from ..imaging.images import load_rgb
from ..imaging.signature_preprocessing import (
    CANVAS_HEIGHT,
    CANVAS_WIDTH,
    SignatureImageError,
    prepare_signature,
    to_network_input,
)
from ..runtime.models import OnnxModel, load_model
from ..runtime.step_runner import StepContext, StepOutcome
from ..runtime.subjects import enrolled_subject, load_signature_references

MODEL_NAME = "signature"
MIN_REFERENCES = 3
RULE = "mean"

GENUINE, FORGED, UNCERTAIN = "genuine", "forged", "uncertain"


class SignatureReferenceError(BioauthError):
    """The stored references cannot be used (too few, or not canvases made by prepare_reference)."""

    code = "invalid_signature_references"
    http_status = 422


@dataclass(frozen=True)
class SignatureResult:
    label: str  # "genuine" | "forged" | "uncertain"
    score: float  # calibrated, 0..1, higher = more likely genuine
    thresholds: dict[str, float]  # {"genuine": ..., "forged": ...} on the score
    distances: list[float]  # one per reference, in reference order
    distance: float  # the rule's aggregate of `distances`
    rule: str
    model_version: str
    model_sha256: str = ""
    details: dict = field(default_factory=dict)

    def to_record(self) -> dict:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "thresholds": {k: round(v, 4) for k, v in self.thresholds.items()},
            "distances": [round(d, 4) for d in self.distances],
            "distance": round(self.distance, 4),
            "rule": self.rule,
            "model": {"name": MODEL_NAME, "version": self.model_version, "sha256": self.model_sha256},
            **({"details": self.details} if self.details else {}),
        }


# ---------------------------------------------------------------- enrolment


def prepare_reference(image: np.ndarray) -> np.ndarray:
    """An enrolment signature (gray, RGB or RGBA) to the canvas that is stored (uint8, model-independent)."""
    return prepare_signature(image)


def encode_references(references: Sequence[np.ndarray]) -> bytes:
    """Reference canvases to compact bytes for storage (compressed npz; canvases are mostly zeros)."""
    stack = _check_references(references, minimum=1)
    buf = io.BytesIO()
    np.savez_compressed(buf, references=stack, canvas=np.array([CANVAS_HEIGHT, CANVAS_WIDTH]))
    return buf.getvalue()


def decode_references(data: bytes) -> list[np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            stack = npz["references"]
    except Exception as exc:  # corrupt or foreign bytes
        raise SignatureReferenceError(f"stored signature references cannot be read: {exc}") from exc
    _check_references(list(stack), minimum=1)
    return [np.array(c) for c in stack]


def _check_references(references: Sequence[np.ndarray], minimum: int) -> np.ndarray:
    if len(references) < minimum:
        raise SignatureReferenceError(
            f"{len(references)} reference signature(s); at least {minimum} are needed",
            code="not_enough_references",
            details={"references": len(references), "minimum": minimum},
        )
    for i, ref in enumerate(references):
        if ref.dtype != np.uint8 or ref.shape != (CANVAS_HEIGHT, CANVAS_WIDTH):
            raise SignatureReferenceError(
                f"reference {i} is not a prepared signature canvas ({ref.dtype}, {ref.shape}); use prepare_reference()",
                details={"index": i},
            )
    return np.stack(references)


# ---------------------------------------------------------------- comparison


def comparison_kind(model: OnnxModel) -> str:
    """'embedding' (twin network: one image in, embedding out) or 'pair' (two-channel pair in, probability out)."""
    return model.manifest.extra.get("comparison", {}).get("kind", "embedding")


def reference_distances(model: OnnxModel, questioned: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
    """Distance between the questioned canvas and each reference canvas (lower = more alike)."""
    return compare(model, questioned, references, with_spread=False)[0]


def compare(model: OnnxModel, questioned: np.ndarray, references: Sequence[np.ndarray], with_spread: bool = True) -> tuple[np.ndarray, float]:
    """Distances questioned-to-each-reference, and the references' spread (mean distance between them, i < j).

    The spread says how much this writer varies: a loose writer's genuine
    signatures lie further from their references than a steady writer's.
    """
    spec = model.manifest.input
    size = (spec.height, spec.width)
    q = to_network_input(questioned, *size)
    refs = [to_network_input(r, *size) for r in references]
    ij = [(i, j) for i in range(len(refs)) for j in range(i + 1, len(refs))] if with_spread else []
    if comparison_kind(model) == "pair":
        pairs = [np.dstack([q, r]) for r in refs] + [np.dstack([refs[i], refs[j]]) for i, j in ij]
        d = 1.0 - model.run_images(pairs)[0].reshape(-1).astype(np.float64)
        distances, between = d[: len(refs)], d[len(refs) :]
    else:
        emb = model.run_images([q] + refs)[0].astype(np.float64)
        distances = np.linalg.norm(emb[1:] - emb[0], axis=1)
        between = np.array([np.linalg.norm(emb[1 + i] - emb[1 + j]) for i, j in ij])
    spread = float(np.mean(between)) if len(between) else float("nan")
    return distances, spread


_spread_cache: dict[tuple[str, str], float] = {}
_SPREAD_CACHE_SIZE = 1024


def references_spread(model: OnnxModel, references: np.ndarray) -> float:
    """The references' spread, cached per model and reference set: it does not depend on the questioned signature."""
    import hashlib

    key = (model.manifest.sha256, hashlib.sha256(np.ascontiguousarray(references).tobytes()).hexdigest())
    spread = _spread_cache.get(key)
    if spread is None:
        refs = list(references)
        spread = compare(model, refs[0], refs, with_spread=True)[1]
        if len(_spread_cache) >= _SPREAD_CACHE_SIZE:
            _spread_cache.pop(next(iter(_spread_cache)))
        _spread_cache[key] = spread
    return spread


def aggregate_distance(distances: np.ndarray, rule: str = RULE, spread: float | None = None) -> float:
    """One distance for the trial. 'mean' / 'min' of the distances; 'mean_over_spread': the mean
    divided by the references' own spread (a writer-adaptive normalisation)."""
    if rule == "mean":
        return float(np.mean(distances))
    if rule == "min":
        return float(np.min(distances))
    if rule == "mean_over_spread":
        return float(np.mean(distances) / max(float(spread), 1e-3))
    raise ValueError(f"unknown rule {rule!r}")


def calibrated_score(distance: float, calibration: dict) -> float:
    """Platt scaling fitted on validation writers: P(genuine) = sigmoid(a * distance + b)."""
    z = float(calibration["a"]) * distance + float(calibration["b"])
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def zone(score: float, thresholds: dict[str, float]) -> str:
    if score >= thresholds["genuine"]:
        return GENUINE
    if score < thresholds["forged"]:
        return FORGED
    return UNCERTAIN


def verify_signature(questioned_gray_or_rgb: np.ndarray, references: Sequence[np.ndarray], model: OnnxModel | None = None) -> SignatureResult:
    """Compare a signature photo or scan with the subject's stored reference canvases.

    Raises the preprocessing errors (422: blank_image, no_ink, image_too_small)
    for an unusable image, SignatureReferenceError when fewer than
    MIN_REFERENCES references are stored, ModelNotInstalled without a model.
    """
    refs = _check_references(list(references), minimum=MIN_REFERENCES)
    questioned = prepare_signature(questioned_gray_or_rgb)
    model = model or load_model(MODEL_NAME)
    manifest = model.manifest
    rule = manifest.extra.get("comparison", {}).get("rule", RULE)
    distances, _ = compare(model, questioned, list(refs), with_spread=False)
    spread = references_spread(model, refs) if rule == "mean_over_spread" else None
    distance = aggregate_distance(distances, rule, spread)
    score = calibrated_score(distance, manifest.calibration)
    thresholds = {"genuine": manifest.thresholds["genuine"], "forged": manifest.thresholds["forged"]}
    return SignatureResult(
        label=zone(score, thresholds),
        score=score,
        thresholds=thresholds,
        distances=[float(d) for d in distances],
        distance=distance,
        rule=f"{rule} distance to {len(refs)} references",
        model_version=model.version,
        model_sha256=manifest.sha256,
    )


# --- the queue step -------------------------------------------------------------------------


def signature_step(ctx: StepContext) -> StepOutcome:
    """Compare the questioned signature with the subject's references; an unusable image is a reason, not a crash."""
    services = ctx.services
    model = load_model(MODEL_NAME, services.settings.models_dir)
    subject = enrolled_subject(services, ctx.record["subject_id"])
    references = load_signature_references(subject, services)
    try:
        result = verify_signature(load_rgb(ctx.image("signature")), references, model).to_record()
    except SignatureImageError as exc:
        result = {"reason": exc.code, "message": exc.message, "model_version": model.version}
    return StepOutcome(result=result, next_step="decide")
