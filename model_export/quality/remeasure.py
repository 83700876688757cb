"""Measure a sweep's captures again with the current functions/biometrics/quality.py, from the stored detections.

The sweep stores each capture's face box and keypoints, so a change of a
measure's definition needs neither the detector nor the models again: each
frame is degraded once more, exactly as the sweep did, and measured.

    python -m model_export.quality.remeasure model_export/runs/quality/train.jsonl [...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..common.images import read_rgb
from ..common.paths import SHARED_DATA


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
    for name in (sys.argv[1:] if argv is None else argv):
        print(name, remeasure(Path(name)), "captures measured again", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
