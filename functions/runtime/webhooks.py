"""Signed POSTs to the reviewer's webhook and the devices' callbacks.

The POST body is JSON; the headers carry a timestamp and
HMAC-SHA256(secret, "<timestamp>.<body>"), so a receiver can check both origin
and freshness.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from .step_runner import now_iso

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
