"""Time the face path per request (crop + align + quality + embed + compare), with its stages apart.

The service's path: MediaPipe BlazeFace (crop_face, detection on a scaled
copy) -> SFace chip -> capture quality (judge_capture) -> ONNX Runtime, once
per network the face score fuses (SFace and EdgeFace-XS, the face manifest's
fusion.members) -> match_face against the bands, from the decoded RGB photo
to a comparison with one stored reference. Beside it, the same path with
SFace alone (template version 1), interleaved request by request. Two photo
sets: kiosk frames (NUAA live, 640x480) and the photos of faces/master.csv
(0.16-4.3 MP), whose labelled pairs also give each path's decisions.

    python benchmarks/face_path.py [--data ../shared/data] [--requests 100]
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
    ap.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    ap.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    ap.add_argument("--requests", type=int, default=100, help="requests per photo set")
    args = ap.parse_args()

    from functions.biometrics.face_detection import crop_face
    from functions.biometrics.face_alignment import ChipGeometry
    from functions.biometrics.quality import judge_capture, load_limits
    from functions.onnx_models import load_model
    from functions.settings import Settings
    from functions.biometrics.face_matching import embed_face, embed_members, face_models, match_face, match_settings

    settings = Settings.from_env({})
    sface = load_model("face_sface", args.models_dir)
    sface_geometry = ChipGeometry.from_manifest(sface.manifest)
    sface_kwargs = match_settings(sface)
    reference = np.ones(128, np.float32) / np.sqrt(128)
    limits = load_limits(args.models_dir)
    served = face_models(args.models_dir, sface)
    references = {m.manifest.name: [np.ones(d, np.float32) / np.sqrt(d)]
                  for m in served.members for d in [m.manifest.extra["embedding"]["size"]]}

    def crop(image, geometry):
        return crop_face(image, min_score=settings.min_face_score, min_eye_distance_px=settings.min_eye_distance_px,
                         multiple_faces=settings.multiple_faces, chip_spec=geometry)

    stages: dict[str, list[float]] = {"crop + align": [], "quality": [], "embed + compare": []}

    def run_sface(image):
        t0 = time.perf_counter()
        found = crop(image, sface_geometry)
        t1 = time.perf_counter()
        stages["crop + align"].append((t1 - t0) * 1000)
        if not found.ok:
            return None
        judge_capture(image, found.detection.box, found.detection.keypoints, limits)
        t2 = time.perf_counter()
        stages["quality"].append((t2 - t1) * 1000)
        emb = embed_face(found.chip, sface)
        match_face(emb, [reference], **sface_kwargs)
        stages["embed + compare"].append((time.perf_counter() - t2) * 1000)
        return emb

    def run_served(image):
        found = crop(image, sface_geometry)
        if not found.ok:
            return None
        judge_capture(image, found.detection.box, found.detection.keypoints, limits)
        embs = embed_members(found.chip, served)
        match_face(embs, references, **sface_kwargs)
        return embs

    pipelines = {"sface": run_sface, "served": run_served}
    titles = {"sface": "MediaPipe + SFace chip + quality + SFace alone",
              "served": f"same, {' + '.join(m.manifest.name for m in served.members)} (served)"}

    kiosk = sorted((args.data / "nuaa").glob("*/live/*/*.jpg"))[:: 20][: args.requests]
    with open(args.data / "faces" / "master.csv") as f:
        pairs = [(r["file_x"], r["file_y"], r["Decision"].strip().lower() == "yes") for r in csv.DictReader(f)]
    names = sorted({n for a, b, _ in pairs for n in (a, b)})
    sets = {
        "kiosk frames (NUAA live, 640x480)": [(p.name, read_rgb(p)) for p in kiosk],
        "faces/ photos (0.16-4.3 MP)": [(n, read_rgb(args.data / "faces" / n)) for n in names],
    }
    for fn in pipelines.values():  # warm up: sessions, graphs, caches
        fn(sets["faces/ photos (0.16-4.3 MP)"][0][1])

    embeddings: dict[str, dict[str, np.ndarray | None]] = {k: {} for k in pipelines}
    import os

    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    for set_name, photos in sets.items():
        timings: dict[str, list[float]] = {k: [] for k in pipelines}
        for v in stages.values():
            v.clear()
        for i in range(args.requests):
            name, image = photos[i % len(photos)]
            for label, fn in pipelines.items():
                t0 = time.perf_counter()
                emb = fn(image)
                timings[label].append((time.perf_counter() - t0) * 1000)
                embeddings[label].setdefault(name, emb)
        print(f"\n{set_name}: {args.requests} requests per pipeline")
        print(f"{'pipeline':<50} {'median ms':>10} {'p95 ms':>10}")
        for label, t in timings.items():
            print(f"{titles[label]:<50} {statistics.median(t):>10.1f} {percentile(t, 95):>10.1f}   (fastest {min(t):.1f})")
        for stage, t in stages.items():
            print(f"{'  sface: ' + stage:<50} {statistics.median(t):>10.1f} {percentile(t, 95):>10.1f}   (fastest {min(t):.1f})")
    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")

    if args.requests >= len(names):
        truth = np.array([s for _, _, s in pairs])
        accept = sface_kwargs["bands"].accept
        fused = lambda a, b: float(np.mean([a[k] @ b[k] for k in a]))
        rules = {"sface": lambda a, b: float(a @ b) >= accept, "served": lambda a, b: fused(a, b) >= accept}
        print(f"\nlabelled pairs right (score at the served accept band edge, {accept}):")
        for label in pipelines:
            e = embeddings[label]
            said = np.array([e[a] is not None and e[b] is not None and rules[label](e[a], e[b]) for a, b, _ in pairs])
            print(f"  {label:<10} {int((said == truth).sum())}/{len(pairs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
