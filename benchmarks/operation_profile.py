"""What one verification costs in storage operations: the counted profile the Azure cost model and scale plan read.

    python benchmarks/operation_profile.py [--backend embedded|azurite|both] [--repeats 2] [--out benchmarks/report]

Runs the service in this process (the local host with its queue pollers, the real models, real SQLite, and
with `azurite` the real Azure Blob and Queue SDKs against an Azurite it starts on free ports), wraps the
storage objects the service builds with counting proxies, and counts for each kind of verification:

- executions: HTTP invocations and queue-triggered step runs (each is one billed Functions execution);
- queue messages: sends, receives (calls and messages taken), deletes, lease renewals, with message sizes;
- blob writes and reads with the stored (encrypted) sizes;
- record reads, creates, replaces, upserts and queries, with document sizes, and audit appends (a record
  create in Cosmos DB);
- Key Vault secret reads (only when an instance starts) and outbound calls (callbacks, the review webhook).

Kinds: sync accepted, sync review, async accepted and async review each read once with `?wait=20`, async
with a callback only (no read). The held read is served by a second process (a host without queue
pollers, on the same storage), so the decision is made in another process than the one holding the read,
as on Azure; its record reads are counted in that process. Then a held read whose record is decided by
another process after a set delay (1 s, 5 s, never within the 20 s wait) shows what a read costs as a
function of how long it waits.

Writes `operation-profile-<date>.json` and `.md` under the output folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report_files import write_report  # noqa: E402 - after the path
from tests.helpers.receivers import Receiver  # noqa: E402
from tests.helpers.servers import start_azurite  # noqa: E402

FUNCTION_KEY = "profile-function-key"
WAIT_SECONDS = 20
HELD_READ_DELAYS: tuple[float | None, ...] = (1.0, 5.0, None)
TERMINAL = ("accepted", "rejected", "review", "failed")


# --- counting ---------------------------------------------------------------------------------------------

class Tally:
    """Operation counts and byte totals, by (kind, operation); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = defaultdict(int)
        self.bytes: dict[str, int] = defaultdict(int)
        self.sizes: dict[str, list[int]] = defaultdict(list)

    def add(self, key: str, size: int | None = None, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n
            if size is not None:
                self.bytes[key] += size
                self.sizes[key].append(size)

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.bytes.clear()
            self.sizes.clear()

    def snapshot(self) -> dict:
        with self._lock:
            return {"counts": dict(sorted(self.counts.items())), "bytes": dict(sorted(self.bytes.items())),
                    "sizes": {k: sorted(v) for k, v in sorted(self.sizes.items())}}


TALLY = Tally()


def _doc_size(doc: dict | None) -> int:
    return len(json.dumps(doc, default=str).encode()) if doc is not None else 0


class CountingBlobs:
    """The blob (or file) store under the encryption layer: counts what is stored, at its stored size."""

    def __init__(self, inner):
        self.inner = inner

    def put(self, container, name, data, content_type="application/octet-stream"):
        TALLY.add(f"blob.write.{container}", len(data))
        return self.inner.put(container, name, data, content_type)

    def get(self, ref):
        data = self.inner.get(ref)
        TALLY.add(f"blob.read.{ref.partition('/')[0]}", len(data))
        return data

    def delete_prefix(self, container, prefix):
        n = self.inner.delete_prefix(container, prefix)
        TALLY.add(f"blob.list.{container}")
        TALLY.add(f"blob.delete.{container}", n=n)
        return n

    def __getattr__(self, name):
        return getattr(self.inner, name)


class CountingRecords:
    """The record store (SQLite here, Cosmos DB in Azure): one count per point read, write and query."""

    def __init__(self, inner):
        self.inner = inner
        self.backend = inner.backend

    def get(self, container, id):
        doc = self.inner.get(container, id)
        TALLY.add(f"record.read.{container}", _doc_size(doc))
        return doc

    def create(self, container, doc):
        TALLY.add(f"record.create.{container}", _doc_size(doc))
        return self.inner.create(container, doc)

    def replace(self, container, doc, etag):
        TALLY.add(f"record.replace.{container}", _doc_size(doc))
        return self.inner.replace(container, doc, etag)

    def upsert(self, container, doc):
        TALLY.add(f"record.upsert.{container}", _doc_size(doc))
        return self.inner.upsert(container, doc)

    def delete(self, container, id):
        TALLY.add(f"record.delete.{container}")
        return self.inner.delete(container, id)

    def query(self, container, field, value):
        docs = self.inner.query(container, field, value)
        TALLY.add(f"record.query.{container}", sum(_doc_size(d) for d in docs))
        return docs

    def __getattr__(self, name):
        return getattr(self.inner, name)


class CountingQueues:
    """The queue store: a hand-on is counted as what it is on Storage queues (its sends, then one delete)."""

    def __init__(self, inner):
        self.inner = inner
        self.backend = inner.backend

    def send(self, queue, text, visibility_delay=0.0):
        TALLY.add(f"queue.send.{queue}", len(text.encode()))
        return self.inner.send(queue, text, visibility_delay)

    def receive(self, queue, max_messages, lease_seconds):
        got = self.inner.receive(queue, max_messages, lease_seconds)
        TALLY.add(f"queue.receive_call.{queue}")
        for m in got:
            TALLY.add(f"queue.received.{queue}", len(m.text.encode()))
        return got

    def delete(self, queue, message):
        TALLY.add(f"queue.delete.{queue}")
        return self.inner.delete(queue, message)

    def hand_on(self, queue, message, sends):
        for q, text in sends:
            TALLY.add(f"queue.send.{q}", len(text.encode()))
        TALLY.add(f"queue.delete.{queue}")
        return self.inner.hand_on(queue, message, sends)

    def release(self, queue, message, delay_seconds):
        TALLY.add(f"queue.release.{queue}")
        return self.inner.release(queue, message, delay_seconds)

    def renew(self, queue, message, lease_seconds):
        TALLY.add(f"queue.renew.{queue}")
        return self.inner.renew(queue, message, lease_seconds)

    def __getattr__(self, name):  # count, oldest_age, forget, ensure_queues: not on a verification's path
        return getattr(self.inner, name)


class CountingAudit:
    def __init__(self, inner):
        self.inner = inner

    def append(self, event):
        TALLY.add("record.create.audit", _doc_size(dataclasses.asdict(event)))
        return self.inner.append(event)

    def commit(self, events, writes=()):
        """Record writes committed with their audit events (one transaction on SQLite; in order on Cosmos DB):
        each counted as the write it is on the record store, each event as an audit create."""
        for w in writes:
            kind = "upsert" if w.upsert else "create" if w.etag is None else "replace"
            TALLY.add(f"record.{kind}.{w.container}", _doc_size(w.doc))
        for event in events:
            TALLY.add("record.create.audit", _doc_size(dataclasses.asdict(event)))
        return self.inner.commit(events, writes)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class CountingLogHandler(logging.Handler):
    """Log records at Information and above, as host.json sends them to Application Insights: count and bytes,
    by the logger's first name (bioauth, azure, ...)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            size = len(self.format(record).encode())
        except Exception:  # noqa: BLE001 - a record that does not format is still a record
            size = 0
        TALLY.add(f"log.{record.name.split('.')[0]}", size)


def count_logs() -> None:
    """Records at INFO (host.json's default level) are counted; only warnings reach the console."""
    root = logging.getLogger()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for handler in root.handlers:
        handler.setLevel(logging.WARNING)
    root.setLevel(logging.INFO)
    root.addHandler(CountingLogHandler())


def instrument(services) -> None:
    """Wrap the objects the service built (functions/runtime/services.py) in place, before any host uses them."""
    services.blobs.inner = CountingBlobs(services.blobs.inner)
    counted = CountingRecords(services.records)
    services.records = counted
    services.credentials.records = counted
    services.audit = CountingAudit(services.audit)
    services.queues = CountingQueues(services.queues)


def instrument_outbound_and_executions() -> None:
    """Outbound POSTs (callbacks, the review webhook) and the host's invocations (each a Functions execution)."""
    import local_host
    from functions.runtime import outbound

    post_once = outbound.post_once

    def counted_post_once(dest, body, headers, policy, deadline_seconds):
        TALLY.add("outbound.post", len(body))
        return post_once(dest, body, headers, policy, deadline_seconds)

    outbound.post_once = counted_post_once

    invoke, invoke_queue = local_host.LocalHost.invoke, local_host.LocalHost._invoke_queue

    def counted_invoke(self, resolved, method, raw_path, headers, body):
        t0 = time.perf_counter()
        try:
            return invoke(self, resolved, method, raw_path, headers, body)
        finally:
            ms = round((time.perf_counter() - t0) * 1000)
            TALLY.add(f"execution.http.{resolved.function.name}", ms)  # the "bytes" of an execution: its wall ms

    def counted_invoke_queue(self, qf, m):
        t0 = time.perf_counter()
        try:
            return invoke_queue(self, qf, m)
        finally:
            TALLY.add(f"execution.queue.{qf.queue}", round((time.perf_counter() - t0) * 1000))

    local_host.LocalHost.invoke = counted_invoke
    local_host.LocalHost._invoke_queue = counted_invoke_queue


def count_secret_reads() -> None:
    """Key Vault: every secret the process reads when its services open (once per instance, not per request)."""
    from functions.crypto import service_secrets as keys
    from functions.runtime import services as services_module

    load_local = services_module.load_local_secrets

    def counted_local(data_dir, secrets_file=None):
        TALLY.add("keyvault.secret_get", n=len(keys.SECRET_NAMES))
        return load_local(data_dir, secrets_file)

    services_module.load_local_secrets = counted_local


# --- the process that holds the read -------------------------------------------------------------------------

def reader_main() -> int:
    """A second host on the same storage, HTTP only (no queue pollers): it serves the held read and reports its
    counts. Commands on stdin: `reset`, `counts`, `quit`; answers on stdout, one JSON line each."""
    count_logs()
    from function_app import app
    from functions.runtime.services import get_services
    from local_host import LocalHost

    instrument_outbound_and_executions()
    services = get_services()
    instrument(services)
    host = LocalHost(app, services, port=0, function_key=FUNCTION_KEY, lease_seconds=30)
    host.queue_functions = []  # it never takes a step's message: every decision is made in the other process
    host.start()
    print(json.dumps({"port": host.port}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "reset":
            TALLY.reset()
            print(json.dumps({"ok": True}), flush=True)
        elif command == "counts":
            print(json.dumps(TALLY.snapshot()), flush=True)
        elif command == "quit":
            break
    host.stop()
    return 0


class Reader:
    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, __file__, "--reader"], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=sys.stderr, text=True, cwd=str(ROOT))
        self.port = json.loads(self.proc.stdout.readline())["port"]

    def command(self, text: str) -> dict:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001 - it is ended either way
            self.proc.kill()


# --- the runs ----------------------------------------------------------------------------------------------

def b64(image, fmt: str) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, quality=92)
    return base64.b64encode(buf.getvalue()).decode()


def underneath(store):
    while hasattr(store, "inner"):
        store = store.inner
    return store


def drain(services, timeout: float = 60.0) -> None:
    """Until every step queue is empty (looked at under the counting proxies)."""
    from functions.steps.table import STEPS

    queues = underneath(services.queues)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(queues.count(q) for q in STEPS.queues):
        time.sleep(0.05)
    time.sleep(0.2)


def settle(services, vid: str, needs: tuple[str, ...], timeout: float = 60.0) -> dict:
    """Wait until the record is decided, the named after-decision steps are recorded and every step queue is
    empty, so the next verification's operations are not mixed with this one's. It looks through the stores
    underneath the counting proxies, so its own looking is not counted."""
    from functions.steps.table import STEPS

    records = underneath(services.records)
    queues = underneath(services.queues)
    deadline = time.monotonic() + timeout
    record = None
    while time.monotonic() < deadline:
        record = records.get("verifications", vid)
        done = record and record["status"] in TERMINAL and all(s in record.get("steps", {}) for s in needs)
        if done and all(queues.count(q) == 0 for q in STEPS.queues):
            time.sleep(0.2)  # the poller's empty receive after the last hand-on belongs to this verification
            return record
        time.sleep(0.05)
    decision = (record or {}).get("decision") or {}
    raise TimeoutError(f"verification {vid} not settled: {record and record.get('status')} {decision.get('reasons')}, "
                       f"steps {sorted((record or {}).get('steps', {}))}, waiting for {list(needs)}")


def profile_backend(backend: str, repeats: int, work: Path) -> dict:
    import requests

    from function_app import app
    from functions import settings as settings_module
    from functions.runtime.services import get_services, set_services
    from local_host import LocalHost
    from tests.fixtures.photos import astronaut, capture
    from tests.fixtures.signatures import make_signature

    receiver = Receiver()
    azurite = None
    env = {"BIOAUTH_DATA_DIR": str(work / backend), "BIOAUTH_STORAGE": "embedded", "BIOAUTH_RECORDS": "sqlite",
           "BIOAUTH_LOCAL_FUNCTION_KEY": FUNCTION_KEY, "BIOAUTH_ALLOW_LOOPBACK_CALLBACKS": "true",
           "BIOAUTH_REVIEW_WEBHOOK_URL": f"http://127.0.0.1:{receiver.port}/review",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if backend == "azurite":
        azurite, conn = start_azurite(ROOT / "node_modules/.bin/azurite")
        env.update({"BIOAUTH_STORAGE": "azure", "AzureWebJobsStorage": conn})
    os.environ.update(env)
    settings_module.reset_settings()
    set_services(None)

    TALLY.reset()
    services = get_services()
    startup = TALLY.snapshot()  # the secrets one instance reads as it starts
    instrument(services)
    host = LocalHost(app, services, port=0, function_key=FUNCTION_KEY, lease_seconds=30).start()
    reader = Reader({**os.environ})
    result: dict = {"backend": backend, "blobs": services.blobs.backend, "queues": services.queues.backend,
                    "records": services.records.backend, "instance_start": startup["counts"], "kinds": {}}
    try:
        issue = services.credentials.issue
        device = issue("device", "kiosk-1", created_by="profile").token
        operator = issue("operator", "olivia", name="Olivia", created_by="profile").token
        dev = requests.Session()
        dev.headers["Authorization"] = f"Bearer {device}"
        person = astronaut()
        TALLY.reset()
        r = requests.post(f"{host.url}/api/v1/subjects/profiled/enrolment", timeout=300,
                          headers={"Authorization": f"Bearer {operator}"}, json={
                              "face_images": [b64(capture(person, s), "JPEG") for s in (1, 2, 3)],
                              "signature_images": [b64(make_signature(7, s), "PNG") for s in range(4)]})
        r.raise_for_status()
        result["enrolment"] = TALLY.snapshot()

        def body(i: int, review: bool, callback: bool) -> dict:
            face = capture(person, 1000 + i)
            # A review case: her face with another writer's signature, a conflict of evidence that a person decides.
            writer = 8 if review else 7
            b = {"subject_id": "profiled", "device_id": "kiosk-1", "face_image": b64(face, "JPEG"),
                 "signature_image": b64(make_signature(writer, 1000 + i), "PNG")}
            if callback:
                b["callback_url"] = f"http://127.0.0.1:{receiver.port}/callback"
            return b

        # Which genuine captures the shipped models accept outright (the synthetic signatures and camera
        # simulation leave some in doubt): found first, with sync requests that are not counted.
        accepted_seeds: list[int] = []
        for i in range(1, 61):
            if len(accepted_seeds) >= 3 * repeats:
                break
            if dev.post(f"{host.url}/api/v1/verifications?mode=sync", json=body(i, False, False),
                        timeout=120).json()["status"] == "accepted":
                accepted_seeds.append(i)
        drain(services)  # the screening's review steps run on their queue
        result["accepted_seeds"] = accepted_seeds
        review_seeds = iter(range(100, 200))
        accepted_iter = iter(accepted_seeds)

        kinds = {  # name: (sync, review, callback, held read)
            "sync-accepted": (True, False, False, False),
            "sync-review": (True, True, False, False),
            "async-wait-accepted": (False, False, False, True),
            "async-wait-review": (False, True, False, True),
            "async-callback-accepted": (False, False, True, False),
            "async-callback-review": (False, True, True, False),
        }
        for name, (sync, review, callback, held) in kinds.items():
            runs = []
            for _ in range(repeats):
                n = next(review_seeds) if review else next(accepted_iter)
                TALLY.reset()
                reader.command("reset")
                t0 = time.perf_counter()
                answer = dev.post(f"{host.url}/api/v1/verifications" + ("?mode=sync" if sync else ""),
                                  json=body(n, review, callback), timeout=120)
                answer.raise_for_status()
                vid = answer.json()["id"]
                read_status = None
                if held:
                    got = dev.get(f"http://127.0.0.1:{reader.port}/api/v1/verifications/{vid}?wait={WAIT_SECONDS}",
                                  timeout=WAIT_SECONDS + 30)
                    read_status = got.json()["status"]
                decided_after = time.perf_counter() - t0
                needs = (("review",) if review else ()) + (("notify",) if callback else ())
                record = settle(services, vid, needs)
                runs.append({"status": record["status"], "held_read_status": read_status,
                             "reasons": (record.get("decision") or {}).get("reasons"),
                             "steps": list(record.get("steps", {})),
                             "seconds_to_answer": round(decided_after, 3), "decider": TALLY.snapshot(),
                             "reader": reader.command("counts"), "record_bytes": _doc_size(record)})
            result["kinds"][name] = runs

        # A held read of a record decided by another process after `delay` seconds (None: not within the wait).
        result["held_read_by_delay"] = []
        for delay in HELD_READ_DELAYS:
            vid = f"held-{secrets.token_hex(6)}"
            underneath(services.records).create("verifications", {
                "id": vid, "subject_id": "profiled", "device_id": "kiosk-1", "status": "queued", "steps": {},
                "images": {}, "created_at": dt.datetime.now(dt.timezone.utc).isoformat()})
            reader.command("reset")
            timer = None
            if delay is not None:
                from functions.storage import update_record

                timer = threading.Timer(delay, lambda v=vid: update_record(
                    underneath(services.records), "verifications", v, lambda d: {**d, "status": "accepted"}))
                timer.start()
            t0 = time.perf_counter()
            got = dev.get(f"http://127.0.0.1:{reader.port}/api/v1/verifications/{vid}?wait={WAIT_SECONDS}",
                          timeout=WAIT_SECONDS + 30).json()
            held_for = time.perf_counter() - t0
            counts = reader.command("counts")["counts"]
            result["held_read_by_delay"].append({
                "decided_after_seconds": delay, "wait_seconds": WAIT_SECONDS, "status_seen": got["status"],
                "held_for_seconds": round(held_for, 3),
                "seen_late_by_seconds": None if delay is None else round(held_for - delay, 3),
                "verification_reads": counts.get("record.read.verifications", 0),
                "credential_reads": counts.get("record.read.credentials", 0)})
            if timer:
                timer.join()
    finally:
        reader.close()
        host.stop()
        receiver.close()
        set_services(None)
        if azurite:
            azurite.terminate()
            azurite.wait(timeout=10)
    return result


# --- the summary --------------------------------------------------------------------------------------------

def per_verification(runs: list[dict]) -> dict:
    """Counts and bytes per verification (mean over the runs), decider and reader together."""
    counts: dict[str, float] = defaultdict(float)
    sizes: dict[str, float] = defaultdict(float)
    for run in runs:
        for side in ("decider", "reader"):
            for k, v in run[side]["counts"].items():
                counts[k] += v / len(runs)
            for k, v in run[side]["bytes"].items():
                sizes[k] += v / len(runs)
    return {"counts": dict(sorted(counts.items())), "bytes": dict(sorted(sizes.items()))}


def grouped(counts: dict[str, float]) -> dict[str, float]:
    """Totals by kind and operation (the container or queue dropped)."""
    out: dict[str, float] = defaultdict(float)
    for k, v in counts.items():
        out[".".join(k.split(".")[:2])] += v
    return dict(sorted(out.items()))


def markdown(report: dict) -> str:
    lines = [f"# Operation profile of one verification ({report['date']})", "",
             f"Written by `benchmarks/operation_profile.py` at commit {report['commit']}; {report['repeats']} "
             "verifications of each kind per backend, one at a time; counts are per verification (mean).",
             "A hand-on counts as its sends plus one delete; `queue.receive_call` counts the local host's poller "
             "calls (on Azure the Functions host's own polling sets that figure). Sizes are as stored (images, crops "
             "and review copies encrypted); an execution's figure is its wall time; `log.*` are records at "
             "Information and above (what host.json sends to Application Insights).", ""]
    for b in report["backends"]:
        lines += [f"## {b['backend']}: blobs {b['blobs']}, queues {b['queues']}, records {b['records']}", "",
                  f"Instance start: {b['instance_start']}", ""]
        names = list(b["kinds"])
        table = {name: per_verification(runs) for name, runs in b["kinds"].items()}
        keys = sorted({k for t in table.values() for k in t["counts"]})
        lines += ["| operation | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
        for k in keys:
            cells = []
            for name in names:
                c = table[name]["counts"].get(k, 0)
                size = table[name]["bytes"].get(k)
                if k.startswith("execution."):  # an execution's total is its wall time
                    cells.append("" if not c else f"{c:g} ({size or 0:.0f} ms)")
                else:
                    cells.append("" if not c else (f"{c:g}" + (f" ({size / 1024:.1f} KiB)" if size else "")))
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        lines += ["", "Outcome and time to the answer (s): " + "; ".join(
            f"{name} {', '.join(r['status'] for r in runs)} "
            f"{', '.join(str(r['seconds_to_answer']) for r in runs)}" for name, runs in b["kinds"].items()), ""]
        lines += ["Held read (`?wait=20`, another process) of a record decided elsewhere after a delay:", "",
                  "| decided after (s) | held for (s) | seen late by (s) | verification reads | credential reads |",
                  "| --- | --- | --- | --- | --- |"]
        for h in b["held_read_by_delay"]:
            lines.append(f"| {h['decided_after_seconds'] if h['decided_after_seconds'] is not None else 'not within 20 s'} "
                         f"| {h['held_for_seconds']} | {h['seen_late_by_seconds']} | {h['verification_reads']} "
                         f"| {h['credential_reads']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("embedded", "azurite", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "report")
    parser.add_argument("--label", default="", help="added to the file names (e.g. before, after)")
    parser.add_argument("--reader", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reader:
        return reader_main()
    count_logs()
    instrument_outbound_and_executions()
    count_secret_reads()
    backends = ("embedded", "azurite") if args.backend == "both" else (args.backend,)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    today = dt.date.today().isoformat()
    report = {"date": today, "commit": commit, "repeats": args.repeats, "backends": []}
    with tempfile.TemporaryDirectory(prefix="bioauth-profile-") as tmp:
        for backend in backends:
            report["backends"].append(profile_backend(backend, args.repeats, Path(tmp)))
    for b in report["backends"]:
        b["per_verification"] = {name: per_verification(runs) for name, runs in b["kinds"].items()}
    stem = f"operation-profile-{today}" + (f"-{args.label}" if args.label else "")
    write_report(args.out, stem, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
