"""Photos through the service's own path: one MediaPipe detection, the members' crops, the ONNX ensemble.

Detections are cached per split (git-ignored), so calibration and evaluation
detect each NUAA image once. The reference detector (the RetinaFace model the
pretrained networks were cropped with) runs only to fit the box mapping, from
an upstream checkout given on the command line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.biometrics.liveness import BoxMapping, Member
from functions.biometrics.face_detection import detect_faces, scaled_box_crop
from functions.settings import get_settings

from ..common.paths import CACHE_DIR, SHARED_DATA

DEFAULT_NUAA = SHARED_DATA / "nuaa"
DEFAULT_CACHE = CACHE_DIR / "antispoof_pair"
LABELS = {"live": 1, "spoof": 0}  # 1 = bona fide presentation


@dataclass
class Detections:
    """One split's photos with the service detector's face box (None where no face was found)."""

    files: list[str]  # relative to the data root
    labels: np.ndarray  # 1 = live, 0 = attack
    subjects: np.ndarray
    boxes: list[tuple[float, float, float, float] | None]
    reference_boxes: list[tuple[float, float, float, float] | None] | None = None

    @property
    def found(self) -> np.ndarray:
        return np.array([b is not None for b in self.boxes])


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def first_face_box(rgb: np.ndarray) -> tuple[float, float, float, float] | None:
    faces = detect_faces(rgb, min_score=get_settings().min_face_score)
    return tuple(float(v) for v in faces[0].box) if faces else None


def list_split(data_root: Path, split: str) -> list[tuple[str, int, str]]:
    items = []
    for name, label in sorted(LABELS.items()):
        for path in sorted((data_root / split / name).glob("*/*.jpg")):
            items.append((str(path.relative_to(data_root)), label, path.parent.name))
    return items


def detect_split(data_root: Path, split: str, cache_dir: Path) -> Detections:
    """Service detector boxes for every photo of a NUAA split, cached."""
    cache = cache_dir / f"{split}_detections.json"
    if cache.is_file():
        d = json.loads(cache.read_text())
    else:
        items = list_split(data_root, split)
        boxes = [first_face_box(read_rgb(data_root / rel)) for rel, _, _ in items]
        d = {"files": [i[0] for i in items], "labels": [i[1] for i in items], "subjects": [i[2] for i in items], "boxes": boxes}
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(d))
    boxes = [None if b is None else tuple(b) for b in d["boxes"]]
    refs = d.get("reference_boxes")
    return Detections(d["files"], np.asarray(d["labels"]), np.asarray(d["subjects"]), boxes,
                      None if refs is None else [None if b is None else tuple(b) for b in refs])


class ReferenceDetector:
    """The upstream RetinaFace (Caffe, via OpenCV DNN) as its pipeline runs it: image scaled to ~192x192 pixels, top box."""

    def __init__(self, reference_dir: Path):
        import cv2

        folder = reference_dir / "resources" / "detection_model"
        self.net = cv2.dnn.readNetFromCaffe(str(folder / "deploy.prototxt"), str(folder / "Widerface-RetinaFace.caffemodel"))

    def box(self, rgb: np.ndarray, min_confidence: float = 0.6) -> tuple[float, float, float, float] | None:
        import cv2

        bgr = rgb[:, :, ::-1]
        h, w = bgr.shape[:2]
        if h * w >= 192 * 192:
            ar = w / h
            bgr = cv2.resize(bgr, (int(192 * math.sqrt(ar)), int(192 / math.sqrt(ar))), interpolation=cv2.INTER_LINEAR)
        self.net.setInput(cv2.dnn.blobFromImage(np.ascontiguousarray(bgr), 1, mean=(104, 117, 123)), "data")
        out = self.net.forward("detection_out").squeeze()
        best = out[int(np.argmax(out[:, 2]))]
        if best[2] < min_confidence:
            return None
        left, top, right, bottom = best[3] * w, best[4] * h, best[5] * w, best[6] * h
        return (float(int(left)), float(int(top)), float(int(right - left + 1)), float(int(bottom - top + 1)))


def add_reference_boxes(det: Detections, data_root: Path, split: str, cache_dir: Path, reference_dir: Path) -> Detections:
    cache = cache_dir / f"{split}_detections.json"
    d = json.loads(cache.read_text())
    if d.get("reference_boxes") is None:
        ref = ReferenceDetector(reference_dir)
        d["reference_boxes"] = [ref.box(read_rgb(data_root / rel)) for rel in det.files]
        cache.write_text(json.dumps(d))
    det.reference_boxes = [None if b is None else tuple(b) for b in d["reference_boxes"]]
    return det


def fit_box_mapping(boxes, reference_boxes) -> tuple[BoxMapping, dict]:
    """Median centre offset and size ratio of the reference box relative to the service box (robust to misses)."""
    rows = []
    for b, r in zip(boxes, reference_boxes):
        if b is None or r is None:
            continue
        x, y, w, h = b
        rx, ry, rw, rh = r
        rows.append(((rx + rw / 2 - x - w / 2) / w, (ry + rh / 2 - y - h / 2) / h, rw / w, rh / h))
    a = np.asarray(rows)
    med = np.median(a, axis=0)
    iou = [box_iou(b, r) for b, r in zip(boxes, reference_boxes) if b is not None and r is not None]
    mapped_iou = [box_iou(BoxMapping(*med).apply(b), r) for b, r in zip(boxes, reference_boxes) if b is not None and r is not None]
    stats = {
        "pairs": len(rows),
        "iqr": [float(v) for v in np.percentile(a, 75, axis=0) - np.percentile(a, 25, axis=0)],
        "median_iou_before": float(np.median(iou)),
        "median_iou_after": float(np.median(mapped_iou)),
    }
    return BoxMapping(*(round(float(v), 4) for v in med)), stats


def box_iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


class PairSession:
    """The exported graph in onnxruntime (one thread: several jobs share the machine)."""

    def __init__(self, onnx_path: Path, members: list[Member], threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.members = members

    def live(self, crops: list[dict[str, np.ndarray]]) -> np.ndarray:
        """(N, members) probability of live; crops are RGB by member name."""
        feeds = {}
        for m in self.members:
            batch = np.stack([c[m.name][:, :, ::-1] for c in crops]).transpose(0, 3, 1, 2)
            feeds[m.input.name] = np.ascontiguousarray(batch, dtype=np.float32)
        probs = self.session.run(["probs"], feeds)[0]
        return np.stack([probs[:, i, m.live_class_index] for i, m in enumerate(self.members)], axis=1).astype(np.float64)


def crops_for(rgb: np.ndarray, box, members: list[Member], mapping: BoxMapping) -> dict[str, np.ndarray]:
    mapped = mapping.apply(box)
    return {m.name: scaled_box_crop(rgb, mapped, scale=m.crop_scale, size=m.input.height) for m in members}


def score_images(images, boxes, session: PairSession, mappings: dict[str, BoxMapping], batch: int = 32) -> dict[str, np.ndarray]:
    """(N, members) live probabilities per mapping name; NaN rows where no face was found.

    `images` yields RGB arrays (a generator, so a split is never all in memory).
    """
    n = len(boxes)
    out = {k: np.full((n, len(session.members)), np.nan) for k in mappings}
    pending: dict[str, list] = {k: [] for k in mappings}
    index: list[int] = []

    def flush():
        if not index:
            return
        for k in mappings:
            out[k][index] = session.live(pending[k])
            pending[k].clear()
        index.clear()

    for i, (rgb, box) in enumerate(zip(images, boxes)):
        if box is None:
            continue
        for k, mapping in mappings.items():
            pending[k].append(crops_for(rgb, box, session.members, mapping))
        index.append(i)
        if len(index) >= batch:
            flush()
    flush()
    return out


def detect_reviewed(folder: Path) -> Detections:
    """Faces whose presentation a reviewer judged (`reviews export` writes DIR/antispoof/<live|spoof>/<subject>/<case>.<ext>)."""
    root = folder / "antispoof" if (folder / "antispoof").is_dir() else folder
    files, labels, subjects, boxes = [], [], [], []
    for name, label in sorted(LABELS.items()):
        for path in sorted(p for p in (root / name).glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp", ".bmp")):
            files.append(str(path))
            labels.append(label)
            subjects.append(f"reviewed:{path.parent.name}")
            boxes.append(first_face_box(read_rgb(path)))
    return Detections(files, np.asarray(labels, dtype=np.int64), np.asarray(subjects), boxes)
