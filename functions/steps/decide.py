"""Decide step: the decision (biometrics/decision.py) from the recorded results, audited, and where the request goes next.

A case in review goes to the review step; a decided one to notify when the
device gave a callback URL.
"""

from __future__ import annotations

from dataclasses import asdict

from ..biometrics.decision import decide
from ..records import DecisionRecord
from ..runtime.step_runner import StepContext, StepOutcome, now_iso
from ..storage.audit import AuditEvent, step_models


def decide_step(ctx: StepContext) -> StepOutcome:
    record = ctx.record
    results = {s: record.result_of(s) for s in ("face-crop", "antispoof", "face-match", "signature")}
    s = ctx.services.settings
    decision = decide(results, face_review_margin=s.face_review_margin, spoof_action=s.spoof_action)
    ctx.services.audit.append(AuditEvent(
        "verification.decided", "bioauth", "service", subject_id=record.subject_id,
        device_id=record.device_id, verification_id=record.id,
        details={"outcome": decision.outcome, "reasons": decision.reasons, **step_models(record.to_dict())},
    ))
    if decision.outcome == "review":
        branch = "review"
    else:
        branch = "callback" if record.callback_url else "no_callback"
    return StepOutcome(
        result=asdict(decision),
        branch=branch,
        decision=DecisionRecord(decision.outcome, list(decision.reasons), by="service", decided_at=now_iso()),
    )
