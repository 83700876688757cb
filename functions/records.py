"""The verification record, typed: what the steps, the runner and the review read and write instead of nested dict keys.

Storage keeps plain JSON documents; `from_dict` and `to_dict` are the boundary.
`to_dict` gives the document back with its keys in the order they were always
written (so stored records and API answers stay as they were), and keeps keys
this code does not know (storage's `_etag`, a reviewer's `review`) untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL = ("accepted", "rejected", "review", "failed")


def _extra(d: dict, known: tuple[str, ...]) -> dict:
    return {k: v for k, v in d.items() if k not in known}


@dataclass
class StepRecord:
    """One step's entry: its result (the step's own JSON), where the chain went next, when and on which try."""

    result: dict
    next: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: float | None = None
    attempt: int | None = None
    runner: str | None = None  # "queue" (a queue trigger or poller) or "sync" (the synchronous API, in-process)
    extra: dict = field(default_factory=dict)

    FIELDS = ("result", "next", "started_at", "finished_at", "duration_ms", "attempt", "runner")

    def to_dict(self) -> dict:
        return {"result": self.result, "next": self.next, "started_at": self.started_at, "finished_at": self.finished_at,
                "duration_ms": self.duration_ms, "attempt": self.attempt, **({"runner": self.runner} if self.runner else {}),
                **self.extra}

    @classmethod
    def from_dict(cls, d: dict) -> "StepRecord":
        return cls(result=d.get("result") or {}, next=d.get("next"), started_at=d.get("started_at"),
                   finished_at=d.get("finished_at"), duration_ms=d.get("duration_ms"), attempt=d.get("attempt"),
                   runner=d.get("runner"), extra=_extra(d, cls.FIELDS))


@dataclass
class DecisionRecord:
    """The decision as recorded: by the service (decide step) or a reviewer (who adds `service_outcome`)."""

    outcome: str  # accepted | rejected | review
    reasons: list[str]
    by: str  # service | reviewer
    decided_at: str
    extra: dict = field(default_factory=dict)

    FIELDS = ("outcome", "reasons", "by", "decided_at")

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "reasons": self.reasons, "by": self.by, "decided_at": self.decided_at, **self.extra}

    @classmethod
    def from_dict(cls, d: dict) -> "DecisionRecord":
        return cls(outcome=d["outcome"], reasons=list(d.get("reasons") or []), by=d.get("by", "service"),
                   decided_at=d.get("decided_at", ""), extra=_extra(d, cls.FIELDS))


@dataclass
class FailureRecord:
    """Why and where a request failed (or, on a decided request, a later step's failure kept beside the decision)."""

    step: str
    code: str
    message: str
    at: str

    def to_dict(self) -> dict:
        return {"step": self.step, "code": self.code, "message": self.message, "at": self.at}

    @classmethod
    def from_dict(cls, d: dict) -> "FailureRecord":
        return cls(step=d.get("step", ""), code=d.get("code", ""), message=d.get("message", ""), at=d.get("at", ""))


@dataclass
class VerificationRecord:
    """One device request: who, which images, each step's entry, and how it ended."""

    id: str
    subject_id: str
    device_id: str | None = None
    callback_url: str | None = None
    mode: str | None = None
    status: str = "queued"  # queued | processing | accepted | rejected | review | failed
    images: dict[str, str] = field(default_factory=dict)  # the device's images by name -> blob reference
    steps: dict[str, StepRecord] = field(default_factory=dict)
    decision: DecisionRecord | None = None
    failure: FailureRecord | None = None
    created_at: str | None = None
    updated_at: str | None = None
    request_fingerprint: str | None = None  # only a request with an Idempotency-Key has one
    step_failures: list[FailureRecord] = field(default_factory=list)  # steps that failed after the decision
    extra: dict = field(default_factory=dict)  # keys kept as they were: `_etag`, a reviewer's `review`, ...
    key_order: tuple[str, ...] = field(default=(), compare=False, repr=False)  # the stored document's, kept by to_dict

    FIELDS = ("id", "subject_id", "device_id", "callback_url", "mode", "status", "images", "steps", "decision", "failure",
              "created_at", "updated_at", "request_fingerprint", "step_failures")

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def result_of(self, step: str) -> dict | None:
        """The step's recorded result, or None when it did not run."""
        entry = self.steps.get(step)
        return entry.result if entry else None

    def face_crops(self) -> dict[str, str]:
        """The face-crop step's stored crops by name (chip, context, the anti-spoofing members'); none before it ran."""
        return dict((self.result_of("face-crop") or {}).get("crops") or {})

    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "id": self.id,
            "subject_id": self.subject_id,
            "device_id": self.device_id,
            "callback_url": self.callback_url,
            "mode": self.mode,
            "status": self.status,
            "images": dict(self.images),
            "steps": {name: entry.to_dict() for name, entry in self.steps.items()},
            "decision": self.decision.to_dict() if self.decision else None,
            "failure": self.failure.to_dict() if self.failure else None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.request_fingerprint is not None:
            d["request_fingerprint"] = self.request_fingerprint
        if self.step_failures:
            d["step_failures"] = [f.to_dict() for f in self.step_failures]
        d.update(self.extra)
        if self.key_order:  # a document read back is written back with its keys where they were
            d = {**{k: d[k] for k in self.key_order if k in d}, **d}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "VerificationRecord":
        decision, failure = d.get("decision"), d.get("failure")
        return cls(
            id=d["id"],
            subject_id=d.get("subject_id", ""),
            device_id=d.get("device_id"),
            callback_url=d.get("callback_url"),
            mode=d.get("mode"),
            status=d.get("status", "queued"),
            images=dict(d.get("images") or {}),
            steps={name: StepRecord.from_dict(entry or {}) for name, entry in (d.get("steps") or {}).items()},
            decision=DecisionRecord.from_dict(decision) if decision else None,
            failure=FailureRecord.from_dict(failure) if failure else None,
            created_at=d.get("created_at"),
            updated_at=d.get("updated_at"),
            request_fingerprint=d.get("request_fingerprint"),
            step_failures=[FailureRecord.from_dict(f) for f in d.get("step_failures") or []],
            extra=_extra(d, cls.FIELDS),
            key_order=tuple(d),
        )
