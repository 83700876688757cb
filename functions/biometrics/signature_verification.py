"""Signature verification: is the questioned signature a genuine one by the enrolled subject?

Two layers, as in writer-independent feature learning for offline signatures:

- the `signature` ONNX network maps a signature canvas to a feature vector
  (L2-normalised). It was trained on hundreds of writers, none of them our
  subjects, so it describes handwriting in general;
- a writer-dependent decision from the subject's own 3-10 references
  (`WriterModel`, built at enrolment and stored encrypted beside the
  references): a linear SVM that separates the subject's reference features
  from a fixed background of other writers' features shipped with the model
  (`writer_svm`), and the mean distance to the references divided by their
  own spread, so a writer who varies a lot is not judged like a steady one
  (`distance_over_spread`). The manifest's `comparison.rule` says which one
  (or which weighted sum, `fusion`) decides; it was chosen on validation
  writers. Every result records both scores.

One threshold must fit every writer, so the two scores can be normalised per
writer (`comparison.normalisation: "cohort"`): at enrolment the writer model
also scores a cohort of other writers' signatures shipped beside the model
(`cohort.npz`, features only) and keeps their mean and spread; a questioned
signature's scores are then read in cohort standard deviations (z-norm), so a
writer whose model scores everybody high does not let everybody in. With
`"cohort_and_references"` the writer's own references are scored too (each
against a writer model of the others, leave-one-out) and a score is read on
the scale from "like the cohort" (0) to "like the writer's own references"
(1), so a steady writer and a varying one share one threshold.

A model whose manifest names a `canvas.stroke_width` sees every canvas with
its strokes redrawn at that width (`normalise_strokes`), so a pad's thin line
and a scanned felt pen are the same input to the network.

The raw score becomes a probability of "genuine" by Platt scaling fitted on
writers the network never saw (out-of-fold development writers, or
validation writers), and a zone from thresholds calibrated on the same
writers: score >= `genuine` -> genuine, score < `forged` -> forged, in
between -> uncertain (sent to human review). Beside the zone, the score as evidence:
the log-likelihood ratio of "same writer" against a skilled forgery (manifest
`calibration.llr`), which the decision sums with the other checks' evidence.

The stored reference canvases do not depend on any network: after a model
upgrade the writer model is rebuilt from them (and cached in the process), so
no subject has to enrol again.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import BioauthError, ModelNotInstalled
from ..manifests import llr_calibration
from ..onnx_models import OnnxModel, load_model
from .signature_preparation import CANVAS_HEIGHT, CANVAS_WIDTH, normalise_strokes, prepare_signature, to_network_input

MODEL_NAME = "signature"
MIN_REFERENCES = 3
DISTANCE_OVER_SPREAD, WRITER_SVM, FUSION = "distance_over_spread", "writer_svm", "fusion"
SVM_NEWTON_STEPS = 30
COHORT = "cohort"  # comparison.normalisation: scores z-normalised by the writer model's scores of a cohort of other writers
COHORT_AND_REFERENCES = "cohort_and_references"  # scores placed between the cohort's mean (0) and the references' own (1)
WRITER_MODEL_FORMAT = 2  # 2: cohort statistics stored; a stored model of another format is rebuilt from the canvases
MIN_COHORT_STD = 1e-3

GENUINE, FORGED, UNCERTAIN = "genuine", "forged", "uncertain"


class SignatureReferenceError(BioauthError):
    """The stored references cannot be used (too few, or not canvases made by prepare_reference)."""

    code = "invalid_signature_references"
    http_status = 422
    other_codes = ("not_enough_references",)


@dataclass(frozen=True)
class SignatureResult:
    label: str  # "genuine" | "forged" | "uncertain"
    score: float  # calibrated, 0..1, higher = more likely genuine
    thresholds: dict[str, float]  # {"genuine": ..., "forged": ...} on the score
    distances: list[float]  # feature distance to each reference, in reference order
    distance: float  # mean of `distances` over the references' own spread
    svm: float  # the writer's SVM decision value (> 0: on the subject's side)
    rule: str
    model_version: str
    model_sha256: str = ""
    details: dict = field(default_factory=dict)
    llr: float | None = None  # natural-log likelihood ratio of "same writer"; None without a calibration

    def to_record(self) -> dict:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "thresholds": {k: round(v, 4) for k, v in self.thresholds.items()},
            "distances": [round(d, 4) for d in self.distances],
            "distance": round(self.distance, 4),
            "svm": round(self.svm, 4),
            "rule": self.rule,
            "model": {"name": MODEL_NAME, "version": self.model_version, "sha256": self.model_sha256},
            "llr": None if self.llr is None else round(self.llr, 4),
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


# ---------------------------------------------------------------- writer model


@dataclass(frozen=True)
class WriterModel:
    """What the writer-dependent decision needs for one subject, valid for one model (by its sha256)."""

    model_sha256: str
    features: np.ndarray  # (n_references, d) the references' features
    spread: float  # mean distance between the references: how much this writer varies
    svm: np.ndarray  # (d + 1,) weights then bias; positive on the subject's side
    # (distance_over_spread, svm) of the cohort against this writer model: mean and standard deviation
    cohort_mean: np.ndarray = field(default_factory=lambda: np.zeros(2))
    cohort_std: np.ndarray = field(default_factory=lambda: np.ones(2))
    # (distance_over_spread, svm) of each reference against a model of the other references, averaged (leave-one-out)
    reference_mean: np.ndarray = field(default_factory=lambda: np.zeros(2))
    format: int = WRITER_MODEL_FORMAT

    def encode(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, model_sha256=np.array(self.model_sha256), features=self.features.astype(np.float32),
                            spread=np.array(self.spread), svm=self.svm.astype(np.float64),
                            cohort_mean=self.cohort_mean.astype(np.float64), cohort_std=self.cohort_std.astype(np.float64),
                            reference_mean=self.reference_mean.astype(np.float64), format=np.array(self.format))
        return buf.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> "WriterModel":
        """A stored writer model; one of format 1 (no cohort statistics) decodes with format 1 and is rebuilt by the step."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                fmt = int(z["format"]) if "format" in z.files else 1
                cohort = (z["cohort_mean"], z["cohort_std"], z["reference_mean"]) if fmt >= 2 else (np.zeros(2), np.ones(2), np.zeros(2))
                return cls(str(z["model_sha256"]), z["features"].astype(np.float64), float(z["spread"]), z["svm"], *cohort, format=fmt)
        except Exception as exc:  # corrupt or foreign bytes
            raise SignatureReferenceError(f"stored signature writer model cannot be read: {exc}") from exc


def fit_linear_svm(positives: np.ndarray, negatives: np.ndarray, c: float, start: np.ndarray | None = None) -> np.ndarray:
    """Linear SVM (squared hinge, L2, balanced class weights) by primal Newton steps; returns [w..., b].

    Balanced: the few references weigh as much as the whole background. For a
    few hundred vectors it converges exactly in a few steps, with numpy alone;
    from a nearby solution (`start`, e.g. the SVM of one more reference) in one or two.
    """
    x = np.vstack([positives, negatives]).astype(np.float64)
    x = np.hstack([x, np.ones((len(x), 1))])
    y = np.r_[np.ones(len(positives)), -np.ones(len(negatives))]
    cost = np.r_[np.full(len(positives), 0.5 / len(positives)), np.full(len(negatives), 0.5 / len(negatives))] * c * len(x)
    regulariser = np.eye(x.shape[1])
    regulariser[-1, -1] = 1e-6  # the bias is not shrunk
    w = np.zeros(x.shape[1]) if start is None else np.asarray(start, dtype=np.float64).copy()
    active_before = None
    for _ in range(SVM_NEWTON_STEPS):
        active = y * (x @ w) < 1
        if active_before is not None and np.array_equal(active, active_before):
            break
        active_before = active
        xa, ya, ca = x[active], y[active], cost[active]
        w = np.linalg.solve(regulariser + 2 * (xa * ca[:, None]).T @ xa, 2 * (xa * (ca * ya)[:, None]).sum(axis=0))
    return w


def mean_pairwise_distance(features: np.ndarray) -> float:
    n = len(features)
    d = [float(np.linalg.norm(features[i] - features[j])) for i in range(n) for j in range(i + 1, n)]
    return float(np.mean(d)) if d else float("nan")


def writer_model_from_features(features: np.ndarray, background: np.ndarray, svm_c: float, model_sha256: str = "",
                               cohort: np.ndarray | None = None) -> WriterModel:
    """The writer model from the references' features; with a cohort, also the cohort's score statistics (z-norm)."""
    features = np.asarray(features, dtype=np.float64)
    writer = WriterModel(model_sha256, features, mean_pairwise_distance(features), fit_linear_svm(features, background, svm_c))
    if cohort is None or len(cohort) < 2:
        return writer
    mean, std = cohort_statistics(writer, cohort)
    return WriterModel(writer.model_sha256, writer.features, writer.spread, writer.svm, mean, std,
                       reference_statistics(features, background, svm_c, writer.svm))


def reference_statistics(features: np.ndarray, background: np.ndarray, svm_c: float, start: np.ndarray | None = None) -> np.ndarray:
    """Mean (distance_over_spread, svm) of each reference scored by a writer model of the other references (leave-one-out)."""
    if len(features) < 3:
        return np.zeros(2)
    rows = []
    for i in range(len(features)):
        others = np.delete(features, i, axis=0)
        model = WriterModel("", others, mean_pairwise_distance(others), fit_linear_svm(others, background, svm_c, start))
        rows.append(batch_writer_scores(features[i : i + 1], model)[0])
    return np.mean(rows, axis=0)


def batch_writer_scores(features: np.ndarray, writer: WriterModel) -> np.ndarray:
    """(n, 2): distance_over_spread and SVM decision value of each of several features against one writer model."""
    features = np.asarray(features, dtype=np.float64)
    distances = np.sqrt(np.maximum(((features[:, None, :] - writer.features[None, :, :]) ** 2).sum(axis=2), 0.0))
    over_spread = distances.mean(axis=1) / max(writer.spread, 1e-3)
    svm = features @ writer.svm[:-1] + writer.svm[-1]
    return np.c_[over_spread, svm]


def cohort_statistics(writer: WriterModel, cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of (distance_over_spread, svm) over the cohort: how this writer model scores strangers."""
    scores = batch_writer_scores(cohort, writer)
    return scores.mean(axis=0), np.maximum(scores.std(axis=0), MIN_COHORT_STD)


def writer_scores(feature: np.ndarray, writer: WriterModel) -> tuple[np.ndarray, float, float]:
    """Distances to each reference, their mean over the references' spread, and the SVM's decision value."""
    distances = np.linalg.norm(writer.features - feature, axis=1)
    over_spread = float(np.mean(distances) / max(writer.spread, 1e-3))
    svm = float(feature @ writer.svm[:-1] + writer.svm[-1])
    return distances, over_spread, svm


def normalised_scores(over_spread: float, svm: float, writer: WriterModel, comparison: dict) -> tuple[float, float]:
    """The two scores as the rule reads them: in cohort standard deviations when the manifest asks for it (z-norm)."""
    normalisation = comparison.get("normalisation")
    x = np.array([over_spread, svm])
    if normalisation == COHORT:
        z = (x - writer.cohort_mean) / writer.cohort_std
        return float(z[0]), float(z[1])
    if normalisation == COHORT_AND_REFERENCES:
        # 0 = where the cohort scores, 1 = where the writer's own references score; at least one cohort deviation apart.
        span = writer.reference_mean - writer.cohort_mean
        span = np.where(np.abs(span) < writer.cohort_std, np.where(span < 0, -1.0, 1.0) * writer.cohort_std, span)
        t = (x - writer.cohort_mean) / span
        return float(1.0 - t[0]), float(t[1])  # distance stays "higher = farther"; svm "higher = more like the writer"
    return over_spread, svm


def raw_score(over_spread: float, svm: float, comparison: dict) -> float:
    """The manifest's rule as one number, higher = more likely genuine."""
    rule = comparison["rule"]
    if rule == DISTANCE_OVER_SPREAD:
        return -over_spread
    if rule == WRITER_SVM:
        return svm
    if rule == FUSION:
        weights = comparison["fusion"]
        return float(weights["svm"]) * svm - float(weights["distance"]) * over_spread
    raise ValueError(f"unknown signature rule {rule!r}")


# ---------------------------------------------------------------- the model


def network_canvas(canvas: np.ndarray, manifest) -> np.ndarray:
    """A stored or questioned canvas as the model was trained to see it: as is, its strokes redrawn at one width
    (`canvas.stroke_width`), or both as two channels (`canvas.channels` = ["canvas", "strokes"])."""
    spec = manifest.extra.get("canvas", {})
    width = spec.get("stroke_width")
    if not width:
        return canvas
    strokes = normalise_strokes(canvas, int(width))
    return np.dstack([canvas, strokes]) if spec.get("channels") == ["canvas", "strokes"] else strokes


def signature_features(model: OnnxModel, canvases: Sequence[np.ndarray]) -> np.ndarray:
    spec = model.manifest.input
    return model.run_images([to_network_input(network_canvas(c, model.manifest), spec.height, spec.width)
                             for c in canvases])[0].astype(np.float64)


_background: dict[str, np.ndarray] = {}
_cohort: dict[str, np.ndarray] = {}
_writer_models: dict[tuple[str, str], WriterModel] = {}
_WRITER_CACHE_SIZE = 1024
_lock = threading.Lock()


def _shipped_features(model: OnnxModel, key: str, cache: dict[str, np.ndarray]) -> np.ndarray:
    """Features shipped beside the model (a file named in the manifest's comparison), checked against its sha256."""
    spec = model.manifest.extra["comparison"][key]
    with _lock:
        cached = cache.get(model.manifest.sha256)
    if cached is not None:
        return cached
    path = model.dir / spec["file"]
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != spec["sha256"]:
        raise ModelNotInstalled(f"model {MODEL_NAME!r}: {spec['file']} is missing or does not match the manifest",
                                code="model_checksum_mismatch")
    with np.load(path, allow_pickle=False) as z:
        features = z["features"].astype(np.float64)
    with _lock:
        cache[model.manifest.sha256] = features
    return features


def background_features(model: OnnxModel) -> np.ndarray:
    """Other writers' features, the SVM's negatives: shipped beside the model, checked against the manifest."""
    return _shipped_features(model, "background", _background)


def cohort_features(model: OnnxModel) -> np.ndarray | None:
    """Other writers' features (not the background) that each writer model scores at enrolment, for z-norm; None if not used."""
    if model.manifest.extra["comparison"].get("normalisation") not in (COHORT, COHORT_AND_REFERENCES):
        return None
    return _shipped_features(model, "cohort", _cohort)


def build_writer_model(model: OnnxModel, references: Sequence[np.ndarray]) -> WriterModel:
    """The subject's writer model from their reference canvases (at enrolment, or after a model upgrade)."""
    refs = _check_references(list(references), minimum=MIN_REFERENCES)
    svm_c = float(model.manifest.extra["comparison"]["svm_c"])
    return writer_model_from_features(signature_features(model, list(refs)), background_features(model), svm_c, model.manifest.sha256,
                                      cohort_features(model))


def current_writer_model(model: OnnxModel, references: np.ndarray, stored: WriterModel | None) -> WriterModel:
    """The stored writer model when it was made with this model (and format), else one rebuilt from the canvases (cached)."""
    if (stored is not None and stored.model_sha256 == model.manifest.sha256 and stored.format == WRITER_MODEL_FORMAT
            and len(stored.features) == len(references)):
        return stored
    key = (model.manifest.sha256, hashlib.sha256(np.ascontiguousarray(references).tobytes()).hexdigest())
    with _lock:
        cached = _writer_models.get(key)
    if cached is None:
        cached = build_writer_model(model, list(references))
        with _lock:
            if len(_writer_models) >= _WRITER_CACHE_SIZE:
                _writer_models.pop(next(iter(_writer_models)))
            _writer_models[key] = cached
    return cached


def calibrated_score(raw: float, calibration: dict) -> float:
    """Platt scaling fitted on calibration writers the network never saw: P(genuine) = sigmoid(a * raw + b)."""
    z = float(calibration["a"]) * raw + float(calibration["b"])
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def zone(score: float, thresholds: dict[str, float]) -> str:
    if score >= thresholds["genuine"]:
        return GENUINE
    if score < thresholds["forged"]:
        return FORGED
    return UNCERTAIN


def verify_signature(questioned_gray_or_rgb: np.ndarray, references: Sequence[np.ndarray], model: OnnxModel | None = None,
                     writer_model: WriterModel | None = None) -> SignatureResult:
    """Compare a signature photo or scan with the subject's stored reference canvases.

    Raises the preprocessing errors (422: blank_image, no_ink, image_too_small)
    for an unusable image, SignatureReferenceError when fewer than
    MIN_REFERENCES references are stored, ModelNotInstalled without a model.
    """
    refs = _check_references(list(references), minimum=MIN_REFERENCES)
    questioned = prepare_signature(questioned_gray_or_rgb)
    model = model or load_model(MODEL_NAME)
    manifest = model.manifest
    comparison = manifest.extra["comparison"]
    writer = current_writer_model(model, refs, writer_model)
    distances, over_spread, svm = writer_scores(signature_features(model, [questioned])[0], writer)
    raw = raw_score(*normalised_scores(over_spread, svm, writer, comparison), comparison)
    score = calibrated_score(raw, manifest.calibration)
    thresholds = {"genuine": manifest.thresholds["genuine"], "forged": manifest.thresholds["forged"]}
    calibration = llr_calibration(manifest)
    return SignatureResult(
        label=zone(score, thresholds),
        score=score,
        thresholds=thresholds,
        distances=[float(d) for d in distances],
        distance=over_spread,
        svm=svm,
        rule=f"{comparison['rule']} against {len(refs)} references"
        + (f", normalised by {comparison['normalisation']}" if comparison.get("normalisation", "none") != "none" else ""),
        model_version=model.version,
        model_sha256=manifest.sha256,
        llr=None if calibration is None else calibration.llr(score),
    )
