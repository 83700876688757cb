"""Signed POSTs to the reviewer's webhook and the devices' callbacks.

Each POST carries three headers:

    X-Bioauth-Delivery: <delivery id>   the same on every retry of one message, so receivers de-duplicate
    X-Bioauth-Timestamp: <unix seconds> when this try was signed, so receivers refuse stale copies
    X-Bioauth-Signature: sha256=<hex HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>")>

A replayed POST therefore fails twice over: its id was seen, and its
timestamp is old; a changed id or timestamp breaks the signature.

Receivers have their own secrets: each device's callback secret is derived
from the callback master secret and the device id (crypto/service_secrets.py,
Secrets.device_callback_secret: HMAC, so it can be given to the device and re-derived
here without being stored), and the review webhook has a separate secret. A device therefore cannot forge a review
request, nor one device another's callbacks. The POST itself goes through
outbound.py: public https receivers only, pinned, with a deadline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

from ..settings import Settings
from .outbound import Delivery, deliver, policy_from_settings
from .step_runner import now_iso

DELIVERY_HEADER = "X-Bioauth-Delivery"
TIMESTAMP_HEADER = "X-Bioauth-Timestamp"
SIGNATURE_HEADER = "X-Bioauth-Signature"
TOLERANCE_SECONDS = 300
_DELIVERY_NAMESPACE = uuid.UUID("6f1d7f3e-2b0c-4d7a-9a57-3c1b6c0e9d21")


def delivery_id(kind: str, verification_id: str) -> str:
    """One id per message (a verification's callback, its review request), stable across every retry."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{kind}:{verification_id}"))


def signature(secret: bytes, delivery: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{delivery}.{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: bytes, delivery: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        DELIVERY_HEADER: delivery,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, delivery, timestamp, body),
    }


def verify(secret: bytes, headers: dict[str, str], body: bytes, *, now: float | None = None,
           tolerance_seconds: int = TOLERANCE_SECONDS) -> str | None:
    """What a receiver does: the delivery id if the signature holds and the timestamp is fresh, else None.

    The caller still keeps the ids it has seen (for longer than the
    tolerance) and ignores a second POST with the same id.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    delivery = lower.get(DELIVERY_HEADER.lower(), "")
    given = lower.get(SIGNATURE_HEADER.lower(), "")
    try:
        timestamp = int(lower.get(TIMESTAMP_HEADER.lower(), ""))
    except ValueError:
        return None
    if not delivery or abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return None
    if not hmac.compare_digest(signature(secret, delivery, timestamp, body), given):
        return None
    return delivery


def send_signed(url: str, payload: dict, secret: bytes, delivery: str, settings: Settings, *, kind: str = "callback") -> dict:
    """POST the payload, each try signed afresh with this receiver's secret.

    Returns the recorded result (delivered, or a final refusal); raises
    DeliveryFailed when the queue should try again later.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()

    def sign(delivery_: str, timestamp: int, body_: bytes) -> dict[str, str]:
        return signed_headers(secret, delivery_, timestamp, body_)

    return deliver(Delivery(url, body, delivery, sign, kind=kind), policy_from_settings(settings), now_iso=now_iso).to_dict()
