"""Notify step: tell the device that gave a `callback_url` how its request ended.

One signed POST per request, once it is terminal (accepted, rejected, review
or failed), signed with the device's own callback secret (derived from the
callback master secret and the device id, see crypto/service_secrets.py), a
delivery id that stays the same on every retry, and a timestamp. The URL was
checked when the device gave it and is checked again here
(runtime/outbound.py). Deliveries that may succeed later are retried by the
queue; a callback that never answers ends in notify-poison without touching
the decision; a redirect or a 4xx is final.
"""

from __future__ import annotations

from ..records import VerificationRecord
from ..runtime.step_runner import StepContext, StepOutcome, now_iso
from ..runtime.webhooks import delivery_id, send_signed


def callback_payload(record: VerificationRecord) -> dict:
    return {
        "type": "bioauth.verification_completed",
        "verification_id": record.id,
        "subject_id": record.subject_id,
        "device_id": record.device_id,
        "status": record.status,
        "decision": record.decision.to_dict() if record.decision else None,
        "failure": record.failure.to_dict() if record.failure else None,
        "status_url": f"/api/v1/verifications/{record.id}",
        "sent_at": now_iso(),
    }


def notify_step(ctx: StepContext) -> StepOutcome:
    url = ctx.record.callback_url
    if not url:
        return StepOutcome(result={"status": "no_callback"}, branch="done")
    secret = ctx.services.secrets.device_callback_secret(ctx.record.device_id or "")
    # A reviewer's verdict is a second callback after the one that said `review`: a delivery id of its own.
    kind = "callback-verdict" if ctx.record.decision is not None and ctx.record.decision.by == "reviewer" else "callback"
    result = send_signed(url, callback_payload(ctx.record), secret, delivery_id(kind, ctx.record.id), ctx.services.settings)
    return StepOutcome(result=result, branch="done")
