"""Fault drill: another process holds the local host's queue database locked (40 s by default), with the
host's default settings. Prints what a device and an operator see during the lock and how long recovery takes.

    python benchmarks/locked_queue.py [--lock-seconds 40]
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.demo import free_port, start_host
from tests.conftest import png_b64
from tests.helpers.queue_lock import hold_lock

TERMINAL = ("accepted", "rejected", "review", "failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock-seconds", type=float, default=40.0)
    args = parser.parse_args(argv)

    data_dir = Path(tempfile.mkdtemp(prefix="bioauth-lock-"))
    key = secrets.token_urlsafe(24)
    port = free_port(7075)
    host = start_host(port, data_dir, key)
    api = requests.Session()
    api.headers["x-functions-key"] = key
    base = f"http://127.0.0.1:{port}/api"
    blank = png_b64(np.full((240, 320, 3), 180, np.uint8))  # no face: face-crop -> decide
    body = {"subject_id": "alice", "device_id": "kiosk", "face_image": blank, "signature_image": blank}
    try:
        from functions.storage.embedded import SqliteRecordStore

        records = SqliteRecordStore(data_dir / "records.sqlite")
        records.upsert("subjects", {"id": "alice"})
        locker = hold_lock(data_dir / "queue.sqlite", args.lock_seconds)
        locked_at = time.monotonic()
        print(f"queue.sqlite locked by another process for {args.lock_seconds:.0f} s")

        t0 = time.monotonic()
        r = api.post(f"{base}/v1/verifications", json=body, timeout=120)
        print(f"  a device's POST: {r.status_code} {r.json().get('error', {}).get('code', r.json().get('status'))} "
              f"after {time.monotonic() - t0:.1f} s, Retry-After {r.headers.get('Retry-After')}; "
              f"records of the subject: {len(records.query('verifications', 'subject_id', 'alice'))}")
        time.sleep(max(0.0, min(15.0, args.lock_seconds - (time.monotonic() - locked_at) - 5)))
        detail = api.get(f"{base}/v1/health", timeout=30).json()
        failing = [p for p in detail["pollers"] if p["consecutive_errors"]]
        print(f"  health after {time.monotonic() - locked_at:.0f} s: {api.get(f'{base}/health', timeout=30).status_code} "
              f"{detail['status']}; pollers alive {sum(p['alive'] for p in detail['pollers'])}/{len(detail['pollers'])}, "
              f"failing {len(failing)} (e.g. {failing[0]['last_error'] if failing else '-'})")
        locker.wait()
        released = time.monotonic()
        print(f"lock released after {released - locked_at:.0f} s")

        while api.get(f"{base}/health", timeout=30).status_code != 200 and time.monotonic() - released < 120:
            time.sleep(0.2)
        detail = api.get(f"{base}/v1/health", timeout=30).json()
        print(f"  health ok again {time.monotonic() - released:.1f} s after the release; pollers alive "
              f"{sum(p['alive'] for p in detail['pollers'])}/{len(detail['pollers'])}")
        t0 = time.monotonic()
        r = api.post(f"{base}/v1/verifications", json=body, timeout=120)
        status = r.json()["status"]
        while status not in TERMINAL and time.monotonic() - t0 < 120:
            time.sleep(0.1)
            status = api.get(f"http://127.0.0.1:{port}{r.headers['Location']}", timeout=30).json()["status"]
        print(f"  a new POST: {r.status_code}, {status} {time.monotonic() - t0:.1f} s later (through the queue)")
        return 0
    finally:
        host.terminate()
        host.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
