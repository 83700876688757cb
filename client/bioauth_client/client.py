"""The client: one method per API operation, answers as dicts or a Verification, errors as ApiError."""

from __future__ import annotations

import base64
import email.utils
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

# operationId -> (method, path), as in the service's OpenAPI description (tests hold the two together).
OPERATIONS: dict[str, tuple[str, str]] = {
    "createVerification": ("POST", "/v1/verifications"),
    "getVerification": ("GET", "/v1/verifications/{id}"),
    "enrolSubject": ("POST", "/v1/subjects/{subject_id}/enrolment"),
    "renewSubject": ("POST", "/v1/subjects/{subject_id}/renewal"),
    "eraseSubject": ("DELETE", "/v1/subjects/{subject_id}"),
    "listReviewCases": ("GET", "/v1/reviews"),
    "getReviewCase": ("GET", "/v1/reviews/{id}"),
    "postReviewVerdict": ("POST", "/v1/reviews/{id}"),
    "readAudit": ("GET", "/v1/audit"),
    "healthDetails": ("GET", "/v1/health"),
    "whoami": ("GET", "/v1/me"),
    "health": ("GET", "/health"),
    "openapi": ("GET", "/openapi.json"),
}
CREDENTIAL_PREFIX = "bioauth_"  # a principal's key; anything else is taken for a function key
TERMINAL = ("accepted", "rejected", "review", "failed")
LOCAL_URL = "http://127.0.0.1:7071/api"
LOCAL_KEY_FILE = Path(".bioauth") / "local-function-key"

Image = Union[bytes, str, Path]


def default_url() -> str:
    """BIOAUTH_URL, or the local host."""
    return os.environ.get("BIOAUTH_URL", LOCAL_URL).rstrip("/")


def default_key() -> str | None:
    """BIOAUTH_KEY, else the file named by BIOAUTH_KEY_FILE, else the local host's function key file if there is one."""
    if os.environ.get("BIOAUTH_KEY"):
        return os.environ["BIOAUTH_KEY"]
    path = Path(os.environ.get("BIOAUTH_KEY_FILE", LOCAL_KEY_FILE))
    return path.read_text().strip() if path.is_file() else None


class ApiError(Exception):
    """An answer with the service's error envelope ({"error": {"code", "message", "details"?}})."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or {}


class ServiceUnreachable(ConnectionError):
    """Nothing answers at the URL (connection refused, or the host name does not resolve): not retried, since a
    host that is not running does not start in the next seconds."""

    def __init__(self, url: str, reason: object):
        super().__init__(f"no service answers at {url} ({reason}): is the host running? "
                         "Start it (python local_host.py) or point BIOAUTH_URL / --url at a running one")
        self.url = url


def _nothing_listens(exc: urllib.error.URLError) -> bool:
    reason = exc.reason
    return isinstance(reason, (ConnectionRefusedError, socket.gaierror))


@dataclass(frozen=True)
class Verification:
    """A verification as the API describes it (schema `Verification`); `outcome` is None until it is decided."""

    id: str
    status: str
    outcome: str | None
    reasons: list[str]
    raw: dict = field(repr=False)

    @classmethod
    def from_json(cls, body: dict) -> "Verification":
        decision = body.get("decision") or {}
        return cls(body["id"], body["status"], decision.get("outcome"), list(decision.get("reasons", [])), body)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


def retry_delay(status: int | None, headers: dict[str, str], attempt: int, *, now: float | None = None) -> float | None:
    """Seconds to wait before trying again, or None when this answer is final.

    Retry-After (seconds or an HTTP date) decides when it is given, for 429 and 503; a 429 without it, a 502 or 504,
    and a connection that failed (status None) back off exponentially from 0.5 s.
    """
    after = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    if status in (429, 503) and after:
        try:
            return max(0.0, float(after))
        except ValueError:
            when = email.utils.parsedate_to_datetime(after)
            return max(0.0, when.timestamp() - (time.time() if now is None else now))
    if status in (None, 429, 502, 504):
        return 0.5 * 2 ** attempt
    return None


def image_b64(image: Image) -> str:
    """A file path or raw bytes as the base64 the API takes."""
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    return base64.b64encode(data).decode("ascii")


class BioauthClient:
    def __init__(self, base_url: str | None = None, key: str | None = None, *, retries: int = 4, timeout: float = 120.0,
                 max_wait: float = 60.0, sleep: Callable[[float], None] = time.sleep):
        self.base_url = (base_url or default_url()).rstrip("/")
        self.key = key if key is not None else default_key()
        self.retries = retries
        self.timeout = timeout
        self.max_wait = max_wait  # a Retry-After longer than this is not waited for: the error is raised
        self.sleep = sleep

    # --- transport ---------------------------------------------------------------------------------
    def _url(self, path: str, query: dict | None = None) -> str:
        if path.startswith("/api/") and self.base_url.endswith("/api"):
            path = path[len("/api"):]  # a Location header, relative to the host
        url = self.base_url + path
        return url + ("?" + urllib.parse.urlencode(query) if query else "")

    def call(self, operation: str, *, params: dict[str, str] | None = None, query: dict | None = None,
             body: Any = None, path: str | None = None) -> tuple[int, dict[str, str], Any]:
        """One API operation, retried when the service says to come back later. Returns (status, headers, JSON)."""
        method, template = OPERATIONS[operation]
        if path is None:
            path = template.format(**{k: urllib.parse.quote(str(v), safe="") for k, v in (params or {}).items()})
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", **auth_headers(self.key)}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex  # the same on every retry of this call
        attempt = 0
        while True:
            request = urllib.request.Request(self._url(path, query), data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    return answer.status, dict(answer.headers.items()), _json(answer.read())
            except urllib.error.HTTPError as exc:
                status, answer_headers, payload = exc.code, dict(exc.headers.items()), _json(exc.read())
                failure: Exception = _api_error(status, payload)
            except urllib.error.URLError as exc:  # no answer at all (refused, reset, timed out)
                if _nothing_listens(exc):
                    raise ServiceUnreachable(self.base_url, exc.reason) from None
                status, answer_headers, failure = None, {}, exc
            delay = retry_delay(status, answer_headers, attempt)
            if delay is None or attempt >= self.retries or delay > self.max_wait:
                raise failure
            self.sleep(delay)
            attempt += 1

    # --- operations --------------------------------------------------------------------------------
    def health(self) -> dict:
        """Liveness, for anyone: {"status": "ok" | "degraded"}."""
        return self.call("health")[2]

    def health_details(self) -> dict:
        """Storage, installed models and queues (operator)."""
        return self.call("healthDetails")[2]

    def whoami(self) -> dict:
        """The caller as its key names it: id, role, name, key_id."""
        return self.call("whoami")[2]

    def audit(self, *, subject_id: str | None = None, device_id: str | None = None, actor_id: str | None = None,
              limit: int = 200) -> dict:
        query = {k: v for k, v in (("subject_id", subject_id), ("device_id", device_id), ("actor_id", actor_id)) if v}
        return self.call("readAudit", query={**query, "limit": limit})[2]

    def openapi(self) -> dict:
        return self.call("openapi")[2]

    def enrol(self, subject_id: str, faces: list[Image], signatures: list[Image]) -> dict:
        """Enrol (or re-enrol) a subject: 1-10 face photos, 3-10 signatures."""
        body = {"face_images": [image_b64(f) for f in faces], "signature_images": [image_b64(s) for s in signatures]}
        return self.call("enrolSubject", params={"subject_id": subject_id}, body=body)[2]

    def renew(self, subject_id: str) -> dict:
        return self.call("renewSubject", params={"subject_id": subject_id})[2]

    def erase(self, subject_id: str) -> None:
        self.call("eraseSubject", params={"subject_id": subject_id})

    def submit(self, subject_id: str, face: Image, signature: Image, *, device_id: str | None = None,
               callback_url: str | None = None, sync: bool = False) -> Verification:
        """POST the attempt (a device's key). Async (default): answers at once with status `queued`; sync: with the
        decision. The device is the key's; `device_id`, when given, must be the same."""
        body = {"subject_id": subject_id, "face_image": image_b64(face), "signature_image": image_b64(signature)}
        if device_id:
            body["device_id"] = device_id
        if callback_url:
            body["callback_url"] = callback_url
        _, _, answer = self.call("createVerification", body=body, query={"mode": "sync"} if sync else None)
        return Verification.from_json(answer)

    def status(self, verification_id: str) -> Verification:
        return Verification.from_json(self.call("getVerification", params={"id": verification_id})[2])

    def wait(self, verification_id: str, *, timeout: float = 120.0) -> Verification:
        """The decision (or failure) as soon as it is made; TimeoutError after `timeout` seconds.

        Each read asks the service to hold its answer until the decision (?wait=), so there is no poll loop; a
        service that answers at once anyway is read again after a short pause.
        """
        deadline, pause = time.monotonic() + timeout, 0.05
        while True:
            left = deadline - time.monotonic()
            answer = self.call("getVerification", params={"id": verification_id},
                               query={"wait": f"{max(0.0, min(left, 20.0)):.1f}"})[2]
            current = Verification.from_json(answer)
            if current.done:
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(f"verification {verification_id} is still {current.status} after {timeout:.0f} s")
            self.sleep(pause)
            pause = min(pause * 2, 1.0)

    def verify(self, subject_id: str, face: Image, signature: Image, *, sync: bool = False, wait: bool = True,
               timeout: float = 120.0, **options) -> Verification:
        """Submit an attempt and, unless wait=False, return it decided."""
        submitted = self.submit(subject_id, face, signature, sync=sync, **options)
        return submitted if sync or not wait else self.wait(submitted.id, timeout=timeout)

    def review_cases(self, limit: int = 50) -> dict:
        return self.call("listReviewCases", query={"limit": limit})[2]

    def review_case(self, verification_id: str) -> dict:
        return self.call("getReviewCase", params={"id": verification_id})[2]

    def review(self, verification_id: str, verdict: str, *, presentation: str | None = None, note: str = "") -> Verification:
        """A reviewer's verdict, `accept` or `reject`; presentation `bona_fide` or `attack` when judged. The key names
        the reviewer."""
        body: dict[str, Any] = {"verdict": verdict, "note": note}
        if presentation:
            body["presentation"] = presentation
        return Verification.from_json(self.call("postReviewVerdict", params={"id": verification_id}, body=body)[2])


def auth_headers(key: str | None) -> dict[str, str]:
    """A principal's key (`bioauth_<key id>_<secret>`) as a Bearer credential; any other key as the function key
    (on one machine, the local host's bootstrap admin key)."""
    if not key:
        return {}
    if key.startswith(CREDENTIAL_PREFIX):
        return {"Authorization": f"Bearer {key}"}
    return {"x-functions-key": key}


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _api_error(status: int, payload: Any) -> ApiError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return ApiError(status, str(error.get("code", "error")), str(error.get("message", "")), error.get("details"))
    return ApiError(status, "http_error", f"HTTP {status} without the error envelope")
