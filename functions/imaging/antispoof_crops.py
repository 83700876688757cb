"""The anti-spoofing ensemble's crops of one detected face, as its manifest describes them.

Each member network reads its own crop: the face box, mapped onto the box
its training detector would have drawn (`BoxMapping`), scaled about its
centre by the member's factor and kept inside the frame
(`face_detection.scaled_box_crop`). The face-crop step cuts these crops and
the anti-spoofing step scores them; both read the geometry from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..manifests import InputSpec, ModelManifest
from .face_detection import scaled_box_crop

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
