"""The HTTP API's OpenAPI 3.1 description, served at GET /api/openapi.json (functions/http/routes.py).

Written beside the routes so that tests/test_openapi.py can hold both to each
other: every route of the app has a description and every description has a
route. Error and reason codes are enums, so a client can switch on them; the
error codes are read from the error classes (functions/errors.py) each time
the document is made, so they are never typed here again."""

from __future__ import annotations

from ..biometrics.quality import RETAKE_REASONS
from ..errors import error_codes

API_VERSION = "1.0.0"

# Every reason a decision may carry (the decision's rules, the face-crop and signature checks, a reviewer's verdict).
REASON_CODES = (
    "no_face", "multiple_faces", "low_face_score", "face_cut_off", "face_too_small",
    *RETAKE_REASONS,
    "spoof_detected", "spoof_suspected", "liveness_uncertain",
    "face_mismatch", "face_uncertain", "signature_forged", "signature_uncertain",
    "blank_image", "no_ink", "image_too_small",
    "live_face", "face_match", "signature_genuine", "other_faces_ignored",
    "evidence_sufficient", "evidence_uncertain", "evidence_insufficient", "evidence_conflict",
    "reviewer_accept", "reviewer_reject",
)

STATUSES = ("queued", "processing", "accepted", "rejected", "review", "failed")
OUTCOMES = ("accepted", "rejected", "review")
STEPS = ("face-crop", "antispoof", "face-match", "signature", "decide", "review", "notify")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _path_param(name: str, description: str, pattern: str | None = None) -> dict:
    schema: dict = {"type": "string", "minLength": 1}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


SUBJECT_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
IMAGE = {"type": "string", "minLength": 1,
         "description": "base64 (plain or a data URL, `data:image/jpeg;base64,...`) of a JPEG, PNG, WebP or BMP image"}
LOCATION = {"Location": {"description": "the verification's status URL (path)", "schema": {"type": "string"}}}
# A principal's key (Bearer), or on one machine the local function key, a bootstrap admin that may act in every role.
KEY = [{"bearer": []}, {"functionKey": []}, {"functionKeyQuery": []}]
ANONYMOUS: list = []
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}

ERROR_STATUS = {400: "bad input", 401: "no credential, or an unknown or revoked one",
                403: "the caller's role may not do this (forbidden_role), or a device names another device",
                404: "no such subject, verification, route or file",
                405: "the route does not take this method", 408: "the body did not arrive in time",
                409: "the resource is not in a state that allows this",
                411: "a body without Content-Length (chunked bodies are not accepted)",
                413: "the body, an image or its pixel count is over its limit", 415: "an image in an unsupported format",
                422: "bytes that are not a readable image, or an Idempotency-Key reused for another request",
                429: "too many requests for this key: wait Retry-After seconds",
                500: "the function failed (details are in the host log)",
                503: "a model the request needs is not installed (model_not_installed), or storage is not taking writes "
                     "(service_unavailable: nothing was kept; send the same request again after Retry-After)"}


def _schemas() -> dict:
    codes = error_codes()
    step_entry = {
        "type": "object",
        "properties": {
            "result": {"type": ["object", "null"], "additionalProperties": True,
                       "description": "what the step measured (label, score, band, thresholds, reason, model_version, ...)"},
            "duration_ms": {"type": ["number", "null"]},
            "started_at": {"type": ["string", "null"]},
            "finished_at": {"type": ["string", "null"]},
            "attempt": {"type": ["integer", "null"]},
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": codes},
                    "message": {"type": "string"},
                    "details": {"type": "object", "additionalProperties": True},
                },
            }},
        },
        "ReasonCode": {"type": "string", "enum": list(REASON_CODES)},
        "VerificationRequest": {
            "type": "object",
            "required": ["subject_id", "face_image", "signature_image"],
            "properties": {
                "subject_id": {"type": "string", "pattern": SUBJECT_ID_PATTERN},
                "device_id": {"type": "string", "minLength": 1,
                              "description": "optional: the device is the key's; naming another one is refused"},
                "face_image": IMAGE,
                "signature_image": IMAGE,
                "callback_url": {"type": "string", "format": "uri",
                                 "description": "a public https URL told how the request ended (signed POST)"},
            },
        },
        "VerificationAccepted": {
            "type": "object",
            "required": ["id", "status", "status_url"],
            "properties": {"id": {"type": "string"}, "status": {"const": "queued"}, "status_url": {"type": "string"}},
        },
        "Decision": {
            "type": "object",
            "required": ["outcome", "reasons"],
            "properties": {
                "outcome": {"type": "string", "enum": list(OUTCOMES)},
                "reasons": {"type": "array", "items": _ref("ReasonCode")},
                "by": {"type": "string", "enum": ["service", "reviewer"]},
                "decided_at": {"type": "string"},
                "service_outcome": {"type": ["string", "null"]},
                "explanation": _ref("DecisionExplanation"),
                "retake": _ref("Retake"),
            },
        },
        "DecisionExplanation": {
            "type": "object",
            "description": "Why the service decided so: each check's calibrated log-likelihood ratio (natural log; > 0 supports "
                           "the hypothesis in llr_of), their sum, and the thresholds of the policy that cut it",
            "required": ["policy", "llr", "fused", "thresholds", "veto"],
            "properties": {
                "policy": {"type": "string", "enum": ["all", "fused"], "description": "the rule that decided (BIOAUTH_DECISION_POLICY, "
                           "or 'all' when the fused policy lacked a manifest or an LLR; see note)"},
                "policy_version": {"type": ["string", "null"], "description": "version of models/decision/policy.json (fused only)"},
                "llr": {"type": "object", "properties": {k: {"type": ["number", "null"]} for k in ("face", "liveness", "signature")}},
                "llr_of": {"type": "object", "additionalProperties": {"type": "string"}},
                "fused": {"type": ["number", "null"], "description": "sum of the three LLRs (null when a check did not run)"},
                "thresholds": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["accept", "review"], "properties": {
                    "accept": {"type": "number"}, "review": {"type": "number"}}}]},
                "veto": {"type": ["string", "null"], "description": "the reason that decided before any sum (unusable image, spoof, "
                         "face far below its review band, unreadable signature)"},
                "note": {"type": "string"},
            },
        },
        "Retake": {
            "type": "object",
            "description": "Why a capture must be taken again (a retake_* reason): what was measured of the face, "
                           "its value and the limit it broke (limits in models/quality/manifest.json)",
            "required": ["reason", "measure", "value", "limit"],
            "properties": {
                "reason": {"type": "string", "enum": list(RETAKE_REASONS)},
                "measure": {"type": "string", "enum": ["eye_distance_px", "brightness", "dark_fraction", "bright_fraction", "sharpness",
                                                       "yaw_deg", "pitch_deg", "roll_deg"]},
                "value": {"type": "number"},
                "limit": {"type": "number"},
            },
        },
        "Failure": {
            "type": "object",
            "required": ["step", "code"],
            "properties": {"step": {"type": "string"}, "code": {"type": "string", "enum": codes}, "message": {"type": "string"},
                           "at": {"type": "string"}},
        },
        "Review": {
            "type": "object",
            "properties": {
                "verdict": {"type": "string", "enum": ["accept", "reject"]},
                "presentation": {"type": ["string", "null"], "enum": ["bona_fide", "attack", None]},
                "note": {"type": "string"},
                "reviewer": {"type": "string"},
                "reviewed_at": {"type": "string"},
            },
        },
        "Verification": {
            "type": "object",
            "required": ["id", "subject_id", "status", "steps"],
            "properties": {
                "id": {"type": "string"},
                "subject_id": {"type": "string"},
                "device_id": {"type": ["string", "null"]},
                "status": {"type": "string", "enum": list(STATUSES)},
                "decision": {"oneOf": [_ref("Decision"), {"type": "null"}]},
                "failure": {"oneOf": [_ref("Failure"), {"type": "null"}]},
                "steps": {"type": "object", "propertyNames": {"enum": list(STEPS)}, "additionalProperties": step_entry},
                "created_at": {"type": ["string", "null"]},
                "updated_at": {"type": ["string", "null"]},
                "review": _ref("Review"),
            },
        },
        "ReviewCase": {
            "allOf": [_ref("Verification"), {
                "type": "object",
                "required": ["images", "references"],
                "properties": {"images": {
                    "type": "object", "additionalProperties": {"type": "string"},
                    "description": "short-lived links by image name: face, signature, face_chip, face_context"},
                    "references": {
                        "type": "object", "required": ["face", "signature", "face_photos_retained"],
                        "description": "the subject's enrolled references, as short-lived links signed for this reviewer "
                                       "(each access is audited): face photos as enrolled, signature reference canvases",
                        "properties": {"face": {"type": "array", "items": {"type": "string"}},
                                       "signature": {"type": "array", "items": {"type": "string"}},
                                       "face_photos_retained": {"type": "boolean"}}}},
            }],
        },
        "ReviewInbox": {
            "type": "object",
            "required": ["cases", "count"],
            "properties": {
                "cases": {"type": "array", "items": {
                    "type": "object",
                    "required": ["id", "subject_id", "reasons"],
                    "properties": {"id": {"type": "string"}, "subject_id": {"type": "string"},
                                   "device_id": {"type": ["string", "null"]}, "created_at": {"type": ["string", "null"]},
                                   "reasons": {"type": "array", "items": _ref("ReasonCode")}},
                }},
                "count": {"type": "integer", "minimum": 0, "description": "all cases waiting, not only those listed"},
            },
        },
        "ReviewVerdictRequest": {
            "type": "object",
            "required": ["verdict"],
            "properties": {
                "verdict": {"type": "string", "enum": ["accept", "reject"]},
                "presentation": {"type": "string", "enum": ["bona_fide", "attack"],
                                 "description": "what was in front of the camera; an attack cannot be accepted"},
                "note": {"type": "string", "maxLength": 2000},
                "reviewer": {"type": "string", "maxLength": 200, "description": "ignored: the key names the reviewer"},
            },
        },
        "EnrolmentRequest": {
            "type": "object",
            "required": ["face_images", "signature_images"],
            "properties": {
                "face_images": {"type": "array", "items": IMAGE, "minItems": 1, "maxItems": 10},
                "signature_images": {"type": "array", "items": IMAGE, "minItems": 3, "maxItems": 10},
            },
        },
        "Enrolment": {
            "type": "object",
            "required": ["subject_id", "faces", "signatures", "face_model", "face_model_version"],
            "properties": {
                "subject_id": {"type": "string"}, "faces": {"type": "integer"}, "signatures": {"type": "integer"},
                "face_model": {"type": "string", "description": "<name>/<version> of the face model that made the template"},
                "face_model_version": {"type": "string"}, "images_retained": {"type": "boolean"},
                "enrolled_at": {"type": "string"},
            },
        },
        "Renewal": {
            "type": "object",
            "required": ["subject_id", "faces", "face_model", "face_model_version"],
            "properties": {"subject_id": {"type": "string"}, "faces": {"type": "integer"},
                           "face_model": {"type": "string", "description": "<name>/<version> of the face model that made the new template"},
                           "face_model_version": {"type": "string"}, "renewed_at": {"type": "string"}},
        },
        "Liveness": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string", "enum": ["ok", "degraded"]}},
        },
        "Principal": {
            "type": "object",
            "required": ["id", "role"],
            "properties": {"id": {"type": "string"}, "role": {"type": "string", "enum": ["device", "operator", "reviewer", "admin"]},
                           "name": {"type": ["string", "null"]}, "key_id": {"type": ["string", "null"]}},
        },
        "AuditTrail": {
            "type": "object",
            "required": ["events", "count"],
            "properties": {
                "events": {"type": "array", "items": {
                    "type": "object",
                    "required": ["action", "actor_id", "actor_role", "at", "id"],
                    "properties": {"action": {"type": "string"}, "actor_id": {"type": "string"}, "actor_role": {"type": "string"},
                                   "subject_id": {"type": ["string", "null"]}, "device_id": {"type": ["string", "null"]},
                                   "verification_id": {"type": ["string", "null"]},
                                   "details": {"type": "object", "additionalProperties": True},
                                   "at": {"type": "string"}, "id": {"type": "string"}},
                }},
                "count": {"type": "integer", "minimum": 0},
            },
        },
        "Key": {
            "type": "object",
            "required": ["key_id", "principal_id", "role"],
            "properties": {
                "key_id": {"type": "string"}, "principal_id": {"type": "string"},
                "role": {"type": "string", "enum": ["device", "operator", "reviewer"]}, "name": {"type": ["string", "null"]},
                "created_at": {"type": "string"}, "created_by": {"type": "string"},
                "revoked_at": {"type": ["string", "null"]}, "replaces": {"type": ["string", "null"]},
                "token": {"type": "string", "description": "the secret, in the answer that made the key only"},
            },
        },
        "KeyList": {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": _ref("Key")}}},
        "NewKey": {
            "type": "object",
            "required": ["role", "principal_id"],
            "properties": {"role": {"type": "string", "enum": ["device", "operator", "reviewer"]},
                           "principal_id": {"type": "string", "minLength": 1}, "name": {"type": "string", "maxLength": 200}},
        },
        "Rotation": {
            "type": "object",
            "properties": {"keep_old": {"type": "boolean", "default": False,
                                        "description": "keep the old key working (a changeover); revoked otherwise"}},
        },
        "Health": {
            "type": "object",
            "required": ["status", "storage", "models", "queues"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded"]},
                "problems": {"type": "array", "items": {"type": "string"}},
                "storage": {"type": "object", "additionalProperties": {"type": "string"}},
                "models": {"type": "array", "items": {"type": "object", "required": ["name", "version"],
                                                      "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                                                     "sha256": {"type": "string"}}}},
                "queues": {"type": "object", "description": "per queue: the age of its oldest message",
                           "additionalProperties": {"type": "object", "additionalProperties": True}},
                "pollers": {"type": ["object", "array", "null"]},
                "blob_write": {"type": ["object", "string", "boolean", "null"]},
            },
        },
    }


# Operations grouped as integrators look for them (operationId -> tag); the rest are "service".
TAGS = {"verifications": "what a device sends and reads", "subjects": "enrolment, renewal and erasure",
        "reviews": "the review inbox, cases, verdicts and their image links", "keys": "credentials and the caller",
        "audit": "the audit trail", "service": "health and this description"}
TAG_OF = {
    "createVerification": "verifications", "getVerification": "verifications",
    "enrolSubject": "subjects", "renewSubject": "subjects", "eraseSubject": "subjects",
    "listReviewCases": "reviews", "getReviewCase": "reviews", "postReviewVerdict": "reviews",
    "getLinkedImage": "reviews", "getEnrolledReference": "reviews",
    "listKeys": "keys", "createKey": "keys", "rotateKey": "keys", "revokeKey": "keys", "whoami": "keys",
    "readAudit": "audit",
}


def _op(summary: str, answers: dict, *, errors: tuple[int, ...] = (), roles: tuple[str, ...] = (), body: str | None = None,
        parameters: list | None = None, operation_id: str) -> dict:
    """One operation. `roles` are who may call it (none: anyone, without a credential); a caller with a credential
    may also be refused (401), have the wrong role (403) or be over its key's rate (429, with Retry-After)."""
    if roles:
        errors = (*errors, 401, 403, 429)
    if body:
        errors = (*errors, 400, 411, 413)  # a body's declared length is checked before it is read
    errors = tuple(sorted(set(errors)))
    responses = {**answers}
    for status in errors:
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    op: dict = {"operationId": operation_id, "summary": summary, "tags": [TAG_OF.get(operation_id, "service")],
                "security": KEY if roles else ANONYMOUS, "responses": responses}
    if roles:
        op["description"] = "Who may call it: " + ", ".join(roles) + "."
        op["x-bioauth-roles"] = list(roles)
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return op


def _paths() -> dict:
    vid = _path_param("id", "the verification id")
    subject = _path_param("subject_id", "the subject's identifier", SUBJECT_ID_PATTERN)
    key_id = _path_param("key_id", "the key's id")
    body_errors = (400, 413, 415, 422)
    limit = {"name": "limit", "in": "query", "required": False, "description": "at most this many (outside the range: 400 invalid_field)"}
    return {
        "/v1/verifications": {"post": _op(
            "Verify a claimed identity from a face photo and a handwritten signature",
            {"202": _json(_ref("VerificationAccepted"), "queued; poll the Location", LOCATION),
             "200": _json(_ref("Verification"), "with ?mode=sync: the decision in one round trip", LOCATION)},
            errors=(*body_errors, 404, 409, 503), roles=("device",), body="VerificationRequest",
            operation_id="createVerification",
            parameters=[{"name": "mode", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": ["async", "sync"], "default": "async"}},
                        {"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"},
                         "description": "the same key (per device) with the same request answers with the first "
                                        "verification instead of making another; with another request, 422"}],
        )},
        "/v1/verifications/{id}": {"get": _op(
            "A verification's status, decision, reasons and per-step results (a device reads its own only)",
            {"200": _json(_ref("Verification"), "the verification")}, errors=(400, 404), roles=("device", "operator"),
            parameters=[vid, {"name": "wait", "in": "query", "required": False,
                              "schema": {"type": "number", "minimum": 0, "default": 0},
                              "description": "hold the answer up to this many seconds (capped at the service's "
                                             "BIOAUTH_MAX_WAIT_SECONDS, 20 by default) until the verification is "
                                             "decided: one request instead of a poll loop"}],
            operation_id="getVerification",
        )},
        "/v1/subjects/{subject_id}/enrolment": {"post": _op(
            "Enrol (or re-enrol) a subject: a protected face template and signature references",
            {"201": _json(_ref("Enrolment"), "enrolled")}, errors=(*body_errors, 503), roles=("operator",),
            body="EnrolmentRequest", parameters=[subject], operation_id="enrolSubject",
        )},
        "/v1/subjects/{subject_id}/renewal": {"post": _op(
            "Cancel the face template and issue a new one from the retained enrolment images",
            {"200": _json(_ref("Renewal"), "renewed")}, errors=(400, 404, 409, 503), roles=("operator",),
            parameters=[subject], operation_id="renewSubject",
        )},
        "/v1/subjects/{subject_id}": {"delete": _op(
            "Erase the subject's template, references and enrolment images",
            {"204": {"description": "erased"}}, errors=(400, 404), roles=("operator",), parameters=[subject],
            operation_id="eraseSubject",
        )},
        "/v1/reviews": {"get": _op(
            "The cases waiting for a reviewer, oldest first",
            {"200": _json(_ref("ReviewInbox"), "the inbox")}, errors=(400,), roles=("reviewer",),
            operation_id="listReviewCases",
            parameters=[{**limit, "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}],
        )},
        "/v1/reviews/{id}": {
            "get": _op("A case waiting for review, with short-lived image links",
                       {"200": _json(_ref("ReviewCase"), "the case")}, errors=(404, 409), roles=("reviewer",),
                       parameters=[vid], operation_id="getReviewCase"),
            "post": _op("A reviewer's verdict: closes the case and keeps it as a labelled pair",
                        {"200": _json(_ref("Verification"), "the closed verification")},
                        errors=(400, 404, 409, 413), roles=("reviewer",), body="ReviewVerdictRequest", parameters=[vid],
                        operation_id="postReviewVerdict"),
        },
        "/v1/audit": {"get": _op(
            "The audit trail for a subject, a device or an actor (or the latest events), oldest first",
            {"200": _json(_ref("AuditTrail"), "the events")}, errors=(400,), roles=("operator",), operation_id="readAudit",
            parameters=[{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                        for name in ("subject_id", "device_id", "actor_id")]
            + [{**limit, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}}],
        )},
        "/v1/keys": {
            "get": _op("Every key: principal, role and state (never secrets)", {"200": _json(_ref("KeyList"), "the keys")},
                       roles=("operator",), operation_id="listKeys"),
            "post": _op("A new principal and its first key; the secret is in this answer only (an operator makes device keys only)",
                        {"201": _json(_ref("Key"), "the key, with its token")}, errors=(400, 403, 409, 413),
                        roles=("operator",), body="NewKey", operation_id="createKey"),
        },
        "/v1/keys/{key_id}/rotation": {"post": _op(
            "A new key for the same principal: a device key (operators) or the caller's own",
            {"201": _json(_ref("Key"), "the new key, with its token")}, errors=(400, 403, 404, 409, 413), roles=("operator", "reviewer"),
            body="Rotation", parameters=[key_id], operation_id="rotateKey",
        )},
        "/v1/keys/{key_id}": {"delete": _op(
            "Revoke a key", {"200": _json(_ref("Key"), "the revoked key")}, errors=(404, 409), roles=("operator",),
            parameters=[key_id], operation_id="revokeKey",
        )},
        "/v1/health": {"get": _op(
            "Storage backends, installed models (name, version, sha256) and queues",
            {"200": _json(_ref("Health"), "the service's parts")}, roles=("operator",), operation_id="healthDetails",
        )},
        "/v1/me": {"get": _op(
            "The caller as its key names it",
            {"200": _json(_ref("Principal"), "the caller")}, roles=("device", "operator", "reviewer"), operation_id="whoami",
        )},
        "/v1/blobs/{ref}": {"get": _op(
            "An image behind a short-lived review link (the link carries its own signature)",
            {"200": {"description": "the image", "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}}},
            errors=(401, 404), operation_id="getLinkedImage",
            parameters=[{"name": "ref", "in": "path", "required": True, "schema": {"type": "string"},
                         "description": "the image's reference, as given in the link"},
                        {"name": "expires", "in": "query", "required": True, "schema": {"type": "string"}},
                        {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}}],
        )},
        "/v1/references/{subject_id}/{kind}/{index}": {"get": _op(
            "An enrolled reference behind a reviewer's short-lived link, decrypted; each access is audited",
            {"200": {"description": "the image", "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}}},
            errors=(401, 404), operation_id="getEnrolledReference",
            parameters=[{"name": "subject_id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "kind", "in": "path", "required": True, "schema": {"type": "string", "enum": ["face", "signature"]}},
                        {"name": "index", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}},
                        *({"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
                          for n in ("case", "by", "expires", "sig"))],
        )},
        "/health": {"get": _op(
            "Liveness, for anyone: ok, or degraded when the records cannot be read",
            {"200": _json(_ref("Liveness"), "ok"), "503": _json(_ref("Liveness"), "degraded")}, operation_id="health",
        )},
        "/openapi.json": {"get": _op(
            "This description",
            {"200": _json({"type": "object"}, "the OpenAPI 3.1 document")}, operation_id="openapi",
        )},
    }


def openapi_document(server_url: str = "/api") -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bioauth",
            "version": API_VERSION,
            "summary": "Biometric verification: a face photo and a handwritten signature against an enrolled identity.",
        },
        "servers": [{"url": server_url}],
        "tags": [{"name": name, "description": why} for name, why in TAGS.items()],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": {f"E{status}": _json(_ref("Error"), why, RETRY_AFTER if status in (429, 503) else None)
                          for status, why in ERROR_STATUS.items()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "bioauth_<key id>_<secret>",
                           "description": "a principal's key (device, operator or reviewer), made with python -m functions.admin"},
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                                "description": "on one machine only: the local function key (.bioauth/local-function-key), "
                                               "a bootstrap admin that may act in every role"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code",
                                     "description": "the local function key as a query parameter"},
            },
        },
    }

