"""Taking a device's verification in: checked, stored, and never lost nor made twice.

- The request is checked and both images decoded within their size and format
  limits (`parse_verification_request`); the images are stored and the record
  created (`accept_verification`); the route then starts the chain.
- The record is created with its first message still to send (an outbox: the
  `outbox` field says "pending", with the process that owns the sending and
  until when), in the same transaction as its `verification.created` audit
  event. The first message is then sent before the device gets its answer,
  and the outbox is emptied. If the queue refuses it for
  `BIOAUTH_ENQUEUE_WAIT_SECONDS`, the record and its images are withdrawn and
  the device gets 503 with Retry-After.
- If the process dies between the record and the message (kill -9, a lost
  host), the record still says "pending": a keyed retry of the request, or the
  recovery sweep (a timer: every few seconds on the local host, every minute in
  Azure), claims it once its owner is gone (a dead process on this machine, or
  its time run out), sends the message unless the queue already holds it, and
  audits `verification.redriven`. Health counts the requests left stranded.
- `?mode=sync` sends its first message hidden for a lease and renews the lease
  while the chain runs in-process. If the process dies, the message
  reappears when the lease ends and the queue finishes the request; the steps
  already recorded are not run again.
- An `Idempotency-Key` header names the verification (scoped to the device):
  a retry finds the first verification instead of creating a second; the
  same key with a different request is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from ..errors import Conflict, IdempotencyKeyReused, InvalidRequest, MissingField, ServiceUnavailable, SubjectNotEnrolled
from ..images import DecodedImage, decode_image_field
from ..messages import StepMessage
from ..records import VerificationRecord
from ..settings import Settings
from ..storage import BlobToPut, QueuedMessage, QueueStore, RecordWrite, put_all, update_record
from ..storage.audit import AuditEvent
from ..log_context import current_request_id
from ..telemetry import current_trace_context, record_redriven
from .outbound import check_destination, policy_from_settings
from .services import Services
from .step_runner import OUTBOX_FIELDS, VERIFICATIONS, now_iso
from .subjects import check_face_template_current

log = logging.getLogger("bioauth.intake")

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")  # visible ASCII, as the header's drafts and UUIDs use
REPLAY_WAIT_SECONDS = 30.0  # a sync retry waits this long for the first attempt to finish before answering 202
# Beyond the enqueue wait, how long an outbox stays its owner's when the owner cannot be seen (another machine).
OUTBOX_MARGIN_SECONDS = 5.0
# A pending outbox this long past its owner's time is stranded: the sweep should have taken it (health says so).
STRANDED_AFTER_SECONDS = 60.0


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


def accept_verification(request: VerificationRequest, services: Services, mode: str, *, verification_id: str,
                        created: AuditEvent, fingerprint: str | None = None) -> tuple[dict, StepMessage]:
    """Store the images and create the record with its first message still to send (the route then sends it, or
    withdraws the request), in one transaction with the `created` audit event.

    A keyed request (with a fingerprint) stores its images under a fresh folder, so a concurrent request with the
    same key and other images cannot overwrite the winner's; the loser's are removed.
    """
    subject = services.records.get("subjects", request.subject_id)
    if subject is None:
        raise SubjectNotEnrolled(f"subject {request.subject_id!r} is not enrolled", details={"subject_id": request.subject_id})
    check_face_template_current(subject, services)
    vid = verification_id
    folder = f"verifications/{vid}/" + (f"{uuid.uuid4().hex[:8]}/" if fingerprint else "")
    face, signature = request.face, request.signature
    stored = put_all(services.blobs, [
        BlobToPut("images", f"{folder}face.{face.extension}", face.data, face.content_type),
        BlobToPut("images", f"{folder}signature.{signature.extension}", signature.data, signature.content_type),
    ])
    images = {"face": stored[0], "signature": stored[1]}
    trace, request_id = current_trace_context(), current_request_id()
    carried = {**({"trace": trace} if trace else {}), **({"request_id": request_id} if request_id else {})}
    record = VerificationRecord(
        id=vid, subject_id=request.subject_id, device_id=request.device_id, callback_url=request.callback_url, mode=mode,
        status="queued", images=images, created_at=now_iso(), updated_at=now_iso(), request_fingerprint=fingerprint or None,
        extra={**outbox_fields(services.settings), **carried},  # trace and request id kept for a redriven first message
    ).to_dict()
    try:
        record = services.audit.commit([created], [RecordWrite(VERIFICATIONS, record)])[0]
    except Conflict:
        services.blobs.delete_prefix("images", folder)
        raise
    return record, first_message(record)


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


def owner_tag() -> str:
    """This process, as an outbox owner: the machine and the process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def outbox_fields(settings) -> dict:
    """The fields of a record created with its first message still to send, owned by this process."""
    return {"outbox": "pending", "outbox_owner": owner_tag(),
            "outbox_until": time.time() + settings.enqueue_wait_seconds + OUTBOX_MARGIN_SECONDS}


def process_alive(pid: int) -> bool:
    """Whether a process of this machine runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def owner_gone(record: dict) -> bool:
    """The outbox's owner will not send: its time ran out, or it is a dead process of this machine."""
    if time.time() > float(record.get("outbox_until") or 0):
        return True
    host, _, pid = str(record.get("outbox_owner") or "").rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid))


def mark_sent(services, record: dict) -> None:
    """The first message is on its queue: empty the outbox. A failure is only logged (the sweep empties it later)."""
    def mutate(doc: dict) -> dict | None:
        if doc.get("outbox") != "pending":
            return None
        for name in OUTBOX_FIELDS:
            doc.pop(name, None)
        return doc

    try:
        update_record(services.records, VERIFICATIONS, record["id"], mutate, current=record if "_etag" in record else None)
    except Exception as exc:  # noqa: BLE001
        log.warning("verification %s: outbox not emptied (%s); the recovery sweep will", record["id"], type(exc).__name__)


def admit(services, record: dict, queue: str, text: str, *, visibility_delay: float = 0.0) -> QueuedMessage:
    """Send the request's first message and empty its outbox, or withdraw the request (record and images) and raise
    ServiceUnavailable."""
    try:
        sent = send_with_retry(services.queues, queue, text, wait_seconds=services.settings.enqueue_wait_seconds,
                               visibility_delay=visibility_delay)
    except Exception as exc:  # noqa: BLE001
        log.error("verification %s: the queue refused its first message (%s); withdrawn", record["id"], type(exc).__name__)
        withdraw(services, record)
        raise ServiceUnavailable("the queue is not accepting work right now; send the same request again later",
                                 details={"retry_after_seconds": ServiceUnavailable.retry_after_seconds}) from None
    mark_sent(services, record)
    return sent


def withdraw(services, record: dict) -> None:
    """Undo an accepted request that could not be queued: its images, then its record (audited)."""
    try:
        for ref in record.get("images", {}).values():
            container, _, name = ref.partition("/")
            services.blobs.delete_prefix(container, name)
        services.records.delete("verifications", record["id"])
        services.audit.append(AuditEvent("verification.withdrawn", "bioauth", "service", subject_id=record["subject_id"],
                                         device_id=record.get("device_id"), verification_id=record["id"],
                                         details={"reasons": ["queue_refused"]}))
    except Exception as exc:  # noqa: BLE001 - what is left is found again by the recovery sweep
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


def first_message(record: dict) -> StepMessage:
    """The message that starts a request's chain, carrying the device request's trace and X-Request-Id (kept in the
    record), so a first message sent again by the recovery sweep still joins the request's trace and log lines."""
    return StepMessage(record["id"], record["subject_id"], record.get("images", {}), trace=dict(record.get("trace") or {}),
                       request_id=str(record.get("request_id") or ""))


def _unstarted(doc: dict | None, owner: str, until: float) -> bool:
    return (doc is not None and doc.get("outbox") == "pending" and doc.get("outbox_owner") == owner
            and doc.get("outbox_until") == until and doc.get("status") == "queued" and not doc.get("steps"))


def redrive_stranded(services, record: dict, queue: str, *, found_by: str) -> bool:
    """Send the first message of a request whose owner died before sending it; True when this call sent it.

    The record is claimed first (a conditional write: of two sweeps or retries one wins), then the queue is asked
    whether it holds the message after all (the owner died after sending it, before emptying the outbox), then the
    record is read again (a step that ran empties the outbox). So a message is sent again only when it never was,
    or when the queue cannot tell (Azure Storage peeks 32 visible messages; a duplicate only finds each step done).
    """
    if record.get("outbox") != "pending" or not owner_gone(record):
        return False
    owner, until = owner_tag(), time.time() + services.settings.enqueue_wait_seconds + OUTBOX_MARGIN_SECONDS

    def claim(doc: dict) -> dict | None:
        if doc.get("outbox") != "pending" or not owner_gone(doc):
            return None
        doc["outbox_owner"], doc["outbox_until"] = owner, until
        return doc

    claimed = update_record(services.records, VERIFICATIONS, record["id"], claim, current=record if "_etag" in record else None)
    if not _unstarted(claimed, owner, until):
        if claimed is not None and claimed.get("outbox_owner") == owner and claimed.get("outbox_until") == until:
            mark_sent(services, claimed)  # claimed, but a step already ran
        return False
    vid = claimed["id"]
    held = services.queues.holds(queue, f'"verification_id":"{vid}"')
    again = services.records.get(VERIFICATIONS, vid)
    if held is True or not _unstarted(again, owner, until):
        if again is not None:
            mark_sent(services, again)
        return False
    send_with_retry(services.queues, queue, first_message(again).to_json(), wait_seconds=services.settings.enqueue_wait_seconds)
    mark_sent(services, again)
    log.warning("verification %s: its first message was never sent (its process died); sent now (%s)", vid, found_by)
    services.audit.append(AuditEvent("verification.redriven", "bioauth", "service", subject_id=again["subject_id"],
                                     device_id=again.get("device_id"), verification_id=vid,
                                     details={"mode": again.get("mode"), "reasons": [found_by]}))
    record_redriven(found_by)
    global _redriven
    with _counter_lock:
        _redriven += 1
    return True


_redriven = 0
_counter_lock = threading.Lock()


def redriven_count() -> int:
    """Requests this process sent on after their owner died (health shows it)."""
    return _redriven


def recover_stranded(services, queue: str) -> int:
    """The recovery sweep: every request whose first message may be unsent and whose owner is gone; how many were
    sent. Safe to run in several processes at once (each request is claimed)."""
    sent = 0
    for record in services.records.query(VERIFICATIONS, "outbox", "pending"):
        try:
            sent += redrive_stranded(services, record, queue, found_by="recovery_sweep")
        except Exception as exc:  # noqa: BLE001 - the next sweep tries again
            log.warning("verification %s: recovery failed (%s)", record.get("id"), type(exc).__name__)
    return sent


def outbox_summary(services) -> dict:
    """For health: requests whose first message is not yet confirmed sent, and those stranded (past their owner's
    time by more than STRANDED_AFTER_SECONDS: the sweep is not running or cannot send)."""
    pending = services.records.query(VERIFICATIONS, "outbox", "pending")
    now = time.time()
    stranded = sum(1 for r in pending if now - float(r.get("outbox_until") or 0) > STRANDED_AFTER_SECONDS)
    return {"unsent_first_messages": len(pending), "stranded": stranded, "redriven_by_this_process": redriven_count()}
