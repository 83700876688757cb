"""Fault drill: kill -9 the local host at random moments under mixed traffic; is every request decided exactly once?

    python benchmarks/kill_drill.py [--requests 200] [--devices 8] [--kills 8] [--seed 1]

Devices send `--requests` verifications in all (async and ?mode=sync, half with an Idempotency-Key, half without)
while the host is killed (SIGKILL) at random moments, `--kills` times, and started again each time. A keyed device
retries with its key until it has an answer; an unkeyed one cannot know whether a POST that died was taken, so it
gives up on it (what was taken must still end). Afterwards, from the records and the audit trail:
- stranded: records not in a terminal state once the host has run for a while after the last kill;
- duplicated: keys with more than one record, or records with a step recorded twice;
- decided exactly once: `verification.decided` (or `verification.failed`) events per record;
- sent again: `verification.redriven` events (requests whose first message died with its process).
Exit status 0 when nothing is stranded or duplicated and every record is decided exactly once.
"""

from __future__ import annotations

import argparse
import collections
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.demo import b64, free_port, host_env, launch_host  # noqa: E402

KEY = "kill-drill-key"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    from functions.runtime.step_runner import TERMINAL, VERIFICATIONS
    from functions.settings import Settings
    from functions.storage.audit import SqliteAuditLog
    from functions.storage.embedded import SqliteRecordStore

    work = Path(tempfile.mkdtemp(prefix="kill-drill-"))
    data_dir = work / "data"
    env = host_env(data_dir, KEY, BIOAUTH_SYNC_LEASE_SECONDS="3", BIOAUTH_RATE_LIMIT_PER_MINUTE="0")
    records = SqliteRecordStore(Settings.from_env(env).data_dir / "records.sqlite")
    records.upsert("subjects", {"id": "alice"})
    port = free_port(7391)
    base = f"http://127.0.0.1:{port}"
    blank = b64(np.full((240, 320, 3), 180, np.uint8), "PNG")  # no face: face-crop -> decide, cheap on 2 cores
    host = launch_host(port, env, work / "host.log", "--lease-seconds", "3", "--log-level", "WARNING")

    plan = [(rng.choice(("async", "sync")), i % 2 == 0) for i in range(args.requests)]
    next_request = iter(range(args.requests))
    lock = threading.Lock()
    keyed_ids: dict[str, str] = {}
    answered, given_up, retries = collections.Counter(), 0, 0

    def device(n: int) -> None:
        nonlocal given_up, retries
        http = requests.Session()
        http.headers["x-functions-key"] = KEY
        while True:
            with lock:
                i = next(next_request, None)
            if i is None:
                return
            mode, keyed = plan[i]
            headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}
            body = {"subject_id": "alice", "device_id": f"drill-{n}", "face_image": blank, "signature_image": blank}
            deadline = time.time() + 180
            while time.time() < deadline:
                try:
                    r = http.post(f"{base}/api/v1/verifications?mode={mode}", json=body, headers=headers, timeout=60)
                    if r.status_code in (200, 202):
                        with lock:
                            answered[mode] += 1
                            if keyed:
                                keyed_ids[headers["Idempotency-Key"]] = r.json()["id"]
                        break
                    time.sleep(0.2)  # 503 while the host starts, 429 under a burst: send again
                except requests.RequestException:
                    if not keyed:
                        with lock:
                            given_up += 1
                        break
                    with lock:
                        retries += 1
                    time.sleep(0.3)

    devices = [threading.Thread(target=device, args=(n,)) for n in range(args.devices)]
    t0 = time.time()
    for d in devices:
        d.start()
    kills = 0
    while kills < args.kills and any(d.is_alive() for d in devices):
        time.sleep(rng.uniform(0.5, 4.0))
        host.send_signal(signal.SIGKILL)
        host.wait()
        kills += 1
        host = launch_host(port, env, work / "host.log", "--lease-seconds", "3", "--log-level", "WARNING")
    for d in devices:
        d.join()
    deadline = time.time() + 120
    while time.time() < deadline:
        stored = records.query(VERIFICATIONS, "subject_id", "alice")
        if all(r["status"] in TERMINAL for r in stored):
            break
        time.sleep(0.5)
    host.send_signal(signal.SIGTERM)
    host.wait(timeout=30)
    elapsed = time.time() - t0

    stored = records.query(VERIFICATIONS, "subject_id", "alice")
    events = SqliteAuditLog(data_dir / "records.sqlite").query(limit=100_000)
    decided = collections.Counter(e.verification_id for e in events if e.action in ("verification.decided", "verification.failed"))
    created = collections.Counter(e.verification_id for e in events if e.action == "verification.created")
    redriven = sum(1 for e in events if e.action == "verification.redriven")
    stranded = [r["id"] for r in stored if r["status"] not in TERMINAL]
    ids = {r["id"] for r in stored}
    lost_keyed = [k for k, vid in keyed_ids.items() if vid not in ids]
    not_once = [r["id"] for r in stored if decided[r["id"]] != 1 or created[r["id"]] != 1]
    statuses = collections.Counter(r["status"] for r in stored)
    print(f"{args.requests} requests ({sum(1 for m, _ in plan if m == 'sync')} sync, {sum(1 for _, k in plan if k)} keyed) "
          f"from {args.devices} devices; {kills} kill -9 of the host in {elapsed:.0f} s")
    print(f"answered: {dict(answered)}; keyed retries after a broken connection: {retries}; "
          f"unkeyed POSTs that died with the host: {given_up}")
    print(f"records: {len(stored)} {dict(statuses)}; sent again by recovery: {redriven}")
    print(f"stranded: {len(stranded)}; keyed answers without their record: {len(lost_keyed)}; "
          f"records not created and decided exactly once: {len(not_once)}")
    if args.keep:
        print(f"data folder kept: {data_dir}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not stranded and not lost_keyed and not not_once else 1


if __name__ == "__main__":
    sys.exit(main())
