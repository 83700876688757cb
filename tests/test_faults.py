"""Faults: a step that always raises ends in the poison queue with the record failed; a killed worker's
message is redelivered and the request completes once."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import requests

from functions.runtime.step_runner import VERIFICATIONS
from functions.steps.table import STEPS
from local_host import QueueOptions
from tests.conftest import FUNCTION_KEY, Client, png_b64, start_host

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


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(program: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, *program, "--port", str(port), "--lease-seconds", "2", "--log-level", "WARNING"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/health", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError("local host exited at start")
    raise TimeoutError("local host did not start")


def test_a_worker_killed_mid_step_is_redelivered_and_completes_once(tmp_path):
    env = {**os.environ, "BIOAUTH_DATA_DIR": str(tmp_path / "data"), "BIOAUTH_STORAGE": "embedded", "BIOAUTH_RECORDS": "sqlite",
           "BIOAUTH_LOCAL_FUNCTION_KEY": FUNCTION_KEY, "KILL_MARKER": str(tmp_path / "killed")}
    from functions.settings import Settings
    from functions.storage.embedded import SqliteRecordStore

    SqliteRecordStore(Settings.from_env(env).data_dir / "records.sqlite").upsert("subjects", {"id": "alice"})

    port = _free_port()
    dying = _start(["-m", "tests.helpers.host_killed_mid_step"], env, port)
    client = Client(f"http://127.0.0.1:{port}")
    r = client.post("/api/v1/verifications", json=_no_face_request())
    assert r.status_code == 202
    location = r.headers["Location"]
    assert dying.wait(timeout=60) == -signal.SIGKILL  # died inside the decide step
    assert (tmp_path / "killed").exists()

    from functions.storage.embedded import SqliteQueueStore

    queue = SqliteQueueStore(Settings.from_env(env).data_dir / "queue.sqlite")
    watched = ("face-crop", "decide", "review", "decide-poison")
    port2 = _free_port()
    survivor = _start([str(ROOT / "local_host.py")], env, port2)
    try:
        final = Client(f"http://127.0.0.1:{port2}").wait_terminal(location, timeout=60)
        # The killed worker may have died before deleting its face-crop message too: that copy returns after its
        # 2 s lease, finds its result recorded and only passes the request on. Let the survivor drain it.
        deadline = time.time() + 30
        while any(queue.count(q) for q in watched) and time.time() < deadline:
            time.sleep(0.2)
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=30)
    assert final["status"] == "rejected"
    assert final["decision"]["reasons"] == ["no_face"]
    # Each step's result is recorded once: the redelivered copies found it and only passed the request on.
    assert sorted(final["steps"]) == ["decide", "face-crop"]
    assert final["steps"]["face-crop"]["attempt"] == 1  # done before the kill, not redone
    assert final["decision"]["outcome"] == final["steps"]["decide"]["result"]["outcome"]
    records = SqliteRecordStore(Settings.from_env(env).data_dir / "records.sqlite")
    assert records.get(VERIFICATIONS, final["id"])["status"] == "rejected"
    assert all(queue.count(q) == 0 for q in watched)
