"""Running one step of the chain: load the record, call the step, record its result, say what comes next.

Each step is idempotent: a redelivered message finds the step's result
already recorded and only re-enqueues what follows. A permanent failure (a
model not installed, a broken record) ends the request at once; anything
else is retried by the queue, and the last allowed try marks the record
failed before the message goes to `<queue>-poison`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from .errors import BioauthError, ModelNotInstalled, StepFailed
from .messages import StepMessage
from .services import Services
from .storage import update_record

log = logging.getLogger("bioauth.pipeline")

# The chain, in order. A step's queue has the step's name.
STEP_QUEUES = ("face-crop", "antispoof", "face-match", "signature", "decide", "review", "notify")
# Where each step may send the request next (the contract test checks the triggers' bindings against this).
NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "face-crop": ("antispoof", "decide"),
    "antispoof": ("face-match", "decide"),
    "face-match": ("signature",),
    "signature": ("decide",),
    "decide": ("review", "notify"),
    "review": ("notify",),
    "notify": (),
}
# Steps that still run for a request that failed (telling the device it failed).
RUNS_AFTER_FAILURE = ("notify",)
FIRST_STEP = "face-crop"
TERMINAL = ("accepted", "rejected", "review", "failed")
VERIFICATIONS = "verifications"


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class StepOutcome:
    """A step's recorded result (JSON-safe, no pixels) and the step that follows, if any."""

    result: dict
    next_step: str | None
    record_updates: dict = field(default_factory=dict)  # top-level fields to set on the record (e.g. decision)


@dataclass
class StepContext:
    services: Services
    message: StepMessage
    record: dict

    def image(self, name: str) -> bytes:
        return self.services.blobs.get(self.record["images"][name])

    def result_of(self, step: str) -> dict | None:
        entry = self.record.get("steps", {}).get(step)
        return entry["result"] if entry else None


StepFunction = Callable[[StepContext], StepOutcome]


def mark_failed(services: Services, verification_id: str, step: str, code: str, message: str) -> None:
    """End the request as failed, saying where and why. A case already decided keeps its decision.

    A device that gave a callback URL is told, through the notify queue.
    """

    def mutate(doc: dict) -> dict:
        failure = {"step": step, "code": code, "message": message, "at": now_iso()}
        if doc.get("status") in TERMINAL:
            doc.setdefault("step_failures", []).append(failure)
        else:
            doc["status"] = "failed"
            doc["failure"] = failure
        doc["updated_at"] = now_iso()
        return doc

    saved = update_record(services.records, VERIFICATIONS, verification_id, mutate)
    if saved and saved.get("status") == "failed" and saved.get("callback_url") and step not in RUNS_AFTER_FAILURE:
        message_text = StepMessage(verification_id, saved["subject_id"], saved.get("images", {})).to_json()
        services.queues.send("notify", message_text)


def run_step(step: str, fn: StepFunction, message_text: str, dequeue_count: int, services: Services) -> str | None:
    """Run one step for one message; returns the next step's name, or None when the chain stops here.

    Raises on transient errors so the queue retries; on the last allowed try
    the record is marked failed first.
    """
    message = StepMessage.from_json(message_text)
    vid = message.verification_id
    record = services.records.get(VERIFICATIONS, vid)
    if record is None:
        log.warning("step %s: verification %s not found; message dropped", step, vid)
        return None
    done = record.get("steps", {}).get(step)
    if done is not None:
        log.info("step %s: %s already recorded; re-sending to %s", step, vid, done.get("next"))
        return done.get("next")
    if record.get("status") == "failed" and step not in RUNS_AFTER_FAILURE:
        log.info("step %s: %s already failed; nothing to do", step, vid)
        return None

    started = now_iso()
    t0 = time.perf_counter()
    try:
        outcome = fn(StepContext(services=services, message=message, record=record))
    except BioauthError as exc:
        permanent = isinstance(exc, (StepFailed, ModelNotInstalled)) or exc.http_status < 500
        if not permanent:
            return _retry_or_fail(step, vid, exc, dequeue_count, services)
        log.warning("step %s: %s failed permanently: %s", step, vid, exc.code)
        mark_failed(services, vid, step, exc.code, exc.message)
        return None
    except Exception as exc:  # noqa: BLE001 - the queue decides about retries
        return _retry_or_fail(step, vid, exc, dequeue_count, services)
    duration_ms = (time.perf_counter() - t0) * 1000.0

    entry = {
        "result": outcome.result,
        "next": outcome.next_step,
        "started_at": started,
        "finished_at": now_iso(),
        "duration_ms": round(duration_ms, 2),
        "attempt": dequeue_count,
    }

    def mutate(doc: dict) -> dict | None:
        steps = doc.setdefault("steps", {})
        if step in steps:  # a concurrent redelivery won: keep the first result
            return None
        steps[step] = entry
        for key, value in outcome.record_updates.items():
            doc[key] = value
        if doc.get("status") == "queued":
            doc["status"] = "processing"
        doc["updated_at"] = now_iso()
        return doc

    saved = update_record(services.records, VERIFICATIONS, vid, mutate)
    if saved is None:
        return None
    winner = saved.get("steps", {}).get(step, entry)
    log.info("step %s: %s done in %.1f ms -> %s", step, vid, duration_ms, winner.get("next"))
    return winner.get("next")


def _retry_or_fail(step: str, vid: str, exc: Exception, dequeue_count: int, services: Services) -> None:
    limit = services.settings.max_dequeue_count
    # Only the exception type and our own messages are logged: never image bytes or templates.
    detail = exc.message if isinstance(exc, BioauthError) else type(exc).__name__
    if dequeue_count >= limit:
        log.error("step %s: %s failed on try %d of %d (%s); giving up", step, vid, dequeue_count, limit, detail)
        mark_failed(services, vid, step, "step_error", f"{type(exc).__name__} on every one of {limit} tries: {detail}")
    else:
        log.warning("step %s: %s failed on try %d of %d (%s); will retry", step, vid, dequeue_count, limit, detail)
    raise exc


def run_chain(first: str, steps: dict[str, StepFunction], message_text: str, services: Services) -> str | None:
    """Run the chain in-process (the synchronous API) up to the review step, which stays on its queue.

    In-process there is no queue to retry: an error is the last try, so the
    record is marked failed and the chain stops.
    """
    current: str | None = first
    last_try = services.settings.max_dequeue_count
    while current is not None and current in steps:
        try:
            current = run_step(current, steps[current], message_text, last_try, services)
        except Exception:  # noqa: BLE001 - already recorded as failed by run_step
            return None
    return current
