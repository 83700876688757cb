"""How long decide() takes, per policy, on step records shaped as the steps write them (goal: well under 1 ms).

`python benchmarks/decide.py [--n 20000]` prints the median and p99 per policy
over a mix of cases (accepted, review, each veto). It reads the shipped policy
manifest (models/decision/policy.json) for the fused thresholds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from functions.manifests import read_policy  # noqa: E402
from functions.settings import REPO_ROOT  # noqa: E402
from functions.steps.decide import decide  # noqa: E402

BANDS = {"accept_at": 0.41, "review_at": 0.322}
CASES = [
    {"face-crop": {"reason": None, "flags": []}, "antispoof": {"label": "live", "score": 0.98, "llr": 7.4},
     "face-match": {"score": 0.7, **BANDS, "llr": 11.0}, "signature": {"label": "genuine", "score": 0.95, "llr": 3.0}},
    {"face-crop": {"reason": None, "flags": []}, "antispoof": {"label": "live", "score": 0.98, "llr": 7.4},
     "face-match": {"score": 0.38, **BANDS, "llr": 1.0}, "signature": {"label": "uncertain", "score": 0.6, "llr": 0.5}},
    {"face-crop": {"reason": None, "flags": []}, "antispoof": {"label": "live", "score": 0.98, "llr": 7.4},
     "face-match": {"score": 0.1, **BANDS, "llr": -12.0}, "signature": {"label": "forged", "score": 0.1, "llr": -5.0}},
    {"face-crop": {"reason": None, "flags": []}, "antispoof": {"label": "spoof", "score": 0.1, "llr": -7.0}, "face-match": None, "signature": None},
    {"face-crop": {"reason": "no_face", "flags": []}, "antispoof": None, "face-match": None, "signature": None},
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=20000)
    args = p.parse_args()
    thresholds = read_policy(REPO_ROOT / "models")
    out = {}
    for policy in ("all", "fused"):
        times = []
        for k in range(args.n):
            case = CASES[k % len(CASES)]
            t = time.perf_counter()
            decide(case, face_review_margin=0.0, policy=policy, thresholds=thresholds)
            times.append(time.perf_counter() - t)
        times.sort()
        out[policy] = {"median_us": round(statistics.median(times) * 1e6, 1), "p99_us": round(times[int(0.99 * len(times))] * 1e6, 1),
                       "max_us": round(times[-1] * 1e6, 1)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
