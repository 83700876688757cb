"""Notify step: tell the device that gave a `callback_url` how its request ended.

One signed POST per request, once it is terminal (accepted, rejected, review
or failed), with the same signature scheme as the review webhook
(X-Bioauth-Timestamp, X-Bioauth-Signature), so a device can check origin and
freshness. Failed deliveries are retried by the queue; a callback that never
answers ends in notify-poison without touching the decision.
"""

from __future__ import annotations

from ..runtime.step_runner import StepContext, StepOutcome, now_iso
from ..runtime.webhooks import deliver


def callback_payload(record: dict) -> dict:
    return {
        "type": "bioauth.verification_completed",
        "verification_id": record["id"],
        "subject_id": record["subject_id"],
        "device_id": record.get("device_id"),
        "status": record["status"],
        "decision": record.get("decision"),
        "failure": record.get("failure"),
        "status_url": f"/api/v1/verifications/{record['id']}",
        "sent_at": now_iso(),
    }


def notify_step(ctx: StepContext) -> StepOutcome:
    url = ctx.record.get("callback_url")
    if not url:
        return StepOutcome(result={"status": "no_callback"}, next_step=None)
    delivery = deliver(url, callback_payload(ctx.record), ctx.services.secrets.review_webhook_secret)
    return StepOutcome(result=delivery, next_step=None)
