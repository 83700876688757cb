"""Liveness: is the face in front of the camera live, or a presented artefact (a print, a screen)?

The model is an ensemble of small networks, each reading its own crop of the
one face detection. Each member's crop is the face box, mapped onto the box
its training detector would have drawn (`BoxMapping`), scaled about its
centre by the member's factor and kept inside the frame
(`face_detection.scaled_box_crop`); `member_crops` cuts them, as the manifest
describes. Each member gives a probability of live; the score is their
weighted mean. Two thresholds from the manifest split the score range in
three zones:

    score >= thresholds["live"]   -> "live"
    score <= thresholds["spoof"]  -> "spoof"
    otherwise                     -> "uncertain"

Fusion weights and thresholds were chosen on training data, with how they
were chosen in the manifest; every result records the model version and the
score as evidence: the log-likelihood ratio of "live" against "attack"
(manifest `calibration.llr`), which the decision sums with the other checks'.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import BioauthError
from ..manifests import InputSpec, ModelManifest, llr_calibration
from ..onnx_models import OnnxModel, load_model
from .face_detection import scaled_box_crop

MODEL_NAME = "antispoof"
LIVE, SPOOF, UNCERTAIN = "live", "spoof", "uncertain"

Box = tuple[float, float, float, float]  # x, y, w, h in image pixels


@dataclass(frozen=True)
class BoxMapping:
    """Moves and resizes a face box, in units of its own width and height, onto another detector's box."""

    dx: float = 0.0
    dy: float = 0.0
    sw: float = 1.0
    sh: float = 1.0

    def apply(self, box: Box) -> Box:
        x, y, w, h = box
        cx, cy = x + w / 2.0 + self.dx * w, y + h / 2.0 + self.dy * h
        nw, nh = w * self.sw, h * self.sh
        return (cx - nw / 2.0, cy - nh / 2.0, nw, nh)

    def to_dict(self) -> dict:
        return {"dx": self.dx, "dy": self.dy, "sw": self.sw, "sh": self.sh}

    @classmethod
    def from_dict(cls, d: dict | None) -> "BoxMapping":
        d = d or {}
        return cls(float(d.get("dx", 0.0)), float(d.get("dy", 0.0)), float(d.get("sw", 1.0)), float(d.get("sh", 1.0)))


@dataclass(frozen=True)
class Member:
    """One network of the ensemble: its graph input, its crop scale, its weight in the fused score."""

    name: str
    input: InputSpec
    crop_scale: float
    weight: float
    live_class_index: int = 1

    @property
    def crop_name(self) -> str:
        """The name of this member's crop among the face-crop step's stored crops."""
        return f"antispoof_{self.name}"

    @classmethod
    def from_dict(cls, d: dict) -> "Member":
        return cls(
            name=d["name"],
            input=InputSpec.from_dict(d["input"]),
            crop_scale=float(d["crop_scale"]),
            weight=float(d.get("weight", 1.0)),
            live_class_index=int(d.get("live_class_index", 1)),
        )


def members_of(manifest: ModelManifest) -> list[Member]:
    """The ensemble's members (none for a single-input model)."""
    return [Member.from_dict(m) for m in manifest.extra.get("members", [])]


def box_mapping_of(manifest: ModelManifest) -> BoxMapping:
    return BoxMapping.from_dict(manifest.extra.get("box_mapping"))


def member_crops(image_rgb: np.ndarray, box: Box, manifest: ModelManifest) -> dict[str, np.ndarray]:
    """Each member's RGB crop of one detected face, by crop name."""
    mapped = box_mapping_of(manifest).apply(box)
    return {m.crop_name: scaled_box_crop(image_rgb, mapped, scale=m.crop_scale, size=m.input.height) for m in members_of(manifest)}



class InvalidContextCrop(BioauthError):
    """Crops that do not match the model's members (a missing crop, a wrong size)."""

    code = "invalid_context_crop"
    http_status = 500


@dataclass(frozen=True)
class AntispoofResult:
    """The liveness check's answer. `score` is the fused probability that the face is live, in [0, 1]."""

    label: str  # "live" | "spoof" | "uncertain"
    score: float
    thresholds: dict[str, float] = field(default_factory=dict)  # {"live": ..., "spoof": ...}
    model_version: str = ""
    member_scores: dict[str, float] = field(default_factory=dict)
    llr: float | None = None  # natural-log likelihood ratio of "live"; None without a calibration

    @property
    def is_live(self) -> bool:
        return self.label == LIVE

    def to_record(self) -> dict:
        d = asdict(self)
        d["score"] = round(self.score, 6)
        d["member_scores"] = {k: round(v, 6) for k, v in self.member_scores.items()}
        d["llr"] = None if self.llr is None else round(self.llr, 4)
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
    calibration = llr_calibration(model.manifest)
    return AntispoofResult(
        label=label_for(score, thresholds),
        score=score,
        thresholds=thresholds,
        model_version=model.version,
        member_scores={m.name: float(v) for m, v in zip(members, per_member)},
        llr=None if calibration is None else calibration.llr(score),
    )


def check_photo(image_rgb: np.ndarray, box: Box, model: OnnxModel | None = None) -> AntispoofResult:
    """Crop and score one detected face of a photo: what the face-crop and anti-spoofing steps do, in one call."""
    model = model or load_model(MODEL_NAME)
    return check_liveness(member_crops(image_rgb, box, model.manifest), model)
