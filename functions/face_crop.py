"""Face crop step: find the face with MediaPipe BlazeFace and cut the crops the next steps need.

Two crops come from one detection: an aligned chip for the embedding network
and a context crop (the face box enlarged) for anti-spoofing, whose extra
context around the face is what makes the spoof check robust.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

# MediaPipe's six keypoints, in its order. "right"/"left" are the subject's.
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")

CONTEXT_SIZE = 256


@dataclass(frozen=True)
class FaceDetection:
    """One face in image pixels: box (x, y, w, h), detector score, six keypoints."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    @property
    def inter_eye_px(self) -> float:
        (rx, ry), (lx, ly) = self.keypoints["right_eye"], self.keypoints["left_eye"]
        return float(np.hypot(lx - rx, ly - ry))

    def to_dict(self) -> dict:
        return {
            "box": [round(v, 1) for v in self.box],
            "score": round(self.score, 4),
            "keypoints": {k: [round(x, 1), round(y, 1)] for k, (x, y) in self.keypoints.items()},
            "inter_eye_px": round(self.inter_eye_px, 1),
        }


class _Detectors(threading.local):
    """MediaPipe graphs are not thread-safe: one pair per thread, created on first use."""

    def __init__(self) -> None:
        self.by_range: dict[int, object] = {}


_detectors = _Detectors()


def _detector(model_selection: int, min_score: float):
    key = model_selection
    det = _detectors.by_range.get(key)
    if det is None:
        import mediapipe as mp

        det = mp.solutions.face_detection.FaceDetection(
            model_selection=model_selection, min_detection_confidence=min_score
        )
        _detectors.by_range[key] = det
    return det


def detect_faces(image_rgb: np.ndarray, *, min_score: float = 0.5) -> list[FaceDetection]:
    """Every face BlazeFace finds, largest first.

    The short-range model (faces within about 2 m) is tried first, then the
    full-range one, so a kiosk close-up and a door camera both work.
    """
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError("detect_faces expects an RGB image of shape (H, W, 3)")
    image_rgb = np.ascontiguousarray(image_rgb, dtype=np.uint8)
    h, w = image_rgb.shape[:2]
    faces: list[FaceDetection] = []
    for model_selection in (0, 1):
        result = _detector(model_selection, min_score).process(image_rgb)
        for d in result.detections or []:
            rb = d.location_data.relative_bounding_box
            kps = {
                name: (kp.x * w, kp.y * h)
                for name, kp in zip(KEYPOINT_NAMES, d.location_data.relative_keypoints)
            }
            faces.append(
                FaceDetection(
                    box=(rb.xmin * w, rb.ymin * h, rb.width * w, rb.height * h),
                    score=float(d.score[0]),
                    keypoints=kps,
                )
            )
        if faces:
            break
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces


def context_crop(
    image_rgb: np.ndarray,
    box: tuple[float, float, float, float],
    *,
    scale: float = 2.0,
    size: int = CONTEXT_SIZE,
) -> np.ndarray:
    """The face box enlarged `scale` times around its centre, made square, padded at the borders, resized.

    Pixels outside the frame are filled by replicating the border, so the
    network sees no artificial black frame that a real capture never has.
    """
    import cv2

    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    side = max(w, h) * scale
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1, y1 = int(round(cx + side / 2)), int(round(cy + side / 2))
    ih, iw = image_rgb.shape[:2]
    pad_l, pad_t = max(0, -x0), max(0, -y0)
    pad_r, pad_b = max(0, x1 - iw), max(0, y1 - ih)
    crop = image_rgb[max(0, y0) : min(ih, y1), max(0, x0) : min(iw, x1)]
    if pad_l or pad_t or pad_r or pad_b:
        crop = cv2.copyMakeBorder(crop, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)
