"""Running one step of the chain: load the record, call the step, record its result, say what comes next.

A step names the branch it took ("ok", "spoof", ...); its row of the step
table says which step each branch leads to, so the chain is wired in one place.

Each step is idempotent: a redelivered message finds the step's result
already recorded and only re-enqueues what follows. An error decides
whether trying again can help (`BioauthError.transient`): a permanent one (bad
data, a model not installed, a broken record) ends the request at once; a
transient one (storage not taking writes) and any unexpected exception are
retried by the queue, and the last allowed try marks the record failed before
the message goes to `<queue>-poison`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from ..errors import STEP_ERROR, BioauthError, StepFailed
from ..log_context import bound, current_request_id
from ..messages import StepMessage
from ..records import TERMINAL, DecisionRecord, FailureRecord, StepRecord, VerificationRecord
from ..storage import delete_verification_blobs, update_record
from ..storage.audit import AuditEvent, step_models
from ..telemetry import StepTrace, current_trace_context, record_decision, step_span
from .services import Services
from .waiting import announce_decided

log = logging.getLogger("bioauth.pipeline")

VERIFICATIONS = "verifications"
# A record's outbox (runtime/intake.py): its first message may be unsent. A step that runs proves it was sent.
OUTBOX_FIELDS = ("outbox", "outbox_owner", "outbox_until")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class StepOutcome:
    """A step's recorded result (JSON-safe, no pixels) and the branch it took (the step table says where it leads)."""

    result: dict
    branch: str
    decision: DecisionRecord | None = None  # a decision made: the record's status and decision become it


@dataclass
class StepContext:
    services: Services
    message: StepMessage
    record: VerificationRecord

    def image(self, name: str) -> bytes:
        return self.services.blobs.get(self.record.images[name])

    def result_of(self, step: str) -> dict | None:
        return self.record.result_of(step)


StepFunction = Callable[[StepContext], StepOutcome]


@dataclass(frozen=True)
class Step:
    """One row of the step table: the step, the queue that triggers it, where each of its branches leads."""

    name: str
    queue: str
    branches: Mapping[str, str | None]  # branch the step names -> the step that follows (None: the chain ends here)
    function: StepFunction
    runs_in_sync_chain: bool = True  # False: even with ?mode=sync it runs on its queue, after the answer
    runs_after_failure: bool = False  # it still runs for a failed request (telling the device)
    decodes_images: bool = False  # decodes the device's full-size images: runs within the process's image-work limit

    @property
    def next_queues(self) -> tuple[str, ...]:
        """The steps (queues) it may hand on to, main branch first: one output binding each."""
        return tuple(dict.fromkeys(n for n in self.branches.values() if n is not None))


class StepTable:
    """The chain in order; the first row is the first step. The Functions app, the sync chain and the tests read it."""

    def __init__(self, steps: tuple[Step, ...]):
        self.steps: dict[str, Step] = {s.name: s for s in steps}

    def __getitem__(self, name: str) -> Step:
        return self.steps[name]

    def __iter__(self):
        return iter(self.steps.values())

    @property
    def first(self) -> Step:
        return next(iter(self.steps.values()))

    @property
    def queues(self) -> tuple[str, ...]:
        return tuple(s.queue for s in self)

    @property
    def failure_notice(self) -> Step | None:
        """The step that tells the device about a failed request."""
        return next((s for s in self if s.runs_after_failure), None)


def mark_failed(table: StepTable, services: Services, verification_id: str, step: str, code: str, message: str) -> None:
    """End the request as failed, saying where and why. A case already decided keeps its decision.

    A device that gave a callback URL is told, through the queue of the table's failure notice (notify), unless
    it already was.
    """

    def mutate(doc: dict) -> dict:
        record = VerificationRecord.from_dict(doc)
        failure = FailureRecord(step, code, message, now_iso())
        if record.is_terminal:
            record.step_failures.append(failure)
        else:
            record.status = "failed"
            record.failure = failure
        record.updated_at = now_iso()
        return record.to_dict()

    saved = update_record(services.records, VERIFICATIONS, verification_id, mutate)
    if saved is None:
        return
    record = VerificationRecord.from_dict(saved)
    failed_here = record.status == "failed" and record.failure is not None and record.failure.step == step
    if failed_here:
        announce_decided(verification_id)
        record_decision("failed", [code])
        services.audit.append(AuditEvent(
            "verification.failed", "bioauth", "service", subject_id=record.subject_id,
            device_id=record.device_id, verification_id=verification_id,
            details={"outcome": "failed", "reasons": [code], **step_models(saved)},
        ))
    notice = table.failure_notice
    # Failed, or decided but never told (a review webhook that failed for good: the case stays in review, and the
    # device learns `review` now and the verdict when a reviewer closes the case).
    untold = record.callback_url and notice and notice.name not in record.steps
    if untold and record.is_terminal and not table[step].runs_after_failure:
        message_text = StepMessage(verification_id, record.subject_id, record.images, trace=current_trace_context(),
                                   request_id=current_request_id()).to_json()
        services.queues.send(notice.queue, message_text)


_image_slots: threading.BoundedSemaphore | None = None
_image_slots_lock = threading.Lock()


def image_work(settings) -> threading.BoundedSemaphore:
    """The process's slots for steps that decode device images (BIOAUTH_MAX_CONCURRENT_IMAGE_STEPS).

    Queue batches and ?mode=sync requests share them, so memory grows with the
    slots, not with the requests in flight; a step waits for a slot while its
    message's lease is renewed.
    """
    global _image_slots
    with _image_slots_lock:
        if _image_slots is None:
            _image_slots = threading.BoundedSemaphore(max(1, settings.max_concurrent_image_steps))
        return _image_slots


def reset_image_work() -> None:
    """Forget the slots (tests change the setting)."""
    global _image_slots
    with _image_slots_lock:
        _image_slots = None


def run_step(table: StepTable, step: str, message_text: str, dequeue_count: int, services: Services, *,
             in_process: bool = False) -> str | None:
    """Run one step of the table for one message; returns the next step's name, or None when the chain stops here.

    Raises on transient errors so the queue retries; on the last allowed try
    the record is marked failed first. `in_process` (the synchronous API): there is no queue to retry, so every
    try is the last one, and the step's entry says it ran in-process (`runner`).
    """
    message = StepMessage.from_json(message_text)
    with bound(request_id=message.request_id, verification_id=message.verification_id), \
            step_span(step, message.verification_id, message.trace) as trace:
        return _run_step(table, step, message, dequeue_count, services, trace, in_process)


def _run_step(table: StepTable, step: str, message: StepMessage, dequeue_count: int, services: Services,
              trace: StepTrace, in_process: bool = False) -> str | None:
    row = table[step]
    vid = message.verification_id
    stored = services.records.get(VERIFICATIONS, vid)
    if stored is None:
        log.warning("step %s: verification %s not found; message dropped", step, vid)
        trace.outcome = "not_found"
        return None
    record = VerificationRecord.from_dict(stored)
    done = record.steps.get(step)
    if done is not None:
        log.info("step %s: %s already recorded; re-sending to %s", step, vid, done.next)
        trace.outcome = "redelivered"
        return done.next
    if record.status == "failed" and not row.runs_after_failure:
        log.info("step %s: %s already failed; nothing to do", step, vid)
        trace.outcome = "skipped_failed"
        return None

    started = now_iso()
    t0 = time.perf_counter()
    try:
        with image_work(services.settings) if row.decodes_images else contextlib.nullcontext():
            outcome = row.function(StepContext(services=services, message=message, record=record))
        if outcome.branch not in row.branches:
            raise StepFailed(f"step {step} took branch {outcome.branch!r}, which its row of the step table does not name")
        next_step = row.branches[outcome.branch]
    except BioauthError as exc:
        if exc.transient:
            return _retry_or_fail(table, step, vid, exc, dequeue_count, services, in_process)
        log.warning("step %s: %s failed permanently: %s", step, vid, exc.code)
        trace.outcome = "failed"
        trace.set(error_code=exc.code)
        mark_failed(table, services, vid, step, exc.code, exc.message)
        return None
    except Exception as exc:  # noqa: BLE001 - the queue decides about retries
        return _retry_or_fail(table, step, vid, exc, dequeue_count, services, in_process)
    duration_ms = (time.perf_counter() - t0) * 1000.0

    entry = StepRecord(result=outcome.result, next=next_step, started_at=started, finished_at=now_iso(),
                       duration_ms=round(duration_ms, 2), attempt=dequeue_count, runner="sync" if in_process else "queue")
    wrote = False

    def mutate(doc: dict) -> dict | None:
        nonlocal wrote
        current = VerificationRecord.from_dict(doc)
        wrote = step not in current.steps  # else a concurrent redelivery won: keep the first result
        if not wrote:
            return None
        current.steps[step] = entry
        if outcome.decision is not None:
            current.status = outcome.decision.outcome
            current.decision = outcome.decision
        if current.status == "queued":
            current.status = "processing"
        for name in OUTBOX_FIELDS:
            current.extra.pop(name, None)
        current.updated_at = now_iso()
        return current.to_dict()

    def decided(doc: dict) -> list[AuditEvent]:
        """The decision's audit event, committed with it: a redelivered copy that loses the race writes neither."""
        if outcome.decision is None or outcome.decision.outcome not in TERMINAL:
            return []
        return [AuditEvent("verification.decided", "bioauth", "service", subject_id=doc.get("subject_id"),
                           device_id=doc.get("device_id"), verification_id=vid,
                           details={"outcome": outcome.decision.outcome, "reasons": list(outcome.decision.reasons),
                                    **({"explanation": outcome.decision.extra["explanation"]}
                                       if "explanation" in outcome.decision.extra else {}),
                                    **step_models(stored)})]

    saved = update_record(services.records, VERIFICATIONS, vid, mutate, current=stored, audit=services.audit, events=decided)
    if saved is None:  # erased while the step ran: what the step wrote (crops) goes too
        delete_verification_blobs(services.blobs, vid)
        trace.outcome = "gone"
        return None
    winner = VerificationRecord.from_dict(saved).steps.get(step, entry)
    trace.outcome = "done" if wrote else "redelivered"
    trace.set(next=winner.next, **_traced_fields(outcome.result))
    if wrote and outcome.decision is not None and outcome.decision.outcome in TERMINAL:
        announce_decided(vid)
        record_decision(outcome.decision.outcome, list(outcome.decision.reasons))
    log.info("step %s: %s done in %.1f ms -> %s", step, vid, duration_ms, winner.next)
    return winner.next


def _traced_fields(result: dict) -> dict:
    """What of a step's result may go on its span: outcomes, reasons and model versions, never scores of people."""
    fields: dict = {}
    for key in ("verdict", "outcome", "reason", "model_version"):
        if isinstance(result.get(key), (str, int, float, bool)):
            fields[key] = result[key]
    model = result.get("model")
    if isinstance(model, dict) and isinstance(model.get("version"), str):
        fields["model_version"] = model["version"]
    reasons = result.get("reasons")
    if isinstance(reasons, list):
        fields["reasons"] = ",".join(str(r) for r in reasons)
    return fields


def _retry_or_fail(table: StepTable, step: str, vid: str, exc: Exception, dequeue_count: int, services: Services,
                   in_process: bool = False) -> None:
    limit = services.settings.max_dequeue_count
    # Only the exception type and our own messages are logged: never image bytes or templates.
    detail = exc.message if isinstance(exc, BioauthError) else type(exc).__name__
    if in_process:
        log.error("step %s: %s failed in the synchronous chain (%s); giving up", step, vid, detail)
        mark_failed(table, services, vid, step, STEP_ERROR, f"{type(exc).__name__} in the synchronous chain: {detail}")
    elif dequeue_count >= limit:
        log.error("step %s: %s failed on try %d of %d (%s); giving up", step, vid, dequeue_count, limit, detail)
        mark_failed(table, services, vid, step, STEP_ERROR, f"{type(exc).__name__} on every one of {limit} tries: {detail}")
    else:
        log.warning("step %s: %s failed on try %d of %d (%s); will retry", step, vid, dequeue_count, limit, detail)
    raise exc


def run_chain(table: StepTable, message_text: str, services: Services) -> str | None:
    """Run the chain in-process (the synchronous API) up to the first step that stays on its queue (review, notify).

    Returns that step's name (the caller enqueues it), or None when the chain
    ended. In-process there is no queue to retry: an error is the last try,
    so the record is marked failed and the chain stops.
    """
    current: str | None = table.first.name
    while current is not None and table[current].runs_in_sync_chain:
        try:
            current = run_step(table, current, message_text, 1, services, in_process=True)
        except Exception:  # noqa: BLE001 - already recorded as failed by run_step
            return None
    return current
