"""Face detection: find the one face to verify with MediaPipe BlazeFace and cut its crops.

Two crops come from one detection: an aligned chip for the embedding network
(geometry in face_alignment.py) and a context crop (the face box enlarged)
that reviewers see. A photo that cannot be used comes back as a reason code
(no face, several faces, too small, cut off), not as an error.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

import numpy as np

from .face_alignment import ChipGeometry, align_face

# MediaPipe's six keypoints, in its order. "right"/"left" are the subject's.
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")

CONTEXT_SIZE = 256

# Reason codes of crop_face (None = a usable face).
NO_FACE = "no_face"
MULTIPLE_FACES = "multiple_faces"
FACE_TOO_SMALL = "face_too_small"
FACE_CUT_OFF = "face_cut_off"
LOW_FACE_SCORE = "low_face_score"

# Flag codes: the face was usable, but something about the photo is worth recording.
OTHER_FACES_IGNORED = "other_faces_ignored"

# What to do with several confident faces (BIOAUTH_MULTIPLE_FACES).
MULTIPLE_FACE_POLICIES = ("dominant", "reject", "largest")
# 'dominant': a face's prominence is its size (square root of its box area) times
# (1 - PROMINENCE_CENTRE_WEIGHT x the distance of its centre from the frame's centre, in frame widths and
# heights); the most prominent face is the subject when its prominence is at least DOMINANT_MARGIN times
# every other face's, otherwise the faces compete and the photo is refused. Bystanders are further from the
# camera and off-centre. Both numbers chosen on composite photos (model_export/quality/bystanders.py,
# models/quality/REPORT.md).
PROMINENCE_CENTRE_WEIGHT = 1.5
DOMINANT_MARGIN = 1.6
# Detection runs on a copy whose longer side is at most this many pixels (area-averaged), the
# keypoints are scaled back and the chip is cut from the full image: BlazeFace looks at a
# 128-192 px input, and shrinking a large photo in one bilinear step aliases.
DETECTION_MAX_SIDE = 1024

# Faces are looked for down to this score, so a weak face is reported as
# `low_face_score` instead of `no_face`.
DETECTION_FLOOR = 0.5
# Largest share of the face box allowed outside the frame.
CUT_OFF_TOLERANCE = 0.10


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


class _DetectorPool:
    """MediaPipe graphs are not thread-safe, and each holds tens of MB of native buffers: a graph serves one call
    at a time and goes back to the pool after it, so there are as many graphs as calls ever ran at once (bounded
    by the image-work limit), not one per thread that ever called (a thread per HTTP connection leaked 20 MB each).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[int, float], list] = {}

    @contextlib.contextmanager
    def checkout(self, model_selection: int, min_score: float):
        key = (model_selection, round(float(min_score), 4))
        with self._lock:
            idle = self._idle.setdefault(key, [])
            det = idle.pop() if idle else None
        if det is None:
            import mediapipe as mp

            det = mp.solutions.face_detection.FaceDetection(model_selection=model_selection, min_detection_confidence=min_score)
        try:
            yield det
        finally:
            with self._lock:
                self._idle[key].append(det)


_detectors = _DetectorPool()


def detection_copy(image_rgb: np.ndarray, max_side: int = DETECTION_MAX_SIDE) -> np.ndarray:
    """The image the detector sees: shrunk with area averaging when its longer side exceeds max_side."""
    import cv2

    h, w = image_rgb.shape[:2]
    if max(h, w) <= max_side:
        return image_rgb
    f = max_side / max(h, w)
    return cv2.resize(image_rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def detect_faces(image_rgb: np.ndarray, *, min_score: float = 0.5, max_side: int = DETECTION_MAX_SIDE) -> list[FaceDetection]:
    """Every face BlazeFace finds, largest first, in the full image's pixels.

    The short-range model (faces within about 2 m) is tried first, then the
    full-range one, so a kiosk close-up and a door camera both work.
    """
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError("detect_faces expects an RGB image of shape (H, W, 3)")
    image_rgb = np.ascontiguousarray(image_rgb, dtype=np.uint8)
    small = np.ascontiguousarray(detection_copy(image_rgb, max_side))
    # Relative coordinates from the small copy, scaled by the full image's size.
    h, w = image_rgb.shape[:2]
    faces: list[FaceDetection] = []
    for model_selection in (0, 1):
        with _detectors.checkout(model_selection, min_score) as detector:
            result = detector.process(small)
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


def scaled_box_crop(
    image: np.ndarray, box: tuple[float, float, float, float], *, scale: float, size: int
) -> np.ndarray:
    """The face box scaled `scale` times about its centre, kept inside the frame, resized to size x size.

    This is the crop geometry the pretrained anti-spoofing networks were
    trained with: the scale shrinks when the enlarged box would be larger than
    the frame, the box is shifted (never padded) to stay inside it, and the
    aspect ratio is not kept. Corners are truncated to whole pixels and the
    right/bottom edge is inclusive, as in that training code.
    """
    import cv2

    ih, iw = image.shape[:2]
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError("the face box must have a positive width and height")
    scale = min((ih - 1) / h, (iw - 1) / w, scale)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, x1 = cx - w * scale / 2.0, cx + w * scale / 2.0
    y0, y1 = cy - h * scale / 2.0, cy + h * scale / 2.0
    if x0 < 0:
        x0, x1 = 0.0, x1 - x0
    if y0 < 0:
        y0, y1 = 0.0, y1 - y0
    if x1 > iw - 1:
        x0, x1 = x0 - (x1 - (iw - 1)), float(iw - 1)
    if y1 > ih - 1:
        y0, y1 = y0 - (y1 - (ih - 1)), float(ih - 1)
    left, top, right, bottom = int(x0), int(y0), int(x1), int(y1)
    return cv2.resize(np.ascontiguousarray(image[top : bottom + 1, left : right + 1]), (size, size))


@dataclass(frozen=True)
class FaceCropResult:
    """What the face-crop step found: a reason code (None = usable) and the crops."""

    reason: str | None
    detection: FaceDetection | None
    faces_found: int
    chip: np.ndarray | None = None  # aligned RGB chip for the embedding network
    context: np.ndarray | None = None  # CONTEXT_SIZE x CONTEXT_SIZE RGB, for anti-spoofing
    flags: tuple[str, ...] = ()  # e.g. OTHER_FACES_IGNORED

    @property
    def ok(self) -> bool:
        return self.reason is None

    def to_record(self) -> dict:
        """JSON-safe summary, without pixels."""
        return {
            "reason": self.reason,
            "faces_found": self.faces_found,
            "flags": list(self.flags),
            "detection": self.detection.to_dict() if self.detection else None,
            "chip_size": None if self.chip is None else int(self.chip.shape[0]),
            "context_size": None if self.context is None else int(self.context.shape[0]),
        }


def outside_fraction(box: tuple[float, float, float, float], width: int, height: int) -> float:
    """Share of the box area that lies outside a width x height frame."""
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return 1.0
    inside_w = max(0.0, min(x + w, width) - max(x, 0.0))
    inside_h = max(0.0, min(y + h, height) - max(y, 0.0))
    return 1.0 - (inside_w * inside_h) / (w * h)


def _centre_distance(face: FaceDetection, width: int, height: int) -> float:
    x, y, w, h = face.box
    return float(np.hypot((x + w / 2) / width - 0.5, (y + h / 2) / height - 0.5))


def prominence(face: FaceDetection, width: int, height: int, centre_weight: float = PROMINENCE_CENTRE_WEIGHT) -> float:
    """How much a face looks like the photo's subject: its size, discounted by its distance from the centre (never below 0)."""
    size = float(np.sqrt(max(face.area, 0.0)))
    return size * max(0.0, 1.0 - centre_weight * _centre_distance(face, width, height))


def dominant_face(
    faces: list[FaceDetection],
    width: int,
    height: int,
    *,
    margin: float = DOMINANT_MARGIN,
    centre_weight: float = PROMINENCE_CENTRE_WEIGHT,
) -> FaceDetection | None:
    """The one face to verify among several confident ones, or None when two compete.

    The most prominent face (see prominence) is taken when it is at least
    `margin` times as prominent as every other face.
    """
    if len(faces) == 1:
        return faces[0]
    ranked = sorted(faces, key=lambda f: prominence(f, width, height, centre_weight), reverse=True)
    first, second = (prominence(f, width, height, centre_weight) for f in ranked[:2])
    return ranked[0] if first > 0 and first >= margin * second else None


def crop_face(
    image_rgb: np.ndarray,
    *,
    min_score: float = 0.6,
    min_eye_distance_px: float = 24.0,
    multiple_faces: str = "dominant",
    context_scale: float = 2.0,
    chip_spec: ChipGeometry | None = None,
    cut_off_tolerance: float = CUT_OFF_TOLERANCE,
    detection_max_side: int = DETECTION_MAX_SIDE,
) -> FaceCropResult:
    """Find the one face to verify and cut its aligned chip and context crop.

    Problems come back as reason codes, checked in this order: no_face,
    low_face_score, multiple_faces, face_cut_off, face_too_small. With several
    confident faces, policy 'dominant' keeps the dominant face (see
    dominant_face) and flags the photo `other_faces_ignored`, refusing only
    when faces compete; 'reject' refuses every such photo; 'largest' keeps the
    largest face (flagged). `chip_spec` is the embedding model's chip geometry
    (ChipGeometry.from_manifest); without it no chip is cut.
    """
    if multiple_faces not in MULTIPLE_FACE_POLICIES:
        raise ValueError(f"multiple_faces must be one of {MULTIPLE_FACE_POLICIES}, not {multiple_faces!r}")
    faces = detect_faces(image_rgb, min_score=min(DETECTION_FLOOR, min_score), max_side=detection_max_side)
    if not faces:
        return FaceCropResult(NO_FACE, None, 0)
    confident = [f for f in faces if f.score >= min_score]
    if not confident:
        return FaceCropResult(LOW_FACE_SCORE, faces[0], len(faces))
    h, w = image_rgb.shape[:2]
    face = confident[0]  # largest (the 'largest' policy's pick)
    flags: tuple[str, ...] = ()
    if len(confident) > 1:
        if multiple_faces == "reject":
            return FaceCropResult(MULTIPLE_FACES, face, len(faces))
        if multiple_faces == "dominant":
            face = dominant_face(confident, w, h)
            if face is None:
                return FaceCropResult(MULTIPLE_FACES, confident[0], len(faces))
        flags = (OTHER_FACES_IGNORED,)
    eyes_outside = any(
        not (0 <= face.keypoints[k][0] < w and 0 <= face.keypoints[k][1] < h) for k in ("right_eye", "left_eye")
    )
    if eyes_outside or outside_fraction(face.box, w, h) > cut_off_tolerance:
        return FaceCropResult(FACE_CUT_OFF, face, len(faces))
    if face.inter_eye_px < min_eye_distance_px:
        return FaceCropResult(FACE_TOO_SMALL, face, len(faces))
    chip = None if chip_spec is None else align_face(image_rgb, face.keypoints, chip_spec)
    context = context_crop(image_rgb, face.box, scale=context_scale)
    return FaceCropResult(None, face, len(faces), chip=chip, context=context, flags=flags)
