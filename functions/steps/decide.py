"""Decide step: the decision (biometrics/decision.py) from the recorded results, and where the request goes next.

The policy is the setting BIOAUTH_DECISION_POLICY; the fused policy's thresholds
come from the policy manifest (models/decision/policy.json). The decision's
explanation goes into the record (the device's answer, the review case) and
the audit event. A case in review goes to the review step; a decided one to
notify when the device gave a callback URL.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..biometrics.decision import FUSED, decide
from ..errors import ModelNotInstalled
from ..manifests import FusedThresholds, read_policy
from ..records import DecisionRecord
from ..runtime.step_runner import StepContext, StepOutcome, now_iso


def policy_thresholds(models_dir: Path) -> FusedThresholds | None:
    """The fused thresholds the service runs with, or None when no policy manifest is installed."""
    try:
        return read_policy(models_dir)
    except ModelNotInstalled:
        return None


def decide_step(ctx: StepContext) -> StepOutcome:
    record = ctx.record
    results = {s: record.result_of(s) for s in ("face-crop", "antispoof", "face-match", "signature")}
    s = ctx.services.settings
    thresholds = policy_thresholds(s.models_dir) if s.decision_policy == FUSED else None
    decision = decide(results, face_review_margin=s.face_review_margin, spoof_action=s.spoof_action,
                      policy=s.decision_policy, thresholds=thresholds)
    # The step runner records the decision and its `verification.decided` audit event (with the explanation) together.
    if decision.outcome == "review":
        branch = "review"
    else:
        branch = "callback" if record.callback_url else "no_callback"
    return StepOutcome(
        result=asdict(decision),
        branch=branch,
        decision=DecisionRecord(decision.outcome, list(decision.reasons), by="service", decided_at=now_iso(),
                                extra={"explanation": decision.explanation,
                                       **({"retake": decision.retake} if decision.retake else {})}),
    )
