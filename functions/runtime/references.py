"""A subject's enrolled references as a reviewer sees them: the face photos as enrolled and the signature canvases.

A reviewer judging a `face_uncertain` or signature case needs the person's
references beside the probe. They are stored encrypted (runtime/subjects.py),
so they are never linked to storage directly: a short-lived link signed for
one reviewer and one case names the reference (kind and index), the API
checks it, decrypts the reference, and records the access in the audit trail.
Face photos exist only where enrolment images are retained.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import mimetypes
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import numpy as np
from PIL import Image

from ..crypto.template_protection import decrypt
from ..errors import Unauthorized, VerificationNotFound
from .image_links import api_base
from .services import Services
from .subjects import SUBJECTS, associated_data, load_signature_references

KINDS = ("face", "signature")


@dataclass(frozen=True)
class ReferenceLink:
    """What a reference link names; every field is covered by its signature."""

    subject_id: str
    kind: str  # "face" (an enrolment photo) or "signature" (a reference canvas)
    index: int
    case_id: str  # the verification in review the reviewer opened
    reviewer_id: str  # who was given the link: the audit trail names them on each access
    expires: int

    def signed_text(self) -> bytes:
        return "\n".join(("reference", self.subject_id, self.kind, str(self.index), self.case_id, self.reviewer_id,
                          str(self.expires))).encode()

    def signature(self, key: bytes) -> str:
        return hmac.new(key, self.signed_text(), hashlib.sha256).hexdigest()


def retained_face_refs(subject: dict) -> list[str]:
    return [ref for ref in subject.get("retained_images", []) if ref.rsplit("/", 1)[-1].startswith("face-")]


def reference_links(services: Services, subject_id: str, case_id: str, reviewer_id: str) -> dict:
    """`{"face": [url, ...], "signature": [url, ...], "face_photos_retained": bool}` for the subject, or empty lists
    when the subject is no longer enrolled."""
    subject = services.records.get(SUBJECTS, subject_id) or {}
    expires = int(time.time()) + services.settings.review_link_ttl_seconds
    counts = {"face": len(retained_face_refs(subject)), "signature": int((subject.get("signature") or {}).get("count", 0))}
    base, key = api_base(services), services.secrets.link_signing_key
    links = {}
    for kind in KINDS:
        links[kind] = []
        for index in range(counts[kind]):
            link = ReferenceLink(subject_id, kind, index, case_id, reviewer_id, expires)
            query = urlencode({"case": case_id, "by": reviewer_id, "expires": expires, "sig": link.signature(key)})
            links[kind].append(f"{base}/api/v1/references/{quote(subject_id, safe='')}/{kind}/{index}?{query}")
    links["face_photos_retained"] = bool(subject) and services.settings.retain_enrolment_images and counts["face"] > 0
    return links


def check_reference_link(services: Services, subject_id: str, kind: str, index: str, params) -> ReferenceLink:
    """The link's claims when its signature holds and it has not expired; `invalid_link` (401) otherwise."""
    try:
        link = ReferenceLink(subject_id, kind, int(index), params.get("case", ""), params.get("by", ""),
                             int(params.get("expires", "")))
    except (TypeError, ValueError):
        raise Unauthorized("link is invalid or expired", code="invalid_link") from None
    good = hmac.compare_digest(link.signature(services.secrets.link_signing_key), params.get("sig", "") or "")
    if kind not in KINDS or not good or link.expires < time.time():
        raise Unauthorized("link is invalid or expired", code="invalid_link")
    return link


def canvas_png(canvas: np.ndarray) -> bytes:
    """A stored signature canvas (ink bright on dark, uint8) as a PNG with dark ink on white, as it was written."""
    out = io.BytesIO()
    Image.fromarray(255 - np.asarray(canvas, dtype=np.uint8).squeeze()).save(out, format="PNG")
    return out.getvalue()


def read_reference(services: Services, link: ReferenceLink) -> tuple[bytes, str]:
    """The decrypted reference the link names, with its media type; 404 when it is gone (re-enrolled or erased)."""
    subject = services.records.get(SUBJECTS, link.subject_id)
    missing = VerificationNotFound("no such reference (the subject was enrolled again or erased)", code="not_found")
    if subject is None:
        raise missing
    key = services.secrets.template_key
    if link.kind == "face":
        refs = retained_face_refs(subject)
        if link.index >= len(refs):
            raise missing
        ref = refs[link.index]
        data = decrypt(services.blobs.get(ref), key, associated_data("face-image", link.subject_id))
        return data, mimetypes.guess_type(ref.removesuffix(".enc"))[0] or "application/octet-stream"
    canvases = load_signature_references(subject, services)
    if link.index >= len(canvases):
        raise missing
    return canvas_png(canvases[link.index]), "image/png"

