"""Measure a sweep's captures again with the current functions/biometrics/quality.py, from the stored detections.

The sweep stores each capture's face box and keypoints, so a change of a
measure's definition needs neither the detector nor the models again: each
frame is degraded once more, exactly as the sweep did, and measured.

    python -m model_export quality remeasure [--run DIR]     # the run's train.jsonl and dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..common.images import read_rgb
from ..common.paths import RUNS_DIR, SHARED_DATA
from ..common.provenance import not_shipped


def remeasure(path: Path, nuaa: Path = SHARED_DATA / "nuaa") -> int:
    from functions.biometrics.quality import assess_capture

    from .sweep import degradations

    by_name = {d.name: d for d in degradations()}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    cache: dict[str, object] = {}
    changed = 0
    for r in rows:
        if "box" not in r:
            continue
        split = "train" if "train" in path.name else "dev"
        folder = nuaa / split / r["label"] / r["person"]
        key = str(folder / r["file"])
        if key not in cache:
            cache.clear()
            cache[key] = read_rgb(Path(key))
        img = by_name[r["degradation"]].apply(cache[key])
        kps = {k: tuple(v) for k, v in r["keypoints"].items()}
        r["quality"] = assess_capture(img, tuple(r["box"]), kps, frontal_nose_position=0.0).to_dict()
        changed += 1
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_export quality remeasure", description=__doc__)
    ap.add_argument("--run", type=Path, default=RUNS_DIR / "quality")
    ap.add_argument("--nuaa", type=Path, default=SHARED_DATA / "nuaa")
    args = ap.parse_args(argv)
    for split in ("train", "dev"):
        path = not_shipped(args.run) / f"{split}.jsonl"
        if path.is_file():
            print(path, remeasure(path, args.nuaa), "captures measured again", file=sys.stderr)
    return 0

