"""End-to-end latency on the embedded default: a device's genuine attempt, async (POST, then poll until
terminal) and sync (?mode=sync, one round trip), through real HTTP on localhost.

    python benchmarks/end_to_end.py [--runs 20]

Prints the median and p95 of each path, the median time of each step, and the models used.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from scripts.demo import b64, free_port, start_host
from tests.fixtures.photos import astronaut, capture
from tests.fixtures.signatures import make_signature

ROOT = Path(__file__).resolve().parent.parent


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bioauth" / "bench")
    parser.add_argument("--spoof-action", choices=("reject", "review"), default="review",
                        help="review (default here) runs every step even when the detector says spoof")
    args = parser.parse_args(argv)

    shutil.rmtree(args.data_dir, ignore_errors=True)
    args.data_dir.mkdir(parents=True)
    key = secrets.token_urlsafe(24)
    port = free_port(7072)
    host = start_host(port, args.data_dir, key, BIOAUTH_SPOOF_ACTION=args.spoof_action)
    api = requests.Session()
    api.headers["x-functions-key"] = key
    base = f"http://127.0.0.1:{port}"
    try:
        models = api.get(f"{base}/api/v1/health").json()["models"]
        person = astronaut()
        r = api.post(f"{base}/api/v1/subjects/bench/enrolment", timeout=120, json={
            "face_images": [b64(capture(person, s)) for s in (1, 2, 3)],
            "signature_images": [b64(make_signature(7, s), "PNG") for s in range(4)],
        })
        r.raise_for_status()
        bodies = [{"subject_id": "bench", "device_id": "bench", "face_image": b64(capture(person, 100 + i)),
                   "signature_image": b64(make_signature(7, 100 + i), "PNG")} for i in range(args.runs + 1)]

        def run_async(body):
            t0 = time.perf_counter()
            location = api.post(f"{base}/api/v1/verifications", json=body).headers["Location"]
            while True:
                result = api.get(base + location).json()
                if result["status"] in ("accepted", "rejected", "review", "failed"):
                    return (time.perf_counter() - t0) * 1000, result
                time.sleep(0.005)

        def run_sync(body):
            t0 = time.perf_counter()
            result = api.post(f"{base}/api/v1/verifications?mode=sync", json=body).json()
            return (time.perf_counter() - t0) * 1000, result

        run_sync(bodies[-1])  # warm-up: sessions and detectors are created on first use
        run_async(bodies[-1])
        figures = {}
        for name, fn in (("async", run_async), ("sync", run_sync)):
            times, steps, outcomes = [], {}, {}
            for body in bodies[: args.runs]:
                ms, result = fn(body)
                times.append(ms)
                outcomes[result["status"]] = outcomes.get(result["status"], 0) + 1
                for step, entry in result["steps"].items():
                    steps.setdefault(step, []).append(entry["duration_ms"])
            figures[name] = (times, steps, outcomes)
    finally:
        host.terminate()
        host.wait(timeout=30)

    print(f"end-to-end latency, embedded default, {args.runs} genuine attempts per path, BIOAUTH_SPOOF_ACTION={args.spoof_action}")
    print("models: " + (", ".join(f"{m['name']} {m['version']}" for m in models) or "none"))
    for name, (times, steps, outcomes) in figures.items():
        print(f"\n{name:>5}: median {statistics.median(times):7.1f} ms   p95 {p95(times):7.1f} ms   outcomes {outcomes}")
        for step, values in steps.items():
            print(f"       {step:<11} median {statistics.median(values):7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
