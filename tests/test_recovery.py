"""A verification whose process dies between creating its record and sending its first message is not stranded:
a keyed retry sends it on at once, the recovery sweep finds the rest, health counts what is left, and a kill -9 at
admission (async and sync, with and without Idempotency-Key) ends with every request decided exactly once."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests

from functions.runtime import intake
from functions.runtime.step_runner import TERMINAL, VERIFICATIONS
from tests.conftest import FUNCTION_KEY, Client, png_b64, start_host
from tests.helpers.servers import free_port, start_local_host, stop_local_host, wait_until_drained

ROOT = Path(__file__).resolve().parent.parent
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _no_face_request(subject="alice", device="kiosk-1"):
    blank = np.full((240, 320, 3), 180, np.uint8)  # no face: the chain goes face-crop -> decide
    return {"subject_id": subject, "device_id": device, "face_image": png_b64(blank), "signature_image": png_b64(blank)}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


class Crashed(Exception):
    """Stands for the process dying between the record and its first message."""


def _strand_next_request(monkeypatch):
    """The next POST creates its record, owned by a process that is gone, and never sends its first message."""
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    monkeypatch.setattr("functions.runtime.intake.outbox_fields",
                        lambda settings: {"outbox": "pending", "outbox_owner": dead, "outbox_until": time.time() + 3600})

    def crash(*args, **kwargs):
        raise Crashed()

    monkeypatch.setattr("functions.http.routes.admit", crash)


def _actions(services, vid):
    return [e.action for e in services.audit.query(limit=1000) if e.verification_id == vid]


def test_a_keyed_retry_of_a_request_stranded_at_admission_sends_it_on_at_once(embedded_services, monkeypatch):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    host = start_host(embedded_services, lease_seconds=10, timer_interval=0)  # no recovery sweep: the retry alone
    try:
        client = Client(host.url)
        body, key = _no_face_request(), {"Idempotency-Key": uuid.uuid4().hex}
        traced = {"X-Request-Id": "kiosk-1.req-7", "traceparent": TRACEPARENT}
        with monkeypatch.context() as m:
            _strand_next_request(m)
            first = client.post("/api/v1/verifications", json=body, headers={**key, **traced})
        assert first.status_code == 500  # the device saw its request die
        (stranded,) = embedded_services.records.query(VERIFICATIONS, "subject_id", "alice")
        assert stranded["status"] == "queued" and stranded["outbox"] == "pending"
        # The first message, when sent again, still names the device's request and joins its trace.
        again = intake.first_message(stranded)
        assert again.request_id == "kiosk-1.req-7" and again.trace["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]
        assert embedded_services.queues.count("face-crop") == 0
        assert _actions(embedded_services, stranded["id"]) == ["verification.created"]  # committed with the record

        retry = client.post("/api/v1/verifications", json=body, headers=key)
        assert retry.status_code == 202 and retry.headers["Idempotent-Replayed"] == "true"
        final = client.get(retry.headers["Location"] + "?wait=20").json()
        assert final["status"] == "rejected" and final["id"] == stranded["id"]
        assert _actions(embedded_services, stranded["id"]) == ["verification.created", "verification.redriven",
                                                               "verification.decided"]
        (redriven,) = [e for e in embedded_services.audit.query(limit=1000) if e.action == "verification.redriven"]
        assert redriven.details["reasons"] == ["keyed_retry"]
        assert "outbox" not in embedded_services.records.get(VERIFICATIONS, stranded["id"])
    finally:
        host.stop()


def test_the_recovery_sweep_sends_on_an_unkeyed_stranded_request_and_health_counts_it(embedded_services, monkeypatch):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    host = start_host(embedded_services, lease_seconds=10, timer_interval=0)
    client = Client(host.url)
    try:
        with monkeypatch.context() as m:
            _strand_next_request(m)
            assert client.post("/api/v1/verifications", json=_no_face_request()).status_code == 500
        (stranded,) = embedded_services.records.query(VERIFICATIONS, "subject_id", "alice")
        # Long past its owner's time and no sweep running: health says so.
        embedded_services.records.replace(VERIFICATIONS, {**stranded, "outbox_until": time.time() - 120}, stranded["_etag"])
        time.sleep(2.1)  # health is measured at most every 2 s
        health = client.get("/api/v1/health").json()
        assert "requests_stranded" in health["problems"] and health["recovery"]["stranded"] == 1
        assert client.get("/api/health").status_code == 503
    finally:
        host.stop()
    redriven_before = intake.redriven_count()
    host = start_host(embedded_services, lease_seconds=10, timer_interval=0.2)  # the sweep runs at start
    client = Client(host.url)
    try:
        final = client.get(f"/api/v1/verifications/{stranded['id']}?wait=20").json()
        assert final["status"] == "rejected"
        assert _actions(embedded_services, stranded["id"]) == ["verification.created", "verification.redriven",
                                                               "verification.decided"]
        time.sleep(2.1)
        health = client.get("/api/v1/health").json()
        assert health["recovery"]["unsent_first_messages"] == 0 and health["recovery"]["stranded"] == 0
        assert health["recovery"]["redriven_by_this_process"] == redriven_before + 1
        assert "requests_stranded" not in health["problems"]
    finally:
        host.stop()


def test_a_sweep_that_finds_the_message_already_queued_does_not_send_it_twice(embedded_services):
    """The owner died after sending, before emptying the outbox: the queue holds the message, so nothing is sent."""
    embedded_services.records.upsert("subjects", {"id": "alice"})
    vid = uuid.uuid4().hex
    record = {"id": vid, "subject_id": "alice", "device_id": "kiosk-1", "status": "queued", "steps": {}, "images": {},
              "outbox": "pending", "outbox_owner": f"{socket.gethostname()}:{_dead_pid()}", "outbox_until": time.time() + 60}
    embedded_services.records.create(VERIFICATIONS, record)
    embedded_services.queues.send("face-crop", intake.first_message(record).to_json())
    assert intake.recover_stranded(embedded_services, "face-crop") == 0
    assert embedded_services.queues.count("face-crop") == 1
    assert "outbox" not in embedded_services.records.get(VERIFICATIONS, vid)
    assert intake.recover_stranded(embedded_services, "face-crop") == 0  # and a second sweep finds nothing to do


def test_an_outbox_whose_owner_lives_is_left_to_it(embedded_services):
    vid = uuid.uuid4().hex
    record = {"id": vid, "subject_id": "alice", "status": "queued", "steps": {}, "images": {},
              **intake.outbox_fields(embedded_services.settings)}  # this process: alive, within its time
    embedded_services.records.create(VERIFICATIONS, record)
    assert intake.recover_stranded(embedded_services, "face-crop") == 0
    assert embedded_services.queues.count("face-crop") == 0


# --- kill -9 at admission -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kill_point", ["before_send", "after_send"])
def test_kill_9_at_admission_leaves_no_request_stranded_or_made_twice(tmp_path, kill_point):
    """Four requests at once (async and sync, with and without a key) are inside admission when the host dies."""
    import concurrent.futures

    from functions.settings import Settings
    from functions.storage.audit import SqliteAuditLog
    from functions.storage.embedded import SqliteQueueStore, SqliteRecordStore

    env = {**os.environ, "BIOAUTH_DATA_DIR": str(tmp_path / "data"), "BIOAUTH_STORAGE": "embedded", "BIOAUTH_RECORDS": "sqlite",
           "BIOAUTH_LOCAL_FUNCTION_KEY": FUNCTION_KEY, "BIOAUTH_SYNC_LEASE_SECONDS": "2", "KILL_POINT": kill_point,
           "KILL_AFTER": "4"}
    data_dir = Settings.from_env(env).data_dir
    records = SqliteRecordStore(data_dir / "records.sqlite")
    records.upsert("subjects", {"id": "alice"})
    port = free_port()
    dying = start_local_host(["-m", "tests.helpers.host_killed_at_admission"], env, port)
    base = f"http://127.0.0.1:{port}"
    kinds = [("async", True), ("async", False), ("sync", True), ("sync", False)]

    def device(n: int) -> dict | None:
        """Sends once; a keyed device retries with its key until it has an answer, an unkeyed one gives up."""
        mode, keyed = kinds[n]
        http = requests.Session()
        http.headers["x-functions-key"] = FUNCTION_KEY
        headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}
        body = _no_face_request(device=f"kiosk-{n}")
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                r = http.post(f"{base}/api/v1/verifications?mode={mode}", json=body, headers=headers, timeout=30)
                if r.status_code in (200, 202):
                    return http.get(f"{base}{r.headers['Location']}?wait=20", timeout=30).json()
            except requests.RequestException:
                if not keyed:
                    return None
            time.sleep(0.3)
        raise AssertionError("no answer in 90 s")

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(device, n) for n in range(4)]
        assert dying.wait(timeout=60) == -signal.SIGKILL
        stranded = records.query(VERIFICATIONS, "subject_id", "alice")
        assert len(stranded) == 4 and all(r["outbox"] == "pending" and r["status"] == "queued" for r in stranded)
        survivor = start_local_host([str(ROOT / "local_host.py")], env, port)
        try:
            answers = [f.result(timeout=120) for f in futures]
            deadline = time.time() + 30
            while any(r["status"] not in TERMINAL for r in records.query(VERIFICATIONS, "subject_id", "alice")):
                assert time.time() < deadline, "a request was left undecided"
                time.sleep(0.2)
            queue = SqliteQueueStore(data_dir / "queue.sqlite")
            wait_until_drained(queue, ("face-crop", "decide"))
        finally:
            stop_local_host(survivor)

    stored = records.query(VERIFICATIONS, "subject_id", "alice")
    assert sorted(r["id"] for r in stored) == sorted(r["id"] for r in stranded)  # none lost, none made twice
    keyed_answers = [answers[n] for n, (_, keyed) in enumerate(kinds) if keyed]
    assert all(a is not None and a["status"] == "rejected" for a in keyed_answers)
    for r in stored:
        assert r["status"] == "rejected" and sorted(r["steps"]) == ["decide", "face-crop"] and "outbox" not in r
    events = SqliteAuditLog(data_dir / "records.sqlite").query(limit=1000)
    for r in stored:
        actions = [e.action for e in events if e.verification_id == r["id"]]
        assert actions.count("verification.created") == 1 and actions.count("verification.decided") == 1, actions
    redriven = [e for e in events if e.action == "verification.redriven"]
    # Sent again only when it never was: after the send, the queue held every message and none went twice.
    assert len(redriven) == (4 if kill_point == "before_send" else 0)
    assert all(queue.count(q) == 0 for q in ("face-crop", "decide"))
