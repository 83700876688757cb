"""`python local_host.py` as a user runs it: a busy port, where the key and the logs are, third-party noise kept
off the console, a line when it stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import FUNCTION_KEY
from tests.helpers.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOAUTH_")}
    return {**env, "BIOAUTH_DATA_DIR": str(tmp_path / "data"), "BIOAUTH_STORAGE": "embedded", "BIOAUTH_RECORDS": "sqlite",
            **extra}


def test_a_busy_port_asked_for_is_said_plainly(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, str(ROOT / "local_host.py"), "--port", str(port)], cwd=tmp_path,
                             env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in run.stderr and "--port" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_busy_default_port_gives_the_next_free_one(embedded_services):
    from function_app import app
    from local_host import DEFAULT_PORT, open_host

    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", DEFAULT_PORT))
        blocker.listen()
    except OSError:
        pass  # already taken by something else: busy either way
    try:
        host = open_host(app, embedded_services, None, "127.0.0.1", 10)
        try:
            assert host.port != DEFAULT_PORT
        finally:
            host.server.server_close()
    finally:
        blocker.close()


def test_console_shows_the_hosts_lines_the_log_file_has_the_rest_and_a_stop_is_said(tmp_path, astronaut):
    from scripts.demo import b64
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    port = free_port()
    log_file = tmp_path / "host.log"
    host = subprocess.Popen([sys.executable, str(ROOT / "local_host.py"), "--port", str(port), "--log-file", str(log_file)],
                            cwd=tmp_path, env=_env(tmp_path, BIOAUTH_LOCAL_FUNCTION_KEY=FUNCTION_KEY),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/api"
        for _ in range(300):
            try:
                if requests.get(f"{base}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        enrolment = {"face_images": [b64(capture(astronaut, 1))], "signature_images": [b64(make_signature(7, s), "PNG") for s in range(3)]}
        answer = requests.post(f"{base}/v1/subjects/astronaut/enrolment", json=enrolment, timeout=120,
                               headers={"x-functions-key": FUNCTION_KEY})
        assert answer.status_code == 201, answer.text  # MediaPipe and ONNX Runtime have run in the host
    finally:
        host.send_signal(signal.SIGTERM)
        out, err = host.communicate(timeout=60)
    console = out + err
    assert f"http://127.0.0.1:{port}/api" in out and "BIOAUTH_LOCAL_FUNCTION_KEY" in out and str(log_file) in out
    assert out.rstrip().endswith("bioauth local host: stopped")
    for noise in ("absl", "XNNPACK", "W0000", "inference_feedback_manager"):
        assert noise not in console, f"{noise!r} reached the console"
    logged = log_file.read_text()
    assert "local host on" in logged and "XNNPACK" in logged  # the native library's lines are kept in the file
    assert FUNCTION_KEY not in logged


def _wait_healthy(base: str, tries: int = 300) -> None:
    for _ in range(tries):
        try:
            if requests.get(f"{base}/health", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError("the host did not answer its health route")


def test_worker_processes_share_the_port_and_the_queues_and_a_dead_one_is_started_again(tmp_path, astronaut):
    import psutil

    from scripts.demo import b64
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    key = {"x-functions-key": FUNCTION_KEY}
    host = subprocess.Popen([sys.executable, str(ROOT / "local_host.py"), "--port", str(port), "--workers", "2",
                             "--log-file", str(tmp_path / "host.log")], cwd=tmp_path,
                            env=_env(tmp_path, BIOAUTH_LOCAL_FUNCTION_KEY=FUNCTION_KEY),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = psutil.Process(host.pid)
    try:
        _wait_healthy(base)
        for _ in range(100):
            workers = first.children()
            if workers:
                break
            time.sleep(0.1)
        assert len(workers) == 1 and "--worker-index" in workers[0].cmdline()
        enrolment = {"face_images": [b64(capture(astronaut, 1))],
                     "signature_images": [b64(make_signature(7, s), "PNG") for s in range(3)]}
        assert requests.post(f"{base}/v1/subjects/astronaut/enrolment", json=enrolment, headers=key,
                             timeout=120).status_code == 201
        _wait_healthy(base)  # the second worker answers too once its own models are loaded

        # With the first worker frozen, the second one alone takes the connection and runs every step.
        first.suspend()
        try:
            attempt = {"subject_id": "astronaut", "device_id": "kiosk-1", "face_image": b64(capture(astronaut, 2)),
                       "signature_image": b64(make_signature(7, 9), "PNG")}
            posted = requests.post(f"{base}/v1/verifications", json=attempt, headers=key, timeout=60)
            assert posted.status_code == 202, posted.text
            for _ in range(300):
                record = requests.get(f"http://127.0.0.1:{port}{posted.headers['Location']}", headers=key, timeout=10).json()
                if record["status"] not in ("queued", "processing"):
                    break
                time.sleep(0.2)
            assert record["status"] in ("accepted", "review", "rejected"), record
            assert {"face-crop", "antispoof", "face-match", "signature", "decide"} <= set(record["steps"])
        finally:
            first.resume()

        # A worker killed outright is started again by the first one.
        workers[0].kill()
        for _ in range(100):
            again = [p for p in first.children() if p.pid != workers[0].pid]
            if again:
                break
            time.sleep(0.1)
        assert again and "--worker-index" in again[0].cmdline()
    finally:
        host.send_signal(signal.SIGTERM)
        out, _ = host.communicate(timeout=60)
    assert "2 worker processes" in out and out.rstrip().endswith("bioauth local host: stopped")
    steps_logged = [line for line in (tmp_path / "host.log").read_text().splitlines() if " done in " in line]
    assert steps_logged and len(steps_logged) == len(set(steps_logged)), "a worker's lines reached the log file twice"
    assert not [p for p in (*workers, *again) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], \
        "a worker outlived the host"


def test_a_step_running_longer_than_its_lease_keeps_its_message_and_runs_once(embedded_services):
    import azure.functions as func

    from local_host import LocalHost

    app = func.FunctionApp()
    runs = []

    @app.queue_trigger(arg_name="msg", queue_name="slow", connection="AzureWebJobsStorage")
    def slow(msg: func.QueueMessage) -> None:
        runs.append(msg.get_body().decode())
        time.sleep(2.5)  # two and a half leases: the host must renew it, or another poll takes it again

    host = LocalHost(app, embedded_services, port=0, function_key=FUNCTION_KEY, lease_seconds=1.0).start()
    try:
        embedded_services.queues.send("slow", "only once")
        for _ in range(100):
            if runs and embedded_services.queues.count("slow") == 0:
                break
            time.sleep(0.1)
    finally:
        host.stop()
    assert runs == ["only once"]
    assert embedded_services.queues.count("slow") == 0
