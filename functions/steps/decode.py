"""Decode step: the device's request. Check and decode both images, store them, create the record.

The route (http/routes.py) then starts the chain: it answers 202 with the
record's URL, or with `?mode=sync` runs the same steps in-process and answers
200 with the decision.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from ..errors import Conflict, InvalidRequest, MissingField, SubjectNotEnrolled
from ..imaging.images import DecodedImage, decode_image_field
from ..messages import StepMessage
from ..telemetry import current_trace_context
from ..runtime.outbound import check_destination, policy_from_settings
from ..runtime.services import Services
from ..runtime.subjects import check_face_template_current
from ..runtime.step_runner import VERIFICATIONS, now_iso
from ..settings import Settings
from ..storage import BlobToPut, put_all

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


@dataclass(frozen=True)
class VerificationRequest:
    subject_id: str
    device_id: str
    face: DecodedImage
    signature: DecodedImage
    callback_url: str | None = None


def require_str(data: dict, name: str) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise MissingField(f"'{name}' is required", details={"field": name})
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string", code="invalid_field", details={"field": name})
    return value


def check_id(value: str, field: str) -> str:
    """Ids name records and storage paths: the whole value must match (fullmatch: no trailing newline slips past '$')."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidRequest(
            f"{field} must be 1-128 characters of letters, digits, '.', '_', ':' or '-'",
            code="invalid_field",
            details={"field": field},
        )
    return value


def check_subject_id(subject_id: str) -> str:
    return check_id(subject_id, "subject_id")


def parse_verification_request(data: dict, settings: Settings) -> VerificationRequest:
    subject_id = check_subject_id(require_str(data, "subject_id"))
    device_id = check_id(require_str(data, "device_id"), "device_id")
    for name in ("face_image", "signature_image"):
        if not data.get(name):
            raise MissingField(f"'{name}' is required", details={"field": name})
    callback = data.get("callback_url")
    if callback is not None:
        check_destination(callback, policy_from_settings(settings))  # 400 invalid_callback_url now, not a silent failure later
    return VerificationRequest(
        subject_id=subject_id,
        device_id=device_id,
        face=decode_image_field(data["face_image"], field="face_image", max_bytes=settings.max_image_bytes,
                                max_pixels=settings.max_image_pixels),
        signature=decode_image_field(data["signature_image"], field="signature_image", max_bytes=settings.max_image_bytes,
                                     max_pixels=settings.max_signature_pixels),
        callback_url=callback,
    )


def accept_verification(request: VerificationRequest, services: Services, mode: str, *,
                        verification_id: str | None = None, fingerprint: str | None = None) -> tuple[dict, StepMessage]:
    """Store the images and create the record (the route then queues it, or withdraws it).

    A keyed request (verification_id from its Idempotency-Key) stores its images under a fresh folder, so a
    concurrent request with the same key and other images cannot overwrite the winner's; the loser's are removed.
    """
    subject = services.records.get("subjects", request.subject_id)
    if subject is None:
        raise SubjectNotEnrolled(f"subject {request.subject_id!r} is not enrolled", details={"subject_id": request.subject_id})
    check_face_template_current(subject, services)
    vid = verification_id or uuid.uuid4().hex
    folder = f"verifications/{vid}/" + (f"{uuid.uuid4().hex[:8]}/" if verification_id else "")
    face, signature = request.face, request.signature
    stored = put_all(services.blobs, [
        BlobToPut("images", f"{folder}face.{face.extension}", face.data, face.content_type),
        BlobToPut("images", f"{folder}signature.{signature.extension}", signature.data, signature.content_type),
    ])
    images = {"face": stored[0], "signature": stored[1]}
    record = {
        "id": vid,
        "subject_id": request.subject_id,
        "device_id": request.device_id,
        "callback_url": request.callback_url,
        "mode": mode,
        "status": "queued",
        "images": images,
        "steps": {},
        "decision": None,
        "failure": None,
        "created_at": now_iso(),
        "updated_at": now_iso(),
    }
    if fingerprint:
        record["request_fingerprint"] = fingerprint
    try:
        services.records.create(VERIFICATIONS, record)
    except Conflict:
        services.blobs.delete_prefix("images", folder)
        raise
    return record, StepMessage(verification_id=vid, subject_id=request.subject_id, images=images,
                               trace=current_trace_context())
