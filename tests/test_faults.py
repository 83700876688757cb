"""Faults: a step that always raises ends in the poison queue with the record failed; a killed worker's
message is redelivered and the request completes once."""

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import requests

from functions.runtime.step_runner import VERIFICATIONS
from functions.steps.table import STEPS
from local_host import QueueOptions
from tests.conftest import FUNCTION_KEY, Client, png_b64, start_host
from tests.helpers.queue_lock import hold_lock
from tests.helpers.servers import free_port, start_local_host, stop_local_host, wait_until_drained

ROOT = Path(__file__).resolve().parent.parent


def _no_face_request(subject="alice"):
    blank = np.full((240, 320, 3), 180, np.uint8)  # no face: the chain goes face-crop -> decide
    return {"subject_id": subject, "device_id": "test", "face_image": png_b64(blank), "signature_image": png_b64(blank)}


def test_a_step_failing_every_try_ends_in_poison_and_the_record_says_failed(embedded_services, monkeypatch):
    def broken(ctx):
        raise RuntimeError("decide is broken")

    monkeypatch.setitem(STEPS.steps, "decide", replace(STEPS["decide"], function=broken))
    embedded_services.records.upsert("subjects", {"id": "alice"})
    opts = QueueOptions(batch_size=4, new_batch_threshold=2, max_polling_interval=0.2, visibility_timeout=0.05,
                        max_dequeue_count=embedded_services.settings.max_dequeue_count)
    host = start_host(embedded_services, lease_seconds=10, options=opts)
    try:
        client = Client(host.url)
        r = client.post("/api/v1/verifications", json=_no_face_request())
        assert r.status_code == 202
        final = client.wait_terminal(r.headers["Location"], timeout=30)
        assert final["status"] == "failed"
        assert final["failure"]["step"] == "decide"
        assert final["failure"]["code"] == "step_error"
        assert "RuntimeError" in final["failure"]["message"]
        deadline = time.time() + 10
        while embedded_services.queues.count("decide-poison") == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert embedded_services.queues.count("decide-poison") == 1
        assert embedded_services.queues.count("decide") == 0
        assert client.get("/api/health").status_code == 200  # the service stays up
    finally:
        host.stop()


def test_a_worker_killed_mid_step_is_redelivered_and_completes_once(tmp_path):
    env = {**os.environ, "BIOAUTH_DATA_DIR": str(tmp_path / "data"), "BIOAUTH_STORAGE": "embedded", "BIOAUTH_RECORDS": "sqlite",
           "BIOAUTH_LOCAL_FUNCTION_KEY": FUNCTION_KEY, "KILL_MARKER": str(tmp_path / "killed")}
    from functions.settings import Settings
    from functions.storage.embedded import SqliteRecordStore

    SqliteRecordStore(Settings.from_env(env).data_dir / "records.sqlite").upsert("subjects", {"id": "alice"})

    port = free_port()
    dying = start_local_host(["-m", "tests.helpers.host_killed_mid_step"], env, port)
    client = Client(f"http://127.0.0.1:{port}")
    r = client.post("/api/v1/verifications", json=_no_face_request())
    assert r.status_code == 202
    location = r.headers["Location"]
    assert dying.wait(timeout=60) == -signal.SIGKILL  # died inside the decide step
    assert (tmp_path / "killed").exists()

    from functions.storage.embedded import SqliteQueueStore

    queue = SqliteQueueStore(Settings.from_env(env).data_dir / "queue.sqlite")
    watched = ("face-crop", "decide", "review", "decide-poison")
    port2 = free_port()
    survivor = start_local_host([str(ROOT / "local_host.py")], env, port2)
    try:
        final = Client(f"http://127.0.0.1:{port2}").wait_terminal(location, timeout=60)
        # The killed worker may have died before deleting its face-crop message too: that copy returns after its
        # 2 s lease, finds its result recorded and only passes the request on. Let the survivor drain it.
        wait_until_drained(queue, watched, timeout=30)
    finally:
        stop_local_host(survivor)
    assert final["status"] == "rejected"
    assert final["decision"]["reasons"] == ["no_face"]
    # Each step's result is recorded once: the redelivered copies found it and only passed the request on.
    assert sorted(final["steps"]) == ["decide", "face-crop"]
    assert final["steps"]["face-crop"]["attempt"] == 1  # done before the kill, not redone
    assert final["decision"]["outcome"] == final["steps"]["decide"]["result"]["outcome"]
    records = SqliteRecordStore(Settings.from_env(env).data_dir / "records.sqlite")
    assert records.get(VERIFICATIONS, final["id"])["status"] == "rejected"
    assert all(queue.count(q) == 0 for q in watched)


# --- a queue file held by another process -----------------------------------------------------------------------------

def test_a_locked_queue_file_stops_nothing_for_good_and_loses_nothing(settings_env):
    from functions.runtime.services import get_services
    from functions.storage.embedded import SqliteQueueStore

    settings_env.setenv("BIOAUTH_ENQUEUE_WAIT_SECONDS", "0.5")
    services = get_services()
    services.queues = SqliteQueueStore(services.settings.data_dir / "queue.sqlite", busy_timeout=0.2)
    services.records.upsert("subjects", {"id": "alice"})
    opts = QueueOptions(batch_size=4, new_batch_threshold=2, max_polling_interval=0.2, visibility_timeout=0.1,
                        max_dequeue_count=services.settings.max_dequeue_count)
    host = start_host(services, lease_seconds=10, options=opts)
    client = Client(host.url)
    try:
        locker = hold_lock(services.settings.data_dir / "queue.sqlite", 4)
        r = client.post("/api/v1/verifications", json=_no_face_request())
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "service_unavailable" and int(r.headers["Retry-After"]) > 0
        assert services.records.query(VERIFICATIONS, "subject_id", "alice") == []  # withdrawn: no record without a message
        assert not list((services.settings.data_dir / "blobs" / "images").rglob("face.*"))
        deadline = time.time() + 5
        while time.time() < deadline:
            health = client.get("/api/v1/health")  # the operator's detail
            if any(p.startswith("poller_failing:") for p in health.json()["problems"]):
                break
            time.sleep(0.1)
        assert health.json()["status"] == "degraded"
        assert all(p["alive"] for p in health.json()["pollers"])
        assert client.get("/api/health").status_code == 503  # what an availability probe sees
        assert locker.wait(timeout=30) == 0

        r = client.post("/api/v1/verifications", json=_no_face_request())
        assert r.status_code == 202
        final = client.wait_terminal(r.headers["Location"], timeout=60)
        assert final["status"] == "rejected"  # the pollers came back by themselves
        deadline = time.time() + 10
        while client.get("/api/health").status_code != 200 and time.time() < deadline:
            time.sleep(0.2)
        health = client.get("/api/v1/health").json()
        assert health["status"] == "ok" and len(health["pollers"]) == 7
        assert all(p["alive"] and p["consecutive_errors"] == 0 for p in health["pollers"])
    finally:
        host.stop()


# --- kill -9 during ?mode=sync traffic, devices retrying with their Idempotency-Key ------------------------------------

def test_kill_9_during_sync_traffic_ends_every_request_once(tmp_path):
    import concurrent.futures
    import uuid

    from functions.runtime.intake import keyed_verification_id
    from functions.runtime.step_runner import TERMINAL
    from functions.settings import Settings
    from functions.storage.embedded import SqliteQueueStore, SqliteRecordStore

    env = {**os.environ, "BIOAUTH_DATA_DIR": str(tmp_path / "data"), "BIOAUTH_STORAGE": "embedded", "BIOAUTH_RECORDS": "sqlite",
           "BIOAUTH_LOCAL_FUNCTION_KEY": FUNCTION_KEY, "KILL_MARKER": str(tmp_path / "killed"), "BIOAUTH_SYNC_LEASE_SECONDS": "2"}
    data_dir = Settings.from_env(env).data_dir
    records = SqliteRecordStore(data_dir / "records.sqlite")
    records.upsert("subjects", {"id": "alice"})
    port = free_port()
    dying = start_local_host(["-m", "tests.helpers.host_killed_mid_step"], env, port)  # SIGKILLs itself in its first decide step
    base = f"http://127.0.0.1:{port}"

    def device(n: int) -> list[tuple[str, dict]]:
        """Three sync requests, each retried with its own key until it has an answer."""
        http = requests.Session()
        http.headers["x-functions-key"] = FUNCTION_KEY
        results = []
        for _ in range(3):
            key = uuid.uuid4().hex
            body = {**_no_face_request(), "device_id": f"kiosk-{n}"}
            deadline = time.time() + 90
            while True:
                try:
                    r = http.post(f"{base}/api/v1/verifications?mode=sync", json=body, headers={"Idempotency-Key": key}, timeout=60)
                    if r.status_code in (200, 202):
                        answer = r.json()
                        while answer["status"] not in TERMINAL and time.time() < deadline:
                            time.sleep(0.2)
                            answer = http.get(f"{base}{r.headers['Location']}", timeout=10).json()
                        results.append((key, answer))
                        break
                except requests.RequestException:
                    pass  # the host died under us: retry the same request with the same key
                assert time.time() < deadline, "no answer in 90 s"
                time.sleep(0.3)
        return results

    survivor = None
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(device, n) for n in range(4)]
        assert dying.wait(timeout=60) == -signal.SIGKILL
        survivor = start_local_host([str(ROOT / "local_host.py")], env, port)
        try:
            answers = [a for f in futures for a in f.result(timeout=120)]
            queue = SqliteQueueStore(data_dir / "queue.sqlite")
            wait_until_drained(queue, ("face-crop", "decide"))
        finally:
            stop_local_host(survivor)

    assert len(answers) == 12 and all(a["status"] == "rejected" for _, a in answers)
    stored = records.query(VERIFICATIONS, "subject_id", "alice")
    expected = {keyed_verification_id(a["device_id"], key) for key, a in answers}
    assert sorted(r["id"] for r in stored) == sorted(expected)  # one record per request: no duplicates, none lost
    assert {a["id"] for _, a in answers} == expected
    assert all(r["status"] == "rejected" and sorted(r["steps"]) == ["decide", "face-crop"] for r in stored)
    assert any(r["steps"]["decide"]["runner"] == "queue" for r in stored)  # at least one was finished by the queue after the kill
    assert all(queue.count(q) == 0 for q in ("face-crop", "decide"))


def test_a_failing_blob_write_makes_health_degraded(embedded_services, monkeypatch):
    class FullDisk:
        backend = embedded_services.blobs.backend

        def put(self, *args, **kwargs):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(embedded_services, "blobs", FullDisk())
    host = start_host(embedded_services, lease_seconds=10)
    try:
        client = Client(host.url)
        detail = client.get("/api/v1/health").json()
        assert detail["status"] == "degraded" and "blob_write_failing" in detail["problems"]
        assert detail["blob_write"] == {"ok": False, "error": "OSError"}
        assert client.get("/api/health").status_code == 503
    finally:
        host.stop()
