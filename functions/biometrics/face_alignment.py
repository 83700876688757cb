"""Face alignment: how a face photo becomes the embedding network's input, one definition for serving and training.

Each embedding network was trained on chips with facial points at fixed
places; the model's manifest (`alignment`) stores where MediaPipe's keypoints
belong in its chip. A similarity transform (rotation, uniform scale, shift),
fitted by least squares, maps a new photo's keypoints onto those places.

SFace (face_sface) uses the 112x112 five-point geometry its authors align to
(eye centres, nose tip, mouth corners); MediaPipe gives the mouth centre, so
the two mouth corners are replaced by their midpoint. Warped with plain
bilinear sampling, as the reference implementation does (a geometry may ask
for area-averaged shrinking of large faces instead: `antialias`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..manifests import ModelManifest, read_manifest
from ..settings import get_settings


@dataclass(frozen=True)
class ChipGeometry:
    """Reference places of keypoints in the aligned chip, as fractions of the chip side (0..1)."""

    size: int
    padding: float
    reference: Mapping[str, tuple[float, float]]
    weights: Mapping[str, float]
    antialias: bool = True  # shrink large faces with area averaging before the warp

    @classmethod
    def from_dict(cls, d: dict) -> "ChipGeometry":
        reference = {k: (float(v[0]), float(v[1])) for k, v in d["reference"].items()}
        weights = {k: float(d.get("weights", {}).get(k, 1.0)) for k in reference}
        return cls(
            size=int(d["chip_size"]),
            padding=float(d.get("padding", 0.0)),
            reference=reference,
            weights=weights,
            antialias=bool(d.get("antialias", True)),
        )

    @classmethod
    def from_manifest(cls, manifest: ModelManifest) -> "ChipGeometry":
        alignment = manifest.extra.get("alignment")
        if not alignment:
            raise ValueError(f"manifest of {manifest.name!r} has no 'alignment' section")
        return cls.from_dict(alignment)

    def to_dict(self) -> dict:
        return {
            "chip_size": self.size,
            "padding": self.padding,
            "reference": {k: [round(x, 6), round(y, 6)] for k, (x, y) in self.reference.items()},
            "weights": dict(self.weights),
            "antialias": self.antialias,
        }


def similarity_transform(
    src: np.ndarray, dst: np.ndarray, weights: Sequence[float] | None = None
) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping points `src` (N, 2) onto `dst` (N, 2); returns a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s = (w[:, None] * src).sum(0)
    mu_d = (w[:, None] * dst).sum(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = (w[:, None] * d0).T @ s0
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    rot = u @ e @ vt
    var_s = (w * (s0**2).sum(1)).sum()
    scale = (sig * np.diag(e)).sum() / var_s
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def chip_transform(keypoints: Mapping[str, tuple[float, float]], geometry: ChipGeometry) -> np.ndarray:
    """2x3 matrix from image pixels to chip pixels for a face with these keypoints."""
    names = [k for k in geometry.reference if k in keypoints]
    if len(names) < 2:
        raise ValueError("need at least two reference keypoints to align a face")
    src = np.array([keypoints[k] for k in names])
    dst = np.array([geometry.reference[k] for k in names]) * geometry.size
    return similarity_transform(src, dst, [geometry.weights[k] for k in names])


def warp_to_chip(image_rgb: np.ndarray, matrix: np.ndarray, size: int, *, antialias: bool = True) -> np.ndarray:
    """Cut the chip out of the image with bilinear sampling.

    With `antialias`, when the face is much larger than the chip, the region
    is first shrunk with area averaging, as plain bilinear sampling would
    alias.
    """
    import cv2

    m = np.asarray(matrix, dtype=np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))  # chip pixels per image pixel
    if antialias and scale < 0.5:
        # Region of the image the chip covers, with a margin, shrunk to about the chip's resolution.
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64) @ inv.T
        h, w = image_rgb.shape[:2]
        x0 = int(np.clip(np.floor(corners[:, 0].min()) - 2, 0, w))
        y0 = int(np.clip(np.floor(corners[:, 1].min()) - 2, 0, h))
        x1 = int(np.clip(np.ceil(corners[:, 0].max()) + 2, 0, w))
        y1 = int(np.clip(np.ceil(corners[:, 1].max()) + 2, 0, h))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            region = image_rgb[y0:y1, x0:x1]
            f = min(1.0, scale * 1.5)
            new_w, new_h = max(1, int(round(region.shape[1] * f))), max(1, int(round(region.shape[0] * f)))
            small = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
            fx, fy = new_w / region.shape[1], new_h / region.shape[0]
            # image -> region -> small: x' = (x - x0) * fx (sampling centres shift by half a pixel)
            to_small = np.array([[fx, 0, -x0 * fx + 0.5 * fx - 0.5], [0, fy, -y0 * fy + 0.5 * fy - 0.5]])
            from_small = cv2.invertAffineTransform(to_small)
            m = m @ np.vstack([from_small, [0, 0, 1]])
            image_rgb = small
    return cv2.warpAffine(
        np.ascontiguousarray(image_rgb), m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def align_face(image_rgb: np.ndarray, keypoints: Mapping[str, tuple[float, float]], geometry: ChipGeometry) -> np.ndarray:
    """The aligned RGB chip (size x size, uint8) of the face with these keypoints."""
    return warp_to_chip(image_rgb, chip_transform(keypoints, geometry), geometry.size, antialias=geometry.antialias)


# SFace's reference points in its 112x112 chip (eye centres, nose tip, mouth corners; x right, y down).
SFACE_CHIP_SIZE = 112
SFACE_FIVE_POINTS = (
    ("right_eye", (38.2946, 51.6963)),
    ("left_eye", (73.5318, 51.5014)),
    ("nose_tip", (56.0252, 71.7366)),
    ("mouth_right", (41.5493, 92.3655)),
    ("mouth_left", (70.7299, 92.2041)),
)


def sface_geometry(points: Sequence[str] = ("right_eye", "left_eye", "nose_tip", "mouth_center")) -> ChipGeometry:
    """SFace's chip geometry over the named points; `mouth_center` is the midpoint of the two mouth corners."""
    places = dict(SFACE_FIVE_POINTS)
    places["mouth_center"] = tuple((a + b) / 2 for a, b in zip(places["mouth_right"], places["mouth_left"]))
    reference = {k: (places[k][0] / SFACE_CHIP_SIZE, places[k][1] / SFACE_CHIP_SIZE) for k in points}
    return ChipGeometry(size=SFACE_CHIP_SIZE, padding=0.0, reference=reference, weights={k: 1.0 for k in points}, antialias=False)


def load_chip_geometry(models_dir=None, model_name: str = "face_sface") -> ChipGeometry:
    """The chip geometry of the installed embedding model, read from its manifest (no session is created).

    Raises ModelNotInstalled when the model's manifest is missing.
    """
    if models_dir is None:
        models_dir = get_settings().models_dir
    return ChipGeometry.from_manifest(read_manifest(Path(models_dir) / model_name))
