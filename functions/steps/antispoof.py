"""Anti-spoofing step: is the face in front of the camera live, or a presented artefact (a printed photo)?

The model scores the 256x256 context crop from the face-crop step; the score
is the probability that the face is live. Two thresholds from the model's
manifest split the score range in three zones:

    score >= thresholds["live"]   -> "live"       (continue to face matching)
    score <= thresholds["spoof"]  -> "spoof"      (the request ends here)
    otherwise                     -> "uncertain"  (sent to human review)

Both edges were calibrated on a validation split held out by subject, never on
the test data. The preprocessing here (`prepare_input`) is the one training
used, so serving cannot drift from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import BioauthError
from ..imaging.face_detection import CONTEXT_SIZE
from ..imaging.images import load_rgb
from ..manifests import InputSpec
from ..runtime.models import OnnxModel, load_model
from ..runtime.step_runner import StepContext, StepOutcome

MODEL_NAME = "antispoof"
LIVE, SPOOF, UNCERTAIN = "live", "spoof", "uncertain"


class InvalidContextCrop(BioauthError):
    """The step was given something other than a 256x256 RGB context crop."""

    code = "invalid_context_crop"
    http_status = 500


@dataclass(frozen=True)
class AntispoofResult:
    """The step's answer. `score` is the probability that the face is live, in [0, 1]."""

    label: str  # "live" | "spoof" | "uncertain"
    score: float
    thresholds: dict[str, float] = field(default_factory=dict)  # {"live": ..., "spoof": ...}
    model_version: str = ""

    @property
    def is_live(self) -> bool:
        return self.label == LIVE

    def to_record(self) -> dict:
        d = asdict(self)
        d["score"] = round(self.score, 6)
        d["score_meaning"] = "probability of live"
        return d


def prepare_input(context_rgb: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The 256x256 RGB context crop resized to the model's input, in its colour order (uint8 HWC)."""
    import cv2

    image = context_rgb
    if (image.shape[0], image.shape[1]) != (spec.height, spec.width):
        interp = cv2.INTER_AREA if image.shape[0] > spec.height else cv2.INTER_LINEAR
        image = cv2.resize(image, (spec.width, spec.height), interpolation=interp)
    if spec.color == "BGR":
        image = image[:, :, ::-1]
    elif spec.color == "GRAY":
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(image)


def label_for(score: float, thresholds: dict[str, float]) -> str:
    """Three zones: clear live at or above `live`, clear spoof at or below `spoof`, uncertain between."""
    if score >= thresholds["live"]:
        return LIVE
    if score <= thresholds["spoof"]:
        return SPOOF
    return UNCERTAIN


def _check_crop(context_rgb: np.ndarray) -> None:
    if not isinstance(context_rgb, np.ndarray) or context_rgb.ndim != 3 or context_rgb.shape[2] != 3:
        raise InvalidContextCrop("the anti-spoofing step expects an RGB context crop of shape (256, 256, 3)")
    if context_rgb.shape[:2] != (CONTEXT_SIZE, CONTEXT_SIZE):
        raise InvalidContextCrop(
            f"context crop is {context_rgb.shape[1]}x{context_rgb.shape[0]}, expected {CONTEXT_SIZE}x{CONTEXT_SIZE}"
        )


def live_scores(context_crops: list[np.ndarray], model: OnnxModel | None = None) -> np.ndarray:
    """Probability of live for a batch of context crops."""
    model = model or load_model(MODEL_NAME)
    spec = model.manifest.input
    for crop in context_crops:
        _check_crop(crop)
    probs = model.run_images([prepare_input(c, spec) for c in context_crops])[0]
    live_index = int(model.manifest.extra.get("live_class_index", 1))
    return np.clip(probs[:, live_index].astype(np.float64), 0.0, 1.0)


def check_liveness(context_rgb: np.ndarray, model: OnnxModel | None = None) -> AntispoofResult:
    """Score one 256x256 RGB context crop and place it in one of the three zones."""
    model = model or load_model(MODEL_NAME)
    score = float(live_scores([context_rgb], model)[0])
    thresholds = {"live": model.manifest.thresholds["live"], "spoof": model.manifest.thresholds["spoof"]}
    return AntispoofResult(
        label=label_for(score, thresholds),
        score=score,
        thresholds=thresholds,
        model_version=model.version,
    )


# --- the queue step -------------------------------------------------------------------------


def antispoof_step(ctx: StepContext) -> StepOutcome:
    """Check the stored context crop; a spoof ends the chain early (straight to decide) unless spoofs go to review."""
    model = load_model(MODEL_NAME, ctx.services.settings.models_dir)
    crops = ctx.result_of("face-crop")["crops"]
    result = check_liveness(load_rgb(ctx.services.blobs.get(crops["context"])), model)
    ends_here = result.label == SPOOF and ctx.services.settings.spoof_action == "reject"
    return StepOutcome(result=result.to_record(), next_step="decide" if ends_here else "face-match")
