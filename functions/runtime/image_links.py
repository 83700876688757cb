"""Short-lived signed links to a case's images, served and checked by the API itself (storage stays private).

Links start with the configured public base URL, never with a Host header a
caller sent. The review step puts them in the reviewer's webhook; the review
routes hand them to the console; GET /api/v1/blobs/{ref} checks them.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

from ..records import VerificationRecord
from .services import Services


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


def case_images(record: VerificationRecord | dict) -> dict[str, str]:
    """Every image of a case by name: the device's (face, signature) and the face crops (face_chip, face_context).

    Takes the stored document too (the review routes read records as stored).
    """
    if isinstance(record, dict):
        record = VerificationRecord.from_dict(record)
    return {**record.images, **{f"face_{name}": ref for name, ref in record.face_crops().items()}}


def case_image_links(services: Services, record: VerificationRecord | dict) -> dict[str, str]:
    base = api_base(services)
    return {name: image_link(services, ref, base) for name, ref in case_images(record).items()}
