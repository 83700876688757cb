"""Latency of the anti-spoofing step on this machine, beside the MiniFASNet baseline.

`python benchmarks/antispoof.py [--data ../shared/data/nuaa] [--threads N]`

Times `functions.antispoof.check_liveness` (resize + normalise + onnxruntime +
zones) on 200 single context crops and prints median and p95 in ms, the model
file size, and, when the baseline weights are present, the same figures for
the two MiniFASNets in onnxruntime. Crops come from NUAA dev when present,
otherwise from the two demo photos with small shifts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def demo_crops(n: int, scale: float) -> list[np.ndarray]:
    from functions.imaging.face_detection import context_crop, detect_faces
    from tests.fixtures.photos import astronaut, grace_hopper

    photos = [astronaut(), grace_hopper()]
    boxes = [detect_faces(np.ascontiguousarray(p))[0].box for p in photos]
    rng = np.random.default_rng(0)
    crops = []
    for i in range(n):
        x, y, w, h = boxes[i % 2]
        dx, dy = rng.uniform(-0.05, 0.05, 2) * w
        crops.append(context_crop(np.ascontiguousarray(photos[i % 2]), (x + dx, y + dy, w, h), scale=scale))
    return crops


def nuaa_crops(data_root: Path, n: int, scale: float) -> list[np.ndarray]:
    from model_export.antispoof.data import DEFAULT_CACHE, ensure_cache, load_split

    dev = load_split(ensure_cache(data_root, DEFAULT_CACHE, splits=("dev",), scale=scale), "dev", mmap=True)
    idx = np.random.default_rng(0).choice(len(dev), size=n, replace=len(dev) < n)
    return [np.asarray(dev.crops[i]) for i in idx]


def time_calls(fn, items, warmup: int = 5) -> np.ndarray:
    for it in items[:warmup]:
        fn(it)
    times = []
    for it in items:
        t0 = time.perf_counter()
        fn(it)
        times.append((time.perf_counter() - t0) * 1000)
    return np.asarray(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "nuaa")
    parser.add_argument("--baseline", type=Path, default=REPO.parent / "shared" / "data" / "minifasnet")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = its default)")
    args = parser.parse_args()

    from functions.runtime.models import OnnxModel
    from functions.settings import get_settings
    from functions.steps.antispoof import check_liveness
    from functions.steps.face_crop import context_scale_for

    model_dir = get_settings().models_dir / "antispoof"
    model = OnnxModel(model_dir, intra_op_threads=args.threads or None)
    source = "NUAA dev" if args.data.is_dir() else "demo photos"
    scale = context_scale_for(model)
    crops = nuaa_crops(args.data, args.n, scale) if args.data.is_dir() else demo_crops(args.n, scale)
    t = time_calls(lambda c: check_liveness(c, model), crops)
    size = (model_dir / model.manifest.file).stat().st_size / 1e6
    print(f"cpu cores: {os.cpu_count()}, crops: {len(crops)} from {source}")
    print(f"antispoof {model.version}: median {np.median(t):.2f} ms, p95 {np.percentile(t, 95):.2f} ms per crop, model {size:.2f} MB")

    if all((args.baseline / f).is_file() for f in ("2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth")):
        from model_export.antispoof.evaluate import baseline_latency_ms

        b = baseline_latency_ms(args.baseline, n=args.n)
        print(f"MiniFASNet baseline (2 nets, 80x80, onnxruntime): median {b['median_ms']:.2f} ms, p95 {b['p95_ms']:.2f} ms, weights {b['size_mb']:.2f} MB")
    else:
        print("MiniFASNet baseline: weights not found, skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
