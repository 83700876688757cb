"""NUAA anti-spoofing data as the service sees it: context crops cut by the face-crop step's own code.

Detection and cropping run once per image and the 256x256 crops are cached as
one .npy array per split (git-ignored), so training epochs only read memory.
The validation split is carved from train by subject, so no person seen in
training is used to choose thresholds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.imaging.face_detection import CONTEXT_SIZE, context_crop, detect_faces
from functions.settings import get_settings

from ..common.images import read_rgb
from ..common.paths import CACHE_DIR, SHARED_DATA

DEFAULT_DATA = SHARED_DATA / "nuaa"
DEFAULT_CACHE = CACHE_DIR / "antispoof"
LABELS = {"live": 1, "spoof": 0}  # 1 = bona fide presentation

# Train subjects held out for validation (threshold calibration, model choice).
VAL_SUBJECTS = ("0003", "0008")


@dataclass
class CropSet:
    """Context crops of one split with their labels, subjects and source files."""

    crops: np.ndarray  # (N, 256, 256, 3) uint8 RGB
    labels: np.ndarray  # (N,) int64, 1 = live, 0 = spoof
    subjects: np.ndarray  # (N,) str
    files: list[str]  # paths relative to the data root
    boxes: np.ndarray  # (N, 4) float32 face box (x, y, w, h) in the source image

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, mask: np.ndarray) -> "CropSet":
        idx = np.flatnonzero(mask)
        return CropSet(self.crops[idx], self.labels[idx], self.subjects[idx], [self.files[i] for i in idx], self.boxes[idx])


def list_images(data_root: Path, split: str) -> list[tuple[str, int, str]]:
    """(relative path, label, subject) for every JPEG of a split, in a stable order."""
    items = []
    for name, label in sorted(LABELS.items()):
        for path in sorted((data_root / split / name).glob("*/*.jpg")):
            items.append((str(path.relative_to(data_root)), label, path.parent.name))
    return items


def read_rgb_or_none(path: Path) -> np.ndarray | None:
    try:
        return read_rgb(path)
    except ValueError:
        return None


def crop_first_face(rgb: np.ndarray | None, *, scale: float, min_score: float):
    """(context crop, face box) of the first face the service's detector finds, or None (also for an unreadable file)."""
    if rgb is None:
        return None
    faces = detect_faces(rgb, min_score=min_score)
    if not faces:
        return None
    return context_crop(rgb, faces[0].box, scale=scale, size=CONTEXT_SIZE), faces[0].box


def build_cache(data_root: Path, cache_dir: Path, split: str, *, scale: float, min_score: float) -> dict:
    """Detect, crop and save one split; images where no face is found are listed, not cropped."""
    from tqdm import tqdm

    items = list_images(data_root, split)
    crops = np.zeros((len(items), CONTEXT_SIZE, CONTEXT_SIZE, 3), dtype=np.uint8)
    kept, boxes, no_face = [], [], []
    for rel, label, subject in tqdm(items, desc=f"crop {split}"):
        found = crop_first_face(read_rgb_or_none(data_root / rel), scale=scale, min_score=min_score)
        if found is None:
            no_face.append(rel)
            continue
        crops[len(kept)], box = found
        kept.append((rel, label, subject))
        boxes.append(box)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache_dir / f"{split}_crops.npy", crops[: len(kept)])
    index = {
        "split": split,
        "scale": scale,
        "min_face_score": min_score,
        "files": [k[0] for k in kept],
        "labels": [k[1] for k in kept],
        "subjects": [k[2] for k in kept],
        "boxes": [[round(float(v), 2) for v in b] for b in boxes],
        "no_face": no_face,
    }
    (cache_dir / f"{split}_index.json").write_text(json.dumps(index))
    return index


def load_split(cache_dir: Path, split: str, *, mmap: bool = False) -> CropSet:
    index = json.loads((cache_dir / f"{split}_index.json").read_text())
    crops = np.load(cache_dir / f"{split}_crops.npy", mmap_mode="r" if mmap else None)
    return CropSet(
        crops=crops,
        labels=np.asarray(index["labels"], dtype=np.int64),
        subjects=np.asarray(index["subjects"]),
        files=index["files"],
        boxes=np.asarray(index["boxes"], dtype=np.float32),
    )


def load_reviewed(folder: Path, scale: float) -> CropSet:
    """Faces whose presentation a reviewer judged (`export-reviews` writes them to antispoof/<live|spoof>/<subject>/),
    detected and cropped as the service crops them. Each subject becomes one more person for training."""
    min_score = get_settings().min_face_score
    crops, labels, subjects, files, boxes = [], [], [], [], []
    for name, label in sorted(LABELS.items()):
        for path in sorted((Path(folder) / "antispoof" / name).glob("*/*")):
            rgb = read_rgb_or_none(path) if path.suffix.lower() in (".jpg", ".jpeg", ".png") else None
            found = crop_first_face(rgb, scale=scale, min_score=min_score)
            if found is None:
                continue
            crops.append(found[0])
            boxes.append(found[1])
            labels.append(label)
            subjects.append(f"reviewed-{path.parent.name}")
            files.append(str(path))
    return CropSet(
        crops=np.stack(crops) if crops else np.zeros((0, CONTEXT_SIZE, CONTEXT_SIZE, 3), dtype=np.uint8),
        labels=np.asarray(labels, dtype=np.int64),
        subjects=np.asarray(subjects, dtype=str),
        files=files,
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
    )


def load_index(cache_dir: Path, split: str) -> dict:
    return json.loads((cache_dir / f"{split}_index.json").read_text())


def train_val_split(train: CropSet, val_subjects=VAL_SUBJECTS) -> tuple[CropSet, CropSet]:
    """Split train by subject: whole people go to validation."""
    is_val = np.isin(train.subjects, list(val_subjects))
    return train.select(~is_val), train.select(is_val)


def cache_dir_for(cache_root: Path, scale: float) -> Path:
    """One cache folder per context scale (the face box enlargement of the crops)."""
    return Path(cache_root) / f"scale_{scale:g}"


def ensure_cache(data_root: Path, cache_root: Path, splits=("train", "dev"), scale: float | None = None) -> Path:
    """Build the missing splits' crops at `scale` (default: the service setting); returns that scale's cache folder."""
    settings = get_settings()
    scale = settings.context_scale if scale is None else float(scale)
    cache_dir = cache_dir_for(cache_root, scale)
    for split in splits:
        if not (cache_dir / f"{split}_index.json").is_file():
            build_cache(data_root, cache_dir, split, scale=scale, min_score=settings.min_face_score)
    return cache_dir
