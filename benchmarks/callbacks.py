"""Callbacks under hostile receivers, through the local host: does one slow or redirecting receiver hold back others?

    python benchmarks/callbacks.py [--slow 12] [--fast 6] [--deadline 5]

Devices call back to three receivers on 127.0.0.1: one that answers one byte
every five seconds (`--slow` verifications), one that redirects every POST to
itself, and prompt ones (`--fast` verifications, sent after the others).
Prints how long each prompt device waited for its callback, how many POSTs
the redirecting receiver got, and how long the slow receiver held each
connection. The loopback allowance (BIOAUTH_ALLOW_LOOPBACK_CALLBACKS) is set
for this run only.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.demo import b64, free_port, start_host
from tests.helpers.receivers import Receiver, SlowReceiver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=12, help="verifications calling back to the slow receiver")
    parser.add_argument("--fast", type=int, default=6, help="verifications calling back to prompt receivers")
    parser.add_argument("--deadline", type=float, default=5.0, help="BIOAUTH_DELIVERY_DEADLINE_SECONDS")
    parser.add_argument("--watch", type=float, default=30.0, help="seconds to count the redirecting receiver's POSTs")
    args = parser.parse_args(argv)

    data_dir = Path(tempfile.mkdtemp(prefix="bioauth-callbacks-"))
    key, port = secrets.token_urlsafe(16), free_port(7091)
    host = start_host(port, data_dir, key, BIOAUTH_ALLOW_LOOPBACK_CALLBACKS="true",
                      BIOAUTH_DELIVERY_DEADLINE_SECONDS=str(args.deadline))
    slow, redirecting = SlowReceiver(interval=5.0), Receiver(statuses=(307,))
    fast = [Receiver() for _ in range(args.fast)]
    try:
        from functions.storage.embedded import SqliteRecordStore

        SqliteRecordStore(data_dir / "records.sqlite").upsert("subjects", {"id": "bench"})
        api = requests.Session()
        api.headers["x-functions-key"] = key
        blank = b64(np.full((240, 320, 3), 190, np.uint8))  # no face: rejected at once, then the callback

        def post(callback: str, device: str) -> None:
            r = api.post(f"http://127.0.0.1:{port}/api/v1/verifications", timeout=60, json={
                "subject_id": "bench", "device_id": device, "face_image": blank, "signature_image": blank, "callback_url": callback})
            r.raise_for_status()

        for i in range(args.slow):
            post(slow.url, f"slow-{i}")
        post(redirecting.url, "redirected")
        started = []
        for i, receiver in enumerate(fast):
            started.append(time.monotonic())
            post(receiver.url, f"prompt-{i}")
            time.sleep(0.5)
        waits = []
        for t0, receiver in zip(started, fast):
            while not receiver.calls and time.monotonic() - t0 < 300:
                time.sleep(0.02)
            waits.append(time.monotonic() - t0 if receiver.calls else float("inf"))
        time.sleep(max(0.0, args.watch - (time.monotonic() - started[0])))
        holds = [c["hung_up"] - c["opened"] for c in slow.connections if c["hung_up"] is not None]
        print(f"deadline {args.deadline:g} s; {args.slow} callbacks to a 1 byte / 5 s receiver, 1 to a self-redirecting one,"
              f" then {args.fast} to prompt receivers")
        print(f"prompt callbacks: {sum(w != float('inf') for w in waits)}/{len(waits)} arrived; wait from POST:"
              f" median {statistics.median(waits):.2f} s, max {max(waits):.2f} s")
        print(f"self-redirecting receiver: {len(redirecting.calls)} POST(s) in {args.watch:g} s")
        print(f"slow receiver: {len(slow.connections)} connections in {args.watch:g} s; held at most"
              f" {max(holds, default=0):.1f} s each (cut by the sender), bytes of the answer sent at most"
              f" {max((c['bytes_sent'] for c in slow.connections), default=0)}")
    finally:
        host.terminate()
        host.wait(timeout=30)
        slow.close()
        redirecting.close()
        for receiver in fast:
            receiver.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
