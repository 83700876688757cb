"""Review step: a case in doubt goes to a human by a signed webhook (runtime/webhooks.py).

Signed with the review webhook's own secret, a delivery id and a timestamp,
and sent only to a checked public https address (runtime/outbound.py).
Images travel as short-lived links, never inline; links start with the
configured public base URL, never with a Host header a caller sent. The
verdict comes back on POST /api/v1/reviews/{id}.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

from ..runtime.services import Services
from ..runtime.step_runner import StepContext, StepOutcome, now_iso
from ..runtime.webhooks import delivery_id, send_signed


def sign_link(ref: str, expires: int, key: bytes) -> str:
    return hmac.new(key, f"{ref}\n{expires}".encode(), hashlib.sha256).hexdigest()


def check_link(ref: str, expires: str, sig: str, key: bytes) -> bool:
    try:
        exp = int(expires)
    except (TypeError, ValueError):
        return False
    return exp >= time.time() and hmac.compare_digest(sign_link(ref, exp, key), sig or "")


def image_link(services: Services, ref: str, base_url: str) -> str:
    """A short-lived link that the API itself serves and checks.

    Not a storage SAS: in Azure the storage account is reachable only from
    the app's network, so images go out through the API (and Front Door).
    """
    expires = int(time.time()) + services.settings.review_link_ttl_seconds
    return f"{base_url}/api/v1/blobs/{quote(ref)}?expires={expires}&sig={sign_link(ref, expires, services.secrets.link_signing_key)}"


def api_base(services: Services) -> str:
    """Where links point: the configured public base URL, never the Host header a caller sent.

    In Azure it is the Front Door endpoint; the local host sets its own
    address when the setting is empty; otherwise links are relative.
    """
    return (services.settings.public_base_url or "").rstrip("/")


def case_images(record: dict) -> dict[str, str]:
    """Every image of a case by name: the device's (face, signature) and the face crops (face_chip, face_context)."""
    crops = (((record.get("steps") or {}).get("face-crop") or {}).get("result") or {}).get("crops") or {}
    return {**record.get("images", {}), **{f"face_{name}": ref for name, ref in crops.items()}}


def case_image_links(services: Services, record: dict) -> dict[str, str]:
    base = api_base(services)
    return {name: image_link(services, ref, base) for name, ref in case_images(record).items()}


def review_payload(ctx: StepContext) -> dict:
    record = ctx.record
    base = api_base(ctx.services)
    scores = {}
    for step, keys in (("antispoof", ("label", "score")), ("face-match", ("score", "band", "accept_at", "review_at")), ("signature", ("label", "score"))):
        result = ctx.result_of(step) or {}
        scores[step] = {k: result[k] for k in keys if k in result}
    return {
        "type": "bioauth.review_requested",
        "verification_id": record["id"],
        "subject_id": record["subject_id"],
        "device_id": record.get("device_id"),
        "reasons": (record.get("decision") or {}).get("reasons", []),
        "scores": scores,
        "images": case_image_links(ctx.services, record),
        "links_expire_in_seconds": ctx.services.settings.review_link_ttl_seconds,
        "verdict_url": f"{base}/api/v1/reviews/{record['id']}",
        "sent_at": now_iso(),
    }


def review_step(ctx: StepContext) -> StepOutcome:
    url = ctx.services.settings.review_webhook_url
    then = "callback" if ctx.record.get("callback_url") else "no_callback"
    if not url:
        return StepOutcome(result={"status": "not_configured", "at": now_iso()}, branch=then)
    result = send_signed(url, review_payload(ctx), ctx.services.secrets.review_webhook_secret,
                         delivery_id("review", ctx.record["id"]), ctx.services.settings)
    return StepOutcome(result=result, branch=then)
