"""What the capture-quality check adds to the face-crop step: judge_capture timed beside crop_face on the same frames.

Frames: NUAA live kiosk frames (640x480) when the data folder is there, and the
demo's astronaut captures (512x512) always. Each frame is detected once; the
check (face region, sharpness, exposure, pose, limits) then runs `--repeats`
times, interleaved with the detection and crop it follows.

    python benchmarks/capture_quality.py [--data ../shared/data] [--frames 40] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)

    import cv2

    from functions.biometrics.quality import judge_capture, load_limits
    from functions.biometrics.face_detection import crop_face
    from tests.fixtures.photos import astronaut, capture

    limits = load_limits(REPO_ROOT / "models")
    frames = [capture(astronaut(), seed) for seed in range(10)]
    nuaa = sorted((args.data / "nuaa" / "dev" / "live").rglob("*.jpg"))
    frames += [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in nuaa[:: max(1, len(nuaa) // args.frames)][: args.frames]]

    crop_ms, check_ms = [], []
    for image in frames:
        t0 = time.perf_counter()
        found = crop_face(image, min_eye_distance_px=0.0)
        crop_ms.append((time.perf_counter() - t0) * 1000)
        if not found.ok:
            continue
        det = found.detection
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            judge_capture(image, det.box, det.keypoints, limits)
            check_ms.append((time.perf_counter() - t0) * 1000)
    print(f"frames: {len(frames)} ({len(frames) - 10} NUAA dev live, 10 astronaut captures); limits {limits.version}")
    print(f"crop_face (detect + crops): median {statistics.median(crop_ms):.2f} ms")
    q = sorted(check_ms)
    print(f"capture-quality check: median {statistics.median(q):.3f} ms, p95 {q[int(0.95 * (len(q) - 1))]:.3f} ms "
          f"over {len(q)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
