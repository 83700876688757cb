"""Decode step: the device's POST. Check and decode both images, store them, create the record, start the chain.

Answers 202 with the record's URL; with `?mode=sync` it runs the same steps
in-process and answers 200 with the decision.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

import azure.functions as func

from .antispoof import antispoof_step
from .decide import decide_step
from .errors import BioauthError, BodyTooLarge, InvalidRequest, MissingField, SubjectNotEnrolled
from .face_crop import face_crop_step
from .face_match import face_match_step
from .images import DecodedImage, decode_image_field
from .messages import StepMessage
from .pipeline import FIRST_STEP, VERIFICATIONS, StepFunction, now_iso, run_chain
from .services import Services, get_services
from .settings import Settings
from .signature import signature_step
from .triggers import STORAGE_CONNECTION

log = logging.getLogger("bioauth.decode")

SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
STEP_FUNCTIONS: dict[str, StepFunction] = {
    "face-crop": face_crop_step,
    "antispoof": antispoof_step,
    "face-match": face_match_step,
    "signature": signature_step,
    "decide": decide_step,
}


@dataclass(frozen=True)
class VerificationRequest:
    subject_id: str
    device_id: str
    face: DecodedImage
    signature: DecodedImage
    callback_url: str | None = None


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json", headers=headers or {})


def error_response(exc: BioauthError) -> func.HttpResponse:
    return json_response({"error": exc.to_dict()}, exc.http_status)


def read_json_body(req: func.HttpRequest, settings: Settings) -> dict:
    body = req.get_body() or b""
    if len(body) > settings.max_body_bytes:
        raise BodyTooLarge(f"request body is {len(body)} bytes, over the {settings.max_body_bytes} byte limit",
                           details={"limit_bytes": settings.max_body_bytes})
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    return data


def require_str(data: dict, name: str) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise MissingField(f"'{name}' is required", details={"field": name})
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string", code="invalid_field", details={"field": name})
    return value


def check_subject_id(subject_id: str) -> str:
    if not SUBJECT_ID.match(subject_id):
        raise InvalidRequest(
            "subject_id must be 1-128 characters of letters, digits, '.', '_', ':' or '-'",
            code="invalid_field",
            details={"field": "subject_id"},
        )
    return subject_id


def parse_verification_request(data: dict, settings: Settings) -> VerificationRequest:
    subject_id = check_subject_id(require_str(data, "subject_id"))
    device_id = require_str(data, "device_id")
    for name in ("face_image", "signature_image"):
        if not data.get(name):
            raise MissingField(f"'{name}' is required", details={"field": name})
    callback = data.get("callback_url")
    if callback is not None:
        parsed = urlparse(callback) if isinstance(callback, str) else None
        if not parsed or parsed.scheme not in ("https", "http") or not parsed.netloc:
            raise InvalidRequest("callback_url must be an absolute http(s) URL", code="invalid_field",
                                 details={"field": "callback_url"})
    limits = dict(max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
    return VerificationRequest(
        subject_id=subject_id,
        device_id=device_id[:128],
        face=decode_image_field(data["face_image"], field="face_image", **limits),
        signature=decode_image_field(data["signature_image"], field="signature_image", **limits),
        callback_url=callback,
    )


def accept_verification(request: VerificationRequest, services: Services, api_base: str, mode: str) -> tuple[dict, StepMessage]:
    """Store the images and create the record. After this returns, the request is never lost."""
    if services.records.get("subjects", request.subject_id) is None:
        raise SubjectNotEnrolled(f"subject {request.subject_id!r} is not enrolled", details={"subject_id": request.subject_id})
    vid = uuid.uuid4().hex
    images = {
        "face": services.blobs.put("images", f"verifications/{vid}/face.{request.face.extension}", request.face.data, request.face.content_type),
        "signature": services.blobs.put(
            "images", f"verifications/{vid}/signature.{request.signature.extension}", request.signature.data, request.signature.content_type
        ),
    }
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
        "api_base": api_base,
        "created_at": now_iso(),
        "updated_at": now_iso(),
    }
    services.records.create(VERIFICATIONS, record)
    return record, StepMessage(verification_id=vid, subject_id=request.subject_id, images=images)


def api_base_of(req: func.HttpRequest) -> str:
    parsed = urlparse(req.url)
    return f"{parsed.scheme}://{parsed.netloc}"


def verification_view(record: dict) -> dict:
    """What a device sees of a record: status, decision, and per-step results with timings."""
    steps = {
        name: {k: entry.get(k) for k in ("result", "duration_ms", "started_at", "finished_at", "attempt")}
        for name, entry in (record.get("steps") or {}).items()
    }
    view = {
        "id": record["id"],
        "subject_id": record["subject_id"],
        "device_id": record.get("device_id"),
        "status": record["status"],
        "decision": record.get("decision"),
        "failure": record.get("failure"),
        "steps": steps,
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
    }
    if record.get("review"):
        view["review"] = record["review"]
    return view


bp = func.Blueprint()


@bp.route(route="v1/verifications", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="to_face_crop", queue_name="face-crop", connection=STORAGE_CONNECTION)
@bp.queue_output(arg_name="to_review", queue_name="review", connection=STORAGE_CONNECTION)
@bp.queue_output(arg_name="to_notify", queue_name="notify", connection=STORAGE_CONNECTION)
def create_verification(req: func.HttpRequest, to_face_crop: func.Out[str], to_review: func.Out[str],
                        to_notify: func.Out[str]) -> func.HttpResponse:
    services = get_services()
    mode = "sync" if req.params.get("mode") == "sync" else "async"
    try:
        request = parse_verification_request(read_json_body(req, services.settings), services.settings)
        record, message = accept_verification(request, services, api_base_of(req), mode)
    except BioauthError as exc:
        return error_response(exc)
    location = f"/api/v1/verifications/{record['id']}"
    if mode == "async":
        to_face_crop.set(message.to_json())
        return json_response({"id": record["id"], "status": "queued", "status_url": location}, 202, {"Location": location})

    stopped_before = run_chain(FIRST_STEP, STEP_FUNCTIONS, message.to_json(), services)
    handoff = {"review": to_review, "notify": to_notify}  # these run on their queues, after the answer
    if stopped_before in handoff:
        handoff[stopped_before].set(message.to_json())
    final = services.records.get(VERIFICATIONS, record["id"])
    return json_response(verification_view(final), 200, {"Location": location})
