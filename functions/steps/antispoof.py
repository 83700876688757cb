"""Anti-spoofing step: is the face in front of the camera live, or a presented artefact (a print, a screen)?

The model is an ensemble of small networks, each reading its own crop of the
one face detection (cut by the face-crop step, geometry in
imaging/antispoof_crops.py). Each member gives a probability of live; the
score is their weighted mean. Two thresholds from the manifest split the score
range in three zones:

    score >= thresholds["live"]   -> "live"       (continue to face matching)
    score <= thresholds["spoof"]  -> "spoof"      (the request ends here)
    otherwise                     -> "uncertain"  (sent to human review)

Fusion weights and thresholds were chosen on training data, with how they
were chosen in the manifest; every result records the model version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import BioauthError
from ..imaging.antispoof_crops import Box, Member, member_crops, members_of
from ..imaging.images import load_rgb
from ..runtime.models import OnnxModel, load_model
from ..runtime.step_runner import StepContext, StepOutcome

MODEL_NAME = "antispoof"
LIVE, SPOOF, UNCERTAIN = "live", "spoof", "uncertain"


class InvalidContextCrop(BioauthError):
    """The step was given crops that do not match the model's members."""

    code = "invalid_context_crop"
    http_status = 500


@dataclass(frozen=True)
class AntispoofResult:
    """The step's answer. `score` is the fused probability that the face is live, in [0, 1]."""

    label: str  # "live" | "spoof" | "uncertain"
    score: float
    thresholds: dict[str, float] = field(default_factory=dict)  # {"live": ..., "spoof": ...}
    model_version: str = ""
    member_scores: dict[str, float] = field(default_factory=dict)

    @property
    def is_live(self) -> bool:
        return self.label == LIVE

    def to_record(self) -> dict:
        d = asdict(self)
        d["score"] = round(self.score, 6)
        d["member_scores"] = {k: round(v, 6) for k, v in self.member_scores.items()}
        d["score_meaning"] = "probability of live"
        return d


def label_for(score: float, thresholds: dict[str, float]) -> str:
    """Three zones: clear live at or above `live`, clear spoof at or below `spoof`, uncertain between."""
    if score >= thresholds["live"]:
        return LIVE
    if score <= thresholds["spoof"]:
        return SPOOF
    return UNCERTAIN


def fuse(member_scores: np.ndarray, weights: list[float]) -> np.ndarray:
    """Weighted mean of the members' probabilities of live: (N, members) -> (N,)."""
    w = np.asarray(weights, dtype=np.float64)
    return np.asarray(member_scores, dtype=np.float64) @ (w / w.sum())


def _tensor(crops: list[np.ndarray], member: Member) -> np.ndarray:
    spec = member.input
    for crop in crops:
        if not isinstance(crop, np.ndarray) or crop.shape != (spec.height, spec.width, 3):
            shape = getattr(crop, "shape", None)
            raise InvalidContextCrop(f"crop for {member.name} has shape {shape}, expected ({spec.height}, {spec.width}, 3)")
    return spec.to_tensor([c[:, :, ::-1] if spec.color == "BGR" else c for c in crops])


def member_live_scores(crops: list[dict[str, np.ndarray]], model: OnnxModel) -> np.ndarray:
    """(N, members) probability of live from each member, for a batch of faces' crops (RGB, by crop name)."""
    members = members_of(model.manifest)
    missing = sorted({m.crop_name for m in members for c in crops if m.crop_name not in c})
    if missing:
        raise InvalidContextCrop(f"missing anti-spoofing crops: {', '.join(missing)}")
    feeds = {m.input.name: _tensor([c[m.crop_name] for c in crops], m) for m in members}
    probs = model.run_feeds(feeds)[0]  # (N, members, classes): each member's softmax
    live = np.stack([probs[:, i, m.live_class_index] for i, m in enumerate(members)], axis=1)
    return np.clip(live.astype(np.float64), 0.0, 1.0)


def live_scores(crops: list[dict[str, np.ndarray]], model: OnnxModel | None = None) -> np.ndarray:
    """Fused probability of live for a batch of faces' crops."""
    model = model or load_model(MODEL_NAME)
    return fuse(member_live_scores(crops, model), [m.weight for m in members_of(model.manifest)])


def check_liveness(crops: dict[str, np.ndarray], model: OnnxModel | None = None) -> AntispoofResult:
    """Score one face's member crops and place it in one of the three zones."""
    model = model or load_model(MODEL_NAME)
    members = members_of(model.manifest)
    per_member = member_live_scores([crops], model)[0]
    score = float(fuse(per_member[None], [m.weight for m in members])[0])
    thresholds = {"live": model.manifest.thresholds["live"], "spoof": model.manifest.thresholds["spoof"]}
    return AntispoofResult(
        label=label_for(score, thresholds),
        score=score,
        thresholds=thresholds,
        model_version=model.version,
        member_scores={m.name: float(v) for m, v in zip(members, per_member)},
    )


def check_photo(image_rgb: np.ndarray, box: Box, model: OnnxModel | None = None) -> AntispoofResult:
    """Crop and score one detected face of a photo: what the face-crop and anti-spoofing steps do, in one call."""
    model = model or load_model(MODEL_NAME)
    return check_liveness(member_crops(image_rgb, box, model.manifest), model)


# --- the queue step -------------------------------------------------------------------------


def antispoof_step(ctx: StepContext) -> StepOutcome:
    """Check the stored member crops; a spoof ends the chain early (straight to decide) unless spoofs go to review."""
    model = load_model(MODEL_NAME, ctx.services.settings.models_dir)
    stored = ctx.result_of("face-crop")["crops"]
    crops = {
        m.crop_name: load_rgb(ctx.services.blobs.get(stored[m.crop_name]))
        for m in members_of(model.manifest)
        if m.crop_name in stored
    }
    result = check_liveness(crops, model)
    ends_here = result.label == SPOOF and ctx.services.settings.spoof_action == "reject"
    return StepOutcome(result=result.to_record(), next_step="decide" if ends_here else "face-match")
