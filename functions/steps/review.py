"""Review step: a case in doubt goes to a human by a signed webhook.

The POST body is JSON; the headers carry a timestamp and
HMAC-SHA256(secret, "<timestamp>.<body>"), so a receiver can check both origin
and freshness. Images travel as short-lived links, never inline. The verdict
comes back on POST /api/v1/reviews/{id}.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from urllib.parse import quote

import azure.functions as func

from .pipeline import StepContext, StepOutcome, now_iso
from .services import Services
from .triggers import STORAGE_CONNECTION, handle_queue_message

log = logging.getLogger("bioauth.review")

SIGNATURE_HEADER = "X-Bioauth-Signature"
TIMESTAMP_HEADER = "X-Bioauth-Timestamp"
DELIVERY_TRIES = 3
DELIVERY_TIMEOUT_SECONDS = 10.0


def sign_body(body: bytes, secret: bytes, timestamp: int) -> str:
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def check_body_signature(body: bytes, secret: bytes, timestamp: str, signature: str, *, tolerance_seconds: int = 300) -> bool:
    """What a receiver does: recompute the HMAC and refuse stale timestamps (replays)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign_body(body, secret, ts), signature or "")


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


def api_base(services: Services, record: dict) -> str:
    """The public base URL (Front Door) if set, else the host the device called."""
    return (services.settings.public_base_url or record.get("api_base") or "").rstrip("/")


def case_images(record: dict) -> dict[str, str]:
    """Every image of a case by name: the device's (face, signature) and the face crops (face_chip, face_context)."""
    crops = (((record.get("steps") or {}).get("face-crop") or {}).get("result") or {}).get("crops") or {}
    return {**record.get("images", {}), **{f"face_{name}": ref for name, ref in crops.items()}}


def case_image_links(services: Services, record: dict) -> dict[str, str]:
    base = api_base(services, record)
    return {name: image_link(services, ref, base) for name, ref in case_images(record).items()}


def review_payload(ctx: StepContext) -> dict:
    record = ctx.record
    base = api_base(ctx.services, record)
    scores = {}
    for step, keys in (("antispoof", ("label", "score")), ("face-match", ("distance", "similarity", "threshold")), ("signature", ("label", "score"))):
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


def deliver(url: str, payload: dict, secret: bytes, *, tries: int = DELIVERY_TRIES) -> dict:
    """POST with retries and exponential backoff; raises after the last try so the queue retries later."""
    import requests

    body = json.dumps(payload, separators=(",", ":")).encode()
    last_error = ""
    for attempt in range(1, tries + 1):
        ts = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign_body(body, secret, ts)}
        try:
            response = requests.post(url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS)
            if 200 <= response.status_code < 300:
                return {"status": "delivered", "http_status": response.status_code, "tries": attempt, "at": now_iso()}
            last_error = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last_error = type(exc).__name__
        log.warning("review webhook try %d of %d failed: %s", attempt, tries, last_error)
        if attempt < tries:
            time.sleep(0.5 * 2 ** (attempt - 1))
    raise ConnectionError(f"review webhook not delivered after {tries} tries: {last_error}")


def review_step(ctx: StepContext) -> StepOutcome:
    url = ctx.services.settings.review_webhook_url
    then = "notify" if ctx.record.get("callback_url") else None
    if not url:
        return StepOutcome(result={"status": "not_configured", "at": now_iso()}, next_step=then)
    delivery = deliver(url, review_payload(ctx), ctx.services.secrets.review_webhook_secret)
    return StepOutcome(result=delivery, next_step=then)


bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="review", connection=STORAGE_CONNECTION)
@bp.queue_output(arg_name="to_notify", queue_name="notify", connection=STORAGE_CONNECTION)
def review_trigger(msg: func.QueueMessage, to_notify: func.Out[str]) -> None:
    handle_queue_message("review", review_step, msg, {"notify": to_notify})
