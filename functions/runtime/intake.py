"""Taking a device's verification in: checked, stored, and never lost nor made twice.

- The request is checked and both images decoded within their size and format
  limits (`parse_verification_request`); the images are stored and the record
  created (`accept_verification`); the route then starts the chain.
- The first message is sent before the device gets its answer. If the queue
  refuses it for `BIOAUTH_ENQUEUE_WAIT_SECONDS`, the record and its images are
  withdrawn and the device gets 503 with Retry-After: no record is left
  without a message.
- `?mode=sync` sends its first message hidden for a lease and renews the lease
  while the chain runs in-process. If the process dies, the message
  reappears when the lease ends and the queue finishes the request; the steps
  already recorded are not run again.
- An `Idempotency-Key` header names the verification (scoped to the device):
  a retry finds the first verification instead of creating a second; the
  same key with a different request is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass

from ..errors import Conflict, IdempotencyKeyReused, InvalidRequest, MissingField, ServiceUnavailable, SubjectNotEnrolled
from ..images import DecodedImage, decode_image_field
from ..messages import StepMessage
from ..records import VerificationRecord
from ..settings import Settings
from ..storage import BlobToPut, QueuedMessage, QueueStore, put_all
from ..log_context import current_request_id
from ..telemetry import current_trace_context
from .outbound import check_destination, policy_from_settings
from .services import Services
from .step_runner import VERIFICATIONS, now_iso
from .subjects import check_face_template_current

log = logging.getLogger("bioauth.intake")

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")  # visible ASCII, as the header's drafts and UUIDs use
REPLAY_WAIT_SECONDS = 30.0  # a sync retry waits this long for the first attempt to finish before answering 202
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


@dataclass(frozen=True)
class VerificationRequest:
    subject_id: str
    device_id: str
    face: DecodedImage
    signature: DecodedImage
    callback_url: str | None = None


def require_str(data: dict, name: str) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise MissingField(f"'{name}' is required", details={"field": name})
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string", code="invalid_field", details={"field": name})
    return value


def check_id(value: str, field: str) -> str:
    """Ids name records and storage paths: the whole value must match (fullmatch: no trailing newline slips past '$')."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidRequest(
            f"{field} must be 1-128 characters of letters, digits, '.', '_', ':' or '-'",
            code="invalid_field",
            details={"field": field},
        )
    return value


def check_subject_id(subject_id: str) -> str:
    return check_id(subject_id, "subject_id")


def parse_verification_request(data: dict, settings: Settings) -> VerificationRequest:
    subject_id = check_subject_id(require_str(data, "subject_id"))
    device_id = check_id(require_str(data, "device_id"), "device_id")
    for name in ("face_image", "signature_image"):
        if not data.get(name):
            raise MissingField(f"'{name}' is required", details={"field": name})
    callback = data.get("callback_url")
    if callback is not None:
        check_destination(callback, policy_from_settings(settings))  # 400 invalid_callback_url now, not a silent failure later
    return VerificationRequest(
        subject_id=subject_id,
        device_id=device_id,
        face=decode_image_field(data["face_image"], field="face_image", max_bytes=settings.max_image_bytes,
                                max_pixels=settings.max_image_pixels),
        signature=decode_image_field(data["signature_image"], field="signature_image", max_bytes=settings.max_image_bytes,
                                     max_pixels=settings.max_signature_pixels),
        callback_url=callback,
    )


def accept_verification(request: VerificationRequest, services: Services, mode: str, *,
                        verification_id: str | None = None, fingerprint: str | None = None) -> tuple[dict, StepMessage]:
    """Store the images and create the record (the route then queues it, or withdraws it).

    A keyed request (verification_id from its Idempotency-Key) stores its images under a fresh folder, so a
    concurrent request with the same key and other images cannot overwrite the winner's; the loser's are removed.
    """
    subject = services.records.get("subjects", request.subject_id)
    if subject is None:
        raise SubjectNotEnrolled(f"subject {request.subject_id!r} is not enrolled", details={"subject_id": request.subject_id})
    check_face_template_current(subject, services)
    vid = verification_id or uuid.uuid4().hex
    folder = f"verifications/{vid}/" + (f"{uuid.uuid4().hex[:8]}/" if verification_id else "")
    face, signature = request.face, request.signature
    stored = put_all(services.blobs, [
        BlobToPut("images", f"{folder}face.{face.extension}", face.data, face.content_type),
        BlobToPut("images", f"{folder}signature.{signature.extension}", signature.data, signature.content_type),
    ])
    images = {"face": stored[0], "signature": stored[1]}
    record = VerificationRecord(
        id=vid, subject_id=request.subject_id, device_id=request.device_id, callback_url=request.callback_url, mode=mode,
        status="queued", images=images, created_at=now_iso(), updated_at=now_iso(), request_fingerprint=fingerprint or None,
    ).to_dict()
    try:
        services.records.create(VERIFICATIONS, record)
    except Conflict:
        services.blobs.delete_prefix("images", folder)
        raise
    return record, StepMessage(verification_id=vid, subject_id=request.subject_id, images=images,
                               trace=current_trace_context(), request_id=current_request_id())


def idempotency_key(headers) -> str | None:
    value = headers.get("idempotency-key")
    if value is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidRequest("Idempotency-Key must be 1-128 visible ASCII characters", code="invalid_idempotency_key",
                             details={"header": "Idempotency-Key"})
    return value


def keyed_verification_id(scope: str, key: str) -> str:
    """The verification id a key stands for: the same for every retry of one device, unrelated across devices."""
    return hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()[:32]


def request_fingerprint(subject_id: str, device_id: str, callback_url: str | None, face: bytes, signature: bytes) -> str:
    """What makes two requests the same request: who, from where, where to call back, and the exact images."""
    parts = {"subject_id": subject_id, "device_id": device_id, "callback_url": callback_url,
             "face": hashlib.sha256(face).hexdigest(), "signature": hashlib.sha256(signature).hexdigest()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def check_replay(record: dict, fingerprint: str) -> dict:
    if record.get("request_fingerprint") != fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request; use a new key",
                                   details={"verification_id": record["id"]})
    return record


def send_with_retry(queues: QueueStore, queue: str, text: str, *, wait_seconds: float,
                    visibility_delay: float = 0.0) -> QueuedMessage:
    """Send, retrying with backoff while storage refuses, for at most wait_seconds; then the last error is raised."""
    deadline = time.monotonic() + wait_seconds
    pause = 0.1
    while True:
        try:
            return queues.send(queue, text, visibility_delay=visibility_delay)
        except Exception as exc:  # noqa: BLE001 - any storage error may pass; the caller decides what a refusal means
            if time.monotonic() + pause > deadline:
                raise
            log.warning("send to %s failed (%s); retry in %.1f s", queue, type(exc).__name__, pause)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def admit(services, record: dict, queue: str, text: str, *, visibility_delay: float = 0.0) -> QueuedMessage:
    """Send the request's first message, or withdraw the request (record and images) and raise ServiceUnavailable."""
    try:
        return send_with_retry(services.queues, queue, text, wait_seconds=services.settings.enqueue_wait_seconds,
                               visibility_delay=visibility_delay)
    except Exception as exc:  # noqa: BLE001
        log.error("verification %s: the queue refused its first message (%s); withdrawn", record["id"], type(exc).__name__)
        withdraw(services, record)
        raise ServiceUnavailable("the queue is not accepting work right now; send the same request again later",
                                 details={"retry_after_seconds": ServiceUnavailable.retry_after_seconds}) from None


def withdraw(services, record: dict) -> None:
    """Undo an accepted request that could not be queued: its images, then its record."""
    try:
        for ref in record.get("images", {}).values():
            container, _, name = ref.partition("/")
            services.blobs.delete_prefix(container, name)
        services.records.delete("verifications", record["id"])
    except Exception as exc:  # noqa: BLE001 - what is left is found again by a keyed retry (redrive_if_stale)
        log.error("verification %s: withdrawing failed too (%s)", record["id"], type(exc).__name__)


class HeldMessage:
    """A message its sender keeps hidden, renewing at half the lease, until it deletes it or stops (or dies)."""

    def __init__(self, queues: QueueStore, queue: str, message: QueuedMessage, lease_seconds: float):
        self.queues, self.queue, self.message, self.lease = queues, queue, message, lease_seconds
        self._done = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name=f"hold-{queue}", daemon=True)

    def __enter__(self) -> "HeldMessage":
        self._renewer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._renewer.join()

    def _renew(self) -> None:
        while not self._done.wait(self.lease / 2):
            try:
                self.queues.renew(self.queue, self.message, self.lease)
            except Exception as exc:  # noqa: BLE001 - if it lapses, a poller runs the message: the steps are idempotent
                log.warning("held message on %s not renewed (%s)", self.queue, type(exc).__name__)

    def delete(self) -> bool:
        try:
            self.queues.delete(self.queue, self.message)
            return True
        except Exception as exc:  # noqa: BLE001 - it reappears after its lease and finds every step recorded
            log.warning("held message on %s not deleted (%s); it returns after its lease", self.queue, type(exc).__name__)
            return False


def seconds_since(iso: str | None) -> float:
    if not iso:
        return float("inf")
    return (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(iso)).total_seconds()


def redrive_if_stale(services, record: dict, queue: str, text: str) -> bool:
    """A keyed retry of a request that never started (its process died between record and message): send again.

    A duplicate message is harmless (each step runs once per record); a lost one is not.
    """
    stale_after = services.settings.sync_lease_seconds + services.settings.enqueue_wait_seconds
    typed = VerificationRecord.from_dict(record)
    if typed.status != "queued" or typed.steps or seconds_since(typed.updated_at) < stale_after:
        return False
    log.warning("verification %s: queued for %.0f s without progress; sent again", typed.id, seconds_since(typed.updated_at))
    send_with_retry(services.queues, queue, text, wait_seconds=services.settings.enqueue_wait_seconds)
    return True
