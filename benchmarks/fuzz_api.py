"""Hostile input by generation against a real local host: many generated requests, then oversized-body attacks.

    python benchmarks/fuzz_api.py [--requests 10000] [--seed 1]

Every answer must be a success or a 4xx with a JSON error code; the script
prints the count, the status histogram, every 5xx and dropped connection, and
the host's resident memory (current and peak, from /proc) before and after.
The requests come from the same Hypothesis grammar as the CI sample
(tests/helpers/hostile_requests.py).
"""

from __future__ import annotations

import argparse
import collections
import secrets
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings

from benchmarks.process_memory import memory_mb
from scripts.demo import free_port, start_host
from tests.helpers.hostile_requests import ENROLLED_SUBJECT, hostile_requests
from tests.helpers.raw_http import acceptable, send_raw


def stream_attack(port: int, headers: list[bytes], total: int) -> tuple[str, int]:
    """Declare a body and keep sending it; returns the status line the host answered and how many bytes it took."""
    sent = 0
    chunk = b"[" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"\r\n".join([b"POST /api/v1/verifications HTTP/1.1", b"Host: x"] + headers) + b"\r\n\r\n")
        try:
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the host answered and closed without reading the body
        try:
            answer = sock.recv(4096).split(b"\r\n", 1)[0].decode()
        except OSError as exc:
            answer = f"no answer ({type(exc).__name__})"
    return answer or "connection closed", sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--attack-mib", type=int, default=600, help="size of the oversized bodies streamed at the end")
    args = parser.parse_args(argv)

    data_dir = Path(tempfile.mkdtemp(prefix="bioauth-fuzz-"))
    key = secrets.token_urlsafe(24)
    port = free_port(7073)
    host = start_host(port, data_dir, key)
    try:
        from functions.storage.embedded import SqliteRecordStore

        SqliteRecordStore(data_dir / "records.sqlite").upsert("subjects", {"id": ENROLLED_SUBJECT})
        start_rss, _ = memory_mb(host.pid)
        statuses: collections.Counter = collections.Counter()
        problems: list[str] = []
        sent = 0
        t0 = time.perf_counter()

        @seed(args.seed)
        @settings(max_examples=args.requests, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(request=hostile_requests(key))
        def fire(request) -> None:
            nonlocal sent
            r = send_raw("127.0.0.1", port, request.method, request.target, request.headers, request.body,
                         content_length=request.content_length)
            sent += 1
            statuses[r.status if r.status is not None else "dropped"] += 1
            problem = acceptable(r, request.method)
            if problem is not None:
                problems.append(f"{request.describe()}: {problem}")
            if sent % 1000 == 0:
                print(f"  {sent} requests, {time.perf_counter() - t0:.0f} s, host RSS {memory_mb(host.pid)[0]:.0f} MB", flush=True)

        fire()
        elapsed = time.perf_counter() - t0
        rss, peak = memory_mb(host.pid)
        print(f"\ngenerated requests: {sent} in {elapsed:.0f} s ({sent / elapsed:.0f}/s)")
        print("status histogram: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))))
        print(f"5xx or dropped connections: {sum(v for k, v in statuses.items() if k == 'dropped' or k >= 500)}")
        print(f"answers breaking the rule (5xx, dropped, 4xx without a code): {len(problems)}")
        for line in problems[:20]:
            print("  " + line[:300])
        if problems:
            failures = [line for line in (data_dir / "host.log").read_text(errors="replace").splitlines()
                        if "Error" in line or "failed" in line]
            print("host log, failures:\n  " + "\n  ".join(f[:300] for f in failures[-20:]))
        print(f"host RSS: {start_rss:.0f} MB at start, {rss:.0f} MB after, peak {peak:.0f} MB")

        total = args.attack_mib << 20
        print(f"\noversized bodies ({args.attack_mib} MiB streamed at the host):")
        for name, headers in [
            ("Content-Length: -1 with the key", [b"x-functions-key: " + key.encode(), b"Content-Length: -1"]),
            (f"Content-Length: {total} with the key", [b"x-functions-key: " + key.encode(), b"Content-Length: %d" % total]),
            ("Content-Length: 1000000 without the key", [b"Content-Length: 1000000"]),
            ("Content-Length: abc", [b"x-functions-key: " + key.encode(), b"Content-Length: abc"]),
        ]:
            before, _ = memory_mb(host.pid)
            answer, pushed = stream_attack(port, headers, total)
            after, peak = memory_mb(host.pid)
            print(f"  {name}: answer '{answer}', client pushed {pushed >> 20} MiB before the close; "
                  f"host RSS {before:.0f} -> {after:.0f} MB (peak so far {peak:.0f} MB)")
        return 1 if problems else 0
    finally:
        host.terminate()
        host.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
