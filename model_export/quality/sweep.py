"""Degrade NUAA frames (blur, exposure, size, roll) and record, per capture, the quality measures and the models' answers.

For every chosen frame and every degradation the service's own path runs:
crop_face (BlazeFace, the dominant-face rule), the capture measures of
functions/biometrics/quality.py, the anti-spoofing ensemble on its member crops
and, for live frames, the SFace embedding against the subject's reference (the
mean of ENROLMENT_FRAMES undegraded frames of another session when there is one,
as a subject enrols). One JSON line per capture; model_export/quality/choose.py
turns the lines into limits.

    python -m model_export quality sweep --split train --every 8     # model_export/runs/quality/train.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..common.images import read_rgb
from ..common.paths import MODELS_DIR, RUNS_DIR, SHARED_DATA
from ..common.provenance import not_shipped

ENROLMENT_FRAMES = 5
BLUR_SIGMAS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
GAINS = (0.15, 0.3, 0.5, 1.6, 2.2, 3.0)
SCALES = (0.6, 0.4, 0.3)
ROLLS = (20.0, 35.0)
# A dim and blurred capture: what a print held in a poorly lit kiosk may look like.
BLUR_AND_GAIN = ((2.0, 0.5), (3.0, 0.35))
# Prints are degraded only as a camera would degrade them (blur, exposure): the question for them is
# only whether one that passes the limits is ever called live.
SPOOF_KINDS = ("none", "blur", "gain", "blur_gain")

NAME = re.compile(r"(?P<person>\d{4})_(?P<glasses>\d\d)_(?P<position>\d\d)_(?P<session>\d\d)_(?P<n>\d+)\.jpg$")


@dataclass(frozen=True)
class Degradation:
    name: str
    kind: str
    value: float
    apply: Callable[[np.ndarray], np.ndarray]


def blur(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    import cv2

    return lambda img: img if sigma <= 0 else cv2.GaussianBlur(img, (0, 0), sigma)


def gain(g: float) -> Callable[[np.ndarray], np.ndarray]:
    """Exposure scaled by g (sensor-linear approximation on 8-bit values), clipped."""
    return lambda img: np.clip(img.astype(np.float32) * g, 0, 255).round().astype(np.uint8)


def scale(f: float) -> Callable[[np.ndarray], np.ndarray]:
    """Fewer pixels on the face: the whole frame shrunk by f, as a lower-resolution camera sees the same scene.

    (Shrinking the scene inside a frame of the same size would add a uniform border that the
    anti-spoofing crops read as a print's edge.)
    """
    import cv2

    def apply(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        return cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)

    return apply


def roll(degrees: float) -> Callable[[np.ndarray], np.ndarray]:
    import cv2

    def apply(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
        return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    return apply


def degradations() -> list[Degradation]:
    out = [Degradation("original", "none", 0.0, lambda img: img)]
    out += [Degradation(f"blur_{s:g}", "blur", s, blur(s)) for s in BLUR_SIGMAS]
    out += [Degradation(f"gain_{g:g}", "gain", g, gain(g)) for g in GAINS]
    out += [Degradation(f"scale_{f:g}", "scale", f, scale(f)) for f in SCALES]
    out += [Degradation(f"roll_{r:g}", "roll", r, roll(r)) for r in ROLLS]
    for s, g in BLUR_AND_GAIN:
        b, e = blur(s), gain(g)
        out.append(Degradation(f"blur_{s:g}_gain_{g:g}", "blur_gain", s, lambda img, b=b, e=e: e(b(img))))
    return out


def frames(root: Path, split: str, label: str) -> list[tuple[Path, dict]]:
    found = []
    for path in sorted((root / split / label).rglob("*.jpg")):
        m = NAME.search(path.name)
        if m:
            found.append((path, m.groupdict()))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_export quality sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nuaa", type=Path, default=SHARED_DATA / "nuaa")
    ap.add_argument("--split", default="train", choices=("train", "dev"))
    ap.add_argument("--every", type=int, default=24, help="use every n-th live frame")
    ap.add_argument("--every-spoof", type=int, default=48, help="use every n-th print attack frame")
    ap.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    ap.add_argument("--run", type=Path, default=RUNS_DIR / "quality", help="run folder (never inside models/)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from functions.biometrics.quality import assess_capture
    from functions.biometrics.face_detection import crop_face
    from functions.biometrics.face_alignment import ChipGeometry
    from functions.onnx_models import load_model
    from functions.biometrics.liveness import check_photo
    from functions.biometrics.face_matching import embed_face

    spoof_model = load_model("antispoof", args.models_dir)
    face_model = load_model("face_sface", args.models_dir)
    geometry = ChipGeometry.from_manifest(face_model.manifest)
    accept_at = float(face_model.manifest.thresholds["accept"])
    out = not_shipped(args.run) / f"{args.split}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)

    def crop(img):
        return crop_face(img, min_eye_distance_px=0.0, chip_spec=geometry)

    # References: per person, the mean embedding of the first frames of its first session.
    live = frames(args.nuaa, args.split, "live")
    references: dict[str, np.ndarray] = {}
    enrolment: set[Path] = set()
    by_person: dict[str, list[tuple[Path, dict]]] = {}
    for path, meta in live:
        by_person.setdefault(meta["person"], []).append((path, meta))
    for person, items in by_person.items():
        sessions = sorted({m["session"] for _, m in items})
        chosen = [p for p, m in items if m["session"] == sessions[0]][:: max(1, len(items) // 20)][:ENROLMENT_FRAMES]
        embeddings = []
        for p in chosen:
            found = crop(read_rgb(p))
            if found.ok:
                embeddings.append(embed_face(found.chip, face_model))
                enrolment.add(p)
        if embeddings:
            v = np.mean(embeddings, axis=0)
            references[person] = v / np.linalg.norm(v)
    probe_sessions = {
        person: {m["session"] for _, m in items} - ({sorted({m["session"] for _, m in items})[0]} if len({m["session"] for _, m in items}) > 1 else set())
        for person, items in by_person.items()
    }

    selected = [(p, m, "live") for p, m in live if p not in enrolment and m["session"] in probe_sessions[m["person"]]][:: args.every]
    selected += [(p, m, "spoof") for p, m in frames(args.nuaa, args.split, "spoof")][:: args.every_spoof]
    print(f"{len(selected)} frames x up to {len(degradations())} degradations -> {out}", file=sys.stderr)
    with out.open("w") as f:
        for i, (path, meta, label) in enumerate(selected):
            original = read_rgb(path)
            for d in degradations():
                if label == "spoof" and d.kind not in SPOOF_KINDS:
                    continue
                img = d.apply(original)
                found = crop(img)
                row = {"file": path.name, "person": meta["person"], "label": label, "degradation": d.name,
                       "kind": d.kind, "value": d.value, "crop_reason": found.reason}
                if found.detection is not None and found.reason in (None, "multiple_faces"):
                    det = found.detection
                    row["quality"] = assess_capture(img, det.box, det.keypoints, frontal_nose_position=0.0).to_dict()
                    row["nose_position_raw"] = _nose_position(det.keypoints)
                    row["box"] = [round(v, 2) for v in det.box]
                    row["keypoints"] = {k: [round(x, 2), round(y, 2)] for k, (x, y) in det.keypoints.items()}
                if found.ok:
                    liveness = check_photo(img, found.detection.box, spoof_model)
                    row["live_score"], row["live_label"] = round(liveness.score, 5), liveness.label
                    if label == "live" and meta["person"] in references:
                        score = float(embed_face(found.chip, face_model) @ references[meta["person"]])
                        row["face_score"], row["face_accept"] = round(score, 5), score >= accept_at
                f.write(json.dumps(row) + "\n")
            if i % 20 == 0:
                print(f"{i}/{len(selected)}", file=sys.stderr, flush=True)
    return 0


def _nose_position(keypoints: dict) -> float:
    """The nose tip's place between the eye line (0) and the mouth centre (1), roll removed: pose_angles' pitch input."""
    from functions.biometrics.quality import pose_angles

    # pitch = atan2((t - t0) * drop, depth): with t0 = 0 the angle gives t back.
    from functions.biometrics.quality import MOUTH_DROP_PER_EYE_DISTANCE, NOSE_DEPTH_PER_EYE_DISTANCE
    import math

    _, pitch, _ = pose_angles(keypoints, 0.0)
    return math.tan(math.radians(pitch)) * NOSE_DEPTH_PER_EYE_DISTANCE / MOUTH_DROP_PER_EYE_DISTANCE

