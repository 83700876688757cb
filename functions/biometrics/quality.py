"""Capture quality: is this photo of the face good enough to judge, or should the device take another?

A blurred, dark, washed-out, small or turned face is not evidence of an
attack: the anti-spoofing and face networks simply stop being reliable on it.
So the face-crop step measures the capture before any judgement and, below
the limits, ends the request with a retake reason (`retake_blurred`, ...)
that carries the measured value and the limit, instead of letting a poor
capture be read as a spoof or a stranger.

The measures are plain image statistics of the detected face:

- sharpness: variance of the Laplacian of the face box, converted to grey
  and resized to a fixed side (CANONICAL_SIDE), so a large and a small face of
  equal focus measure alike, divided by the region's own variance (per
  thousand), so a dim face is not mistaken for a blurred one;
- exposure: mean brightness of the face box (0..255) and the share of its
  pixels clipped to black or white;
- size: distance between the eye centres in image pixels;
- pose: roll from the eye line; yaw and pitch from where the nose tip sits
  between the eyes and the mouth, through a generic head's proportions
  (approximate, a few degrees).

The limits are chosen on data (model_export/quality) and read from
models/quality/manifest.json; this module imports nothing but numpy and cv2.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import ModelNotInstalled

QUALITY_DIR = "quality"
MANIFEST_FILE = "manifest.json"

# The face box is measured at this side (pixels), whatever its size in the photo.
CANONICAL_SIDE = 112
# A pixel this dark or this bright (0..255 grey) counts as clipped.
DARK_CLIP_LEVEL = 8
BRIGHT_CLIP_LEVEL = 247
# A generic head, in units of the distance between the eye centres: how far the nose
# tip stands in front of the eyes, and how far below the eye line the mouth centre is.
NOSE_DEPTH_PER_EYE_DISTANCE = 0.35
MOUTH_DROP_PER_EYE_DISTANCE = 1.0

# Retake reasons, in the order they are checked (the first one found is the request's reason).
RETAKE_TOO_SMALL = "retake_too_small"
RETAKE_DARK = "retake_dark"
RETAKE_BRIGHT = "retake_bright"
RETAKE_BLURRED = "retake_blurred"
RETAKE_POSE = "retake_pose"
RETAKE_REASONS = (RETAKE_TOO_SMALL, RETAKE_DARK, RETAKE_BRIGHT, RETAKE_BLURRED, RETAKE_POSE)


@dataclass(frozen=True)
class QualityLimits:
    """The limits a capture must meet (from the manifest); a measure outside them asks for a retake."""

    version: str
    min_eye_distance_px: float
    min_brightness: float
    max_brightness: float
    max_clipped_fraction: float
    min_sharpness: float
    max_yaw_deg: float
    max_pitch_deg: float
    max_roll_deg: float
    frontal_nose_position: float  # the nose's place between eye line (0) and mouth (1) on a frontal face

    @classmethod
    def from_manifest(cls, d: Mapping) -> "QualityLimits":
        limits = d["limits"]
        return cls(version=str(d["version"]), **{k: float(limits[k]) for k in cls.__dataclass_fields__ if k != "version"})

    def with_min_eye_distance(self, px: float) -> "QualityLimits":
        """The same limits with an operator's stricter size floor (never a laxer one)."""
        return self if px <= self.min_eye_distance_px else replace(self, min_eye_distance_px=float(px))


@dataclass(frozen=True)
class CaptureQuality:
    """What was measured of one face (see the module docstring for each measure)."""

    sharpness: float
    brightness: float
    contrast: float  # standard deviation of the face region's grey levels (recorded, not judged)
    dark_fraction: float
    bright_fraction: float
    eye_distance_px: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float

    def to_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RetakeReason:
    """Why the capture must be taken again: the reason code, the measure, its value and the limit it broke."""

    reason: str
    measure: str
    value: float
    limit: float

    def to_dict(self) -> dict:
        return {"reason": self.reason, "measure": self.measure, "value": round(self.value, 4), "limit": round(self.limit, 4)}


@dataclass(frozen=True)
class QualityVerdict:
    """The measures, the limits' version and every retake reason found (empty: the capture is usable)."""

    quality: CaptureQuality
    limits_version: str
    retakes: tuple[RetakeReason, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.retakes

    @property
    def reason(self) -> str | None:
        return self.retakes[0].reason if self.retakes else None

    def to_record(self) -> dict:
        return {
            "measures": self.quality.to_dict(),
            "limits_version": self.limits_version,
            "retakes": [r.to_dict() for r in self.retakes],
        }


def face_region(image_rgb: np.ndarray, box: tuple[float, float, float, float], side: int = CANONICAL_SIDE) -> np.ndarray:
    """The face box (clipped to the frame) in grey, resized to side x side, float32 0..255."""
    import cv2

    h, w = image_rgb.shape[:2]
    x, y, bw, bh = box
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(w, int(round(x + bw))), min(h, int(round(y + bh)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueError("the face box has no pixels inside the frame")
    grey = cv2.cvtColor(np.ascontiguousarray(image_rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    interp = cv2.INTER_AREA if grey.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(grey, (side, side), interpolation=interp).astype(np.float32)


def sharpness(region: np.ndarray) -> float:
    """Variance of the Laplacian of a canonical face region per thousand of its variance: fine detail against contrast.

    Both scale alike with exposure, so the ratio reads focus, not light; near 0 when blurred.
    """
    import cv2

    spread = float(region.var())
    if spread < 1e-6:
        return 0.0
    return 1000.0 * float(cv2.Laplacian(region, cv2.CV_32F, ksize=1).var()) / spread


def pose_angles(keypoints: Mapping[str, tuple[float, float]], frontal_nose_position: float) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from the eye centres, nose tip and mouth centre.

    Roll is the eye line's angle. In the frame turned by the roll: yaw from the
    nose tip's sideways offset from the eyes' midpoint, pitch from the nose
    tip's place between the eye line and the mouth against a frontal face's
    (`frontal_nose_position`); both through the nose's depth in front of the
    eyes (NOSE_DEPTH_PER_EYE_DISTANCE). Positive yaw: nose towards the image's
    right; positive pitch: nose lower than on a frontal face (chin down).
    """
    rx, ry = keypoints["right_eye"]
    lx, ly = keypoints["left_eye"]
    eye_distance = math.hypot(lx - rx, ly - ry)
    if eye_distance <= 0:
        return 0.0, 0.0, 0.0
    roll = math.atan2(ly - ry, lx - rx)
    cos_r, sin_r = math.cos(-roll), math.sin(-roll)
    mx, my = (rx + lx) / 2.0, (ry + ly) / 2.0

    def upright(point: tuple[float, float]) -> tuple[float, float]:
        dx, dy = point[0] - mx, point[1] - my
        return (dx * cos_r - dy * sin_r) / eye_distance, (dx * sin_r + dy * cos_r) / eye_distance

    nose_x, nose_y = upright(keypoints["nose_tip"])
    _, mouth_y = upright(keypoints["mouth_center"])
    yaw = math.atan2(nose_x, NOSE_DEPTH_PER_EYE_DISTANCE)
    nose_position = nose_y / mouth_y if mouth_y > 1e-6 else frontal_nose_position
    pitch = math.atan2((nose_position - frontal_nose_position) * MOUTH_DROP_PER_EYE_DISTANCE, NOSE_DEPTH_PER_EYE_DISTANCE)
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def assess_capture(
    image_rgb: np.ndarray,
    box: tuple[float, float, float, float],
    keypoints: Mapping[str, tuple[float, float]],
    *,
    frontal_nose_position: float,
) -> CaptureQuality:
    """Measure one detected face (box and BlazeFace keypoints in image pixels)."""
    region = face_region(image_rgb, box)
    rx, ry = keypoints["right_eye"]
    lx, ly = keypoints["left_eye"]
    yaw, pitch, roll = pose_angles(keypoints, frontal_nose_position)
    return CaptureQuality(
        sharpness=sharpness(region),
        brightness=float(region.mean()),
        contrast=float(region.std()),
        dark_fraction=float((region <= DARK_CLIP_LEVEL).mean()),
        bright_fraction=float((region >= BRIGHT_CLIP_LEVEL).mean()),
        eye_distance_px=float(math.hypot(lx - rx, ly - ry)),
        yaw_deg=yaw,
        pitch_deg=pitch,
        roll_deg=roll,
    )


def retake_reasons(q: CaptureQuality, limits: QualityLimits) -> tuple[RetakeReason, ...]:
    """Every limit the capture breaks, in RETAKE_REASONS order (empty: usable)."""
    found: list[RetakeReason] = []
    if q.eye_distance_px < limits.min_eye_distance_px:
        found.append(RetakeReason(RETAKE_TOO_SMALL, "eye_distance_px", q.eye_distance_px, limits.min_eye_distance_px))
    if q.brightness < limits.min_brightness:
        found.append(RetakeReason(RETAKE_DARK, "brightness", q.brightness, limits.min_brightness))
    elif q.dark_fraction > limits.max_clipped_fraction:
        found.append(RetakeReason(RETAKE_DARK, "dark_fraction", q.dark_fraction, limits.max_clipped_fraction))
    if q.brightness > limits.max_brightness:
        found.append(RetakeReason(RETAKE_BRIGHT, "brightness", q.brightness, limits.max_brightness))
    elif q.bright_fraction > limits.max_clipped_fraction:
        found.append(RetakeReason(RETAKE_BRIGHT, "bright_fraction", q.bright_fraction, limits.max_clipped_fraction))
    if q.sharpness < limits.min_sharpness:
        found.append(RetakeReason(RETAKE_BLURRED, "sharpness", q.sharpness, limits.min_sharpness))
    for measure, value, limit in (
        ("yaw_deg", q.yaw_deg, limits.max_yaw_deg),
        ("pitch_deg", q.pitch_deg, limits.max_pitch_deg),
        ("roll_deg", q.roll_deg, limits.max_roll_deg),
    ):
        if abs(value) > limit:
            found.append(RetakeReason(RETAKE_POSE, measure, abs(value), limit))
            break
    return tuple(found)


def judge_capture(
    image_rgb: np.ndarray,
    box: tuple[float, float, float, float],
    keypoints: Mapping[str, tuple[float, float]],
    limits: QualityLimits,
) -> QualityVerdict:
    """Measure one face and hold it against the limits."""
    q = assess_capture(image_rgb, box, keypoints, frontal_nose_position=limits.frontal_nose_position)
    return QualityVerdict(q, limits.version, retake_reasons(q, limits))


@lru_cache(maxsize=4)
def _read_limits(path: str, mtime_ns: int) -> QualityLimits:
    return QualityLimits.from_manifest(json.loads(Path(path).read_text()))


def load_limits(models_dir: Path) -> QualityLimits:
    """The capture-quality limits shipped in `<models_dir>/quality/manifest.json` (read once per change)."""
    path = Path(models_dir) / QUALITY_DIR / MANIFEST_FILE
    if not path.is_file():
        raise ModelNotInstalled(f"model {QUALITY_DIR!r} is not installed (no capture-quality manifest in the models folder)")
    return _read_limits(str(path), path.stat().st_mtime_ns)
