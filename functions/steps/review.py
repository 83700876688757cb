"""Review step: a case in doubt goes to a human by a signed webhook (runtime/webhooks.py).

Signed with the review webhook's own secret, a delivery id and a timestamp,
and sent only to a checked public https address (runtime/outbound.py).
Images travel as short-lived links (runtime/image_links.py), never inline. The
verdict comes back on POST /api/v1/reviews/{id}.
"""

from __future__ import annotations

from ..runtime.image_links import api_base, case_image_links
from ..runtime.step_runner import StepContext, StepOutcome, now_iso
from ..runtime.webhooks import delivery_id, send_signed


def review_payload(ctx: StepContext) -> dict:
    record = ctx.record
    base = api_base(ctx.services)
    scores = {}
    for step, keys in (("antispoof", ("label", "score", "llr")), ("face-match", ("score", "band", "accept_at", "review_at", "llr")),
                       ("signature", ("label", "score", "llr"))):
        result = record.result_of(step) or {}
        scores[step] = {k: result[k] for k in keys if k in result}
    return {
        "type": "bioauth.review_requested",
        "verification_id": record.id,
        "subject_id": record.subject_id,
        "device_id": record.device_id,
        "reasons": record.decision.reasons if record.decision else [],
        "explanation": record.decision.extra.get("explanation") if record.decision else None,
        "scores": scores,
        "images": case_image_links(ctx.services, record),
        "links_expire_in_seconds": ctx.services.settings.review_link_ttl_seconds,
        "verdict_url": f"{base}/api/v1/reviews/{record.id}",
        "sent_at": now_iso(),
    }


def review_step(ctx: StepContext) -> StepOutcome:
    url = ctx.services.settings.review_webhook_url
    then = "callback" if ctx.record.callback_url else "no_callback"
    if not url:
        return StepOutcome(result={"status": "not_configured", "at": now_iso()}, branch=then)
    result = send_signed(url, review_payload(ctx), ctx.services.secrets.review_webhook_secret,
                         delivery_id("review", ctx.record.id), ctx.services.settings, kind="webhook")
    return StepOutcome(result=result, branch=then)
