"""The integrators' client and `bioauth` command, against the real local host; the README's curl calls as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bioauth_client import OPERATIONS, ApiError, BioauthClient, auth_headers, retry_delay

from tests.conftest import FUNCTION_KEY

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    from scripts.sample_images import write_samples

    folder = tmp_path_factory.mktemp("samples")
    write_samples(folder)
    return folder


@pytest.fixture
def api(local_host, principals) -> dict[str, BioauthClient]:
    """A client per role, each with its principal's key (sent as a Bearer credential)."""
    url = f"{local_host.url}/api"
    return {role: BioauthClient(url, principals[name]) for role, name in
            (("device", "kiosk-1"), ("operator", "operator"), ("reviewer", "reviewer"))}


def _enrol(operator: BioauthClient, samples: Path, subject: str = "astronaut") -> dict:
    return operator.enrol(subject, sorted(samples.glob("enrol-face-*.jpg")), sorted(samples.glob("enrol-signature-*.png")))


def test_operations_are_those_of_the_openapi_description():
    from functions.http.openapi import openapi_document

    described = {op["operationId"]: (method.upper(), path)
                 for path, item in openapi_document()["paths"].items() for method, op in item.items()}
    for operation, (method, path) in OPERATIONS.items():
        assert described.get(operation) == (method, path), operation
    # Image links are followed as given; keys are managed by operators (python -m functions.admin, or the API).
    assert set(described) - set(OPERATIONS) == {"getLinkedImage", "getEnrolledReference", "listKeys", "createKey", "rotateKey", "revokeKey"}


def test_a_principals_key_is_a_bearer_credential_any_other_the_function_key():
    assert auth_headers("bioauth_0123abcd_secret") == {"Authorization": "Bearer bioauth_0123abcd_secret"}
    assert auth_headers("local-key") == {"x-functions-key": "local-key"}
    assert auth_headers(None) == {}


def test_retry_delay_follows_retry_after_in_seconds_or_as_a_date():
    assert retry_delay(429, {"Retry-After": "3"}, 0) == 3.0
    assert retry_delay(503, {"retry-after": "0"}, 2) == 0.0
    now = 1_800_000_000.0
    assert retry_delay(429, {"Retry-After": formatdate(now + 7, usegmt=True)}, 0, now=now) == pytest.approx(7, abs=1)
    assert retry_delay(429, {}, 0) == 0.5 and retry_delay(429, {}, 3) == 4.0  # no header: exponential back-off
    assert retry_delay(None, {}, 1) == 1.0  # no answer at all
    assert retry_delay(503, {}, 0) is None  # e.g. model_not_installed: waiting does not help
    assert retry_delay(400, {"Retry-After": "1"}, 0) is None


class RateLimitingFront:
    """A stand-in for a rate-limiting front (Front Door's WAF rule): 429 with Retry-After for the first `refusals`
    requests, then the requests pass to the real local host behind it."""

    def __init__(self, backend: str, refusals: int, retry_after: str):
        import requests

        self.seen: list[tuple[float, str | None]] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                front.seen.append((time.monotonic(), self.headers.get("Idempotency-Key")))
                if len(front.seen) <= refusals:
                    payload = json.dumps({"error": {"code": "rate_limited", "message": "slow down"}}).encode()
                    self.send_response(429)
                    self.send_header("Retry-After", retry_after)
                else:
                    answer = requests.request(self.command, backend + self.path, data=body or None, timeout=60,
                                              headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                    payload = answer.content
                    self.send_response(answer.status_code)
                    for k, v in answer.headers.items():
                        if k.lower() in ("content-type", "location"):
                            self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_429_is_retried_after_the_time_it_gives_with_the_same_idempotency_key(local_host, api, principals, samples):
    _enrol(api["operator"], samples)
    front = RateLimitingFront(local_host.url, refusals=2, retry_after="1")
    try:
        client = BioauthClient(f"{front.url}/api", principals["kiosk-1"])
        result = client.verify("astronaut", samples / "attempt-face.jpg", samples / "attempt-signature.png", sync=True)
    finally:
        front.close()
    assert result.done and result.outcome in ("accepted", "review", "rejected")
    times, keys = zip(*front.seen)
    assert len(times) == 3 and times[1] - times[0] >= 0.95 and times[2] - times[1] >= 0.95
    assert keys[0] and len(set(keys)) == 1


def test_too_many_refusals_raise_the_last_error(local_host, samples):
    front = RateLimitingFront(local_host.url, refusals=10, retry_after="0")
    try:
        client = BioauthClient(f"{front.url}/api", FUNCTION_KEY, retries=2)
        with pytest.raises(ApiError) as caught:
            client.health()
    finally:
        front.close()
    assert (caught.value.status, caught.value.code) == (429, "rate_limited")
    assert len(front.seen) == 3


def test_enrol_verify_status_and_review_through_the_client(api, samples):
    device, operator, reviewer = api["device"], api["operator"], api["reviewer"]
    enrolled = _enrol(operator, samples)
    assert (enrolled["subject_id"], enrolled["faces"], enrolled["signatures"]) == ("astronaut", 3, 4)
    assert device.whoami()["role"] == "device"

    queued = device.submit("astronaut", samples / "attempt-face.jpg", samples / "attempt-signature.png")
    assert queued.status == "queued" and queued.outcome is None
    decided = device.wait(queued.id)
    assert decided.done and decided.raw["steps"]["face-match"]["result"]["band"] == "accept"
    assert device.status(queued.id).status == decided.status == operator.status(queued.id).status

    impostor = device.verify("astronaut", samples / "impostor-face.jpg", samples / "impostor-signature.png", sync=True)
    assert (impostor.outcome, impostor.reasons) == ("rejected", ["face_mismatch"])
    assert {e["action"] for e in operator.audit(subject_id="astronaut")["events"]} >= {"subject.enrolled"}

    if decided.status == "review":  # the shipped anti-spoofing and signature models leave this attempt in doubt
        inbox = reviewer.review_cases()
        assert decided.id in [c["id"] for c in inbox["cases"]]
        case = reviewer.review_case(decided.id)
        assert set(case["images"]) >= {"face", "signature"}
        closed = reviewer.review(decided.id, "accept", presentation="bona_fide", note="same person")
        assert (closed.status, closed.reasons[-1]) == ("accepted", "reviewer_accept")


def test_errors_come_back_with_the_services_code(api, samples):
    device = api["device"]
    with pytest.raises(ApiError) as caught:
        device.verify("nobody", samples / "attempt-face.jpg", samples / "attempt-signature.png", sync=True)
    assert (caught.value.status, caught.value.code) == (404, "unknown_subject")
    with pytest.raises(ApiError) as caught:
        device.enrol("astronaut", [samples / "attempt-face.jpg"], [samples / "attempt-signature.png"] * 3)
    assert (caught.value.status, caught.value.code) == (403, "forbidden_role")
    with pytest.raises(ApiError) as caught:
        BioauthClient(device.base_url, "bioauth_0000_wrong").status("x")
    assert (caught.value.status, caught.value.code) == (401, "malformed_credential")


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "client"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "bioauth_client", *args], capture_output=True, text=True, env=env,
                          timeout=180)


def test_the_command_verifies_the_demo_subject(local_host, principals, samples):
    url = f"{local_host.url}/api"
    env = {"BIOAUTH_URL": url, "BIOAUTH_KEY": principals["kiosk-1"]}
    enrol = _cli("--key", principals["operator"], "enrol", "--subject", "astronaut", *[a for f in sorted(samples.glob("enrol-face-*")) for a in ("--face", str(f))],
                 *[a for f in sorted(samples.glob("enrol-signature-*")) for a in ("--signature", str(f))], env=env)
    assert enrol.returncode == 0, enrol.stderr
    assert json.loads(enrol.stdout)["faces"] == 3

    face, signature = str(samples / "attempt-face.jpg"), str(samples / "attempt-signature.png")
    for mode in ([], ["--sync"]):
        run = _cli("verify", "--subject", "astronaut", "--face", face, "--signature", signature, *mode, env=env)
        assert run.returncode == 0, run.stderr
        answer = json.loads(run.stdout)
        assert answer["status"] in ("accepted", "review") and answer["steps"]["face-match"]["result"]["band"] == "accept"
        assert run.stderr.startswith(f"{answer['id']}: {answer['status']}")

    status = _cli("status", answer["id"], env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["id"] == answer["id"]
    listed = _cli("review", "list", env={**env, "BIOAUTH_KEY": principals["reviewer"]})
    assert listed.returncode == 0 and "count" in json.loads(listed.stdout)
    refused = _cli("review", "list", env=env)
    assert refused.returncode == 1 and "403 forbidden_role" in refused.stderr

    impostor = _cli("verify", "--subject", "astronaut", "--face", str(samples / "impostor-face.jpg"),
                    "--signature", str(samples / "impostor-signature.png"), "--sync", "--strict", env=env)
    assert impostor.returncode == 3 and json.loads(impostor.stdout)["decision"]["reasons"] == ["face_mismatch"]

    denied = _cli("--url", url, "--key", "wrong", "status", answer["id"])
    assert denied.returncode == 1 and "401 unknown_credential" in denied.stderr


def _readme_block(title: str) -> str:
    """The first ```bash block after the README heading `title`."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(f"## {title}"):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_the_readmes_curl_calls_run_as_written(local_host, tmp_path):
    """The README's first calls, run by bash against this test's host: only the address and key file differ."""
    script = _readme_block("First calls")
    assert "API=http://127.0.0.1:7071/api" in script and "curl" in script
    script = script.replace("API=http://127.0.0.1:7071/api", f"API={local_host.url}/api")
    script = script.replace(".venv/bin/python", sys.executable)
    (tmp_path / ".bioauth").mkdir()
    (tmp_path / ".bioauth" / "local-function-key").write_text(FUNCTION_KEY)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script.replace("scripts/", f"{ROOT}/scripts/")],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    answers = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert answers[0]["status"] == "ok"  # health
    assert answers[1]["subject_id"] == "astronaut"  # enrolment
    assert answers[-2]["status"] in ("accepted", "review")  # the async read, held until the decision
    assert answers[-1]["status"] in ("accepted", "review") and answers[-1]["decision"]["outcome"] == answers[-1]["status"]


def test_a_host_that_is_not_running_fails_at_once_with_a_message_naming_the_url():
    import socket

    from bioauth_client import ServiceUnreachable

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    pauses = []
    with pytest.raises(ServiceUnreachable) as caught:
        BioauthClient(url, "k", sleep=pauses.append).health()
    assert pauses == [] and url in str(caught.value)  # no silent back-off against a closed port
    run = _cli("--url", url, "health")
    assert run.returncode == 1 and f"no service answers at {url}" in run.stderr and "is the host running" in run.stderr
