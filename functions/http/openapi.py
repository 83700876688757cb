"""The HTTP API's OpenAPI 3.1 description, served at GET /api/openapi.json (functions/http/routes.py).

Written beside the routes so that tests/test_openapi.py can hold both to each
other: every route of the app has a description and every description has a
route. Error and reason codes are enums, so a client can switch on them; the
error codes are read from the error classes (functions/errors.py) each time
the document is made, so they are never typed here again. Each step's result is
described field by field from what the step records (biometrics/*.py to_record(),
steps/*.py), left open to fields added later; the examples are in openapi_examples.py."""

from __future__ import annotations

from ..biometrics.face_detection import (FACE_CUT_OFF, FACE_TOO_SMALL, KEYPOINT_NAMES, LOW_FACE_SCORE, MULTIPLE_FACES, NO_FACE,
                                        OTHER_FACES_IGNORED)
from ..biometrics.quality import RETAKE_REASONS
from ..biometrics.signature_preparation import SignatureImageError
from ..errors import error_codes
from .openapi_examples import EXAMPLES, REVIEWED, VID

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


def _example_of(schema: dict) -> dict | None:
    """The example for a component (functions/http/openapi_examples.py), when the schema is a reference to one."""
    ref = schema.get("$ref", "")
    return EXAMPLES.get(ref.rsplit("/", 1)[-1]) if ref else None


def _json(schema: dict, description: str, headers: dict | None = None, example: dict | None = None) -> dict:
    media: dict = {"schema": schema}
    example = example if example is not None else _example_of(schema)
    if example is not None:
        media["example"] = example
    answer = {"description": description, "content": {"application/json": media}}
    if headers:
        answer["headers"] = headers
    return answer


def _path_param(name: str, description: str, example: str, pattern: str | None = None) -> dict:
    schema: dict = {"type": "string", "minLength": 1}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema, "example": example}


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


def _nullable(schema: dict) -> dict:
    return {"oneOf": [schema, {"type": "null"}]}


def _open_object(description: str, properties: dict, required: tuple[str, ...] = ()) -> dict:
    """A step's result: every field recorded today is named and typed; others may be added (additionalProperties)."""
    schema = {"type": "object", "description": description, "properties": properties, "additionalProperties": True}
    if required:
        schema["required"] = list(required)
    return schema


NUMBER, INTEGER, STRING, BOOLEAN = {"type": "number"}, {"type": "integer"}, {"type": "string"}, {"type": "boolean"}
NUMBERS = {"type": "array", "items": NUMBER}
POINT = {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2, "description": "[x, y] in image pixels"}
LLR = {"type": ["number", "null"], "description": "calibrated natural-log likelihood ratio of the check's hypothesis "
       "(> 0 supports it); null when the model has no LLR calibration"}
CHECKS = ("face", "liveness", "signature")  # biometrics/decision.py EVIDENCE
FACE_CROP_REASONS = (NO_FACE, MULTIPLE_FACES, LOW_FACE_SCORE, FACE_CUT_OFF, FACE_TOO_SMALL, *RETAKE_REASONS)
SIGNATURE_IMAGE_REASONS = tuple(dict.fromkeys(
    code for cls in (SignatureImageError, *SignatureImageError.__subclasses__()) for code in (cls.code, *cls.other_codes)))
DELIVERY_STATUSES = ("delivered", "failed", "not_configured", "no_callback")


def _step_run(result: str | None, step: str) -> dict:
    """One step's entry in a verification: its result and when and on which try it ran."""
    return {
        "type": "object",
        "description": f"the {step} step: what it recorded, when, and on which delivery of its message",
        "required": ["result"],
        "properties": {
            "result": _nullable(_ref(result)) if result else {"type": ["object", "null"], "additionalProperties": True},
            "duration_ms": {"type": ["number", "null"]},
            "started_at": {"type": ["string", "null"]},
            "finished_at": {"type": ["string", "null"]},
            "attempt": {"type": ["integer", "null"], "description": "1 on the first try; more when its message was redelivered"},
        },
    }


def _step_schemas() -> dict:
    """What each step records (biometrics/*.py to_record(), steps/*.py), as the Verification's `steps` shows it."""
    return {
        "VerificationSteps": {
            "type": "object",
            "description": "the steps that have run, by name, in the order they ran; a step that has not run is absent",
            "properties": {
                "face-crop": _ref("FaceCropStep"), "antispoof": _ref("AntispoofStep"), "face-match": _ref("FaceMatchStep"),
                "signature": _ref("SignatureStep"), "decide": _ref("DecideStep"),
                "review": _ref("ReviewStep"), "notify": _ref("NotifyStep"),
            },
            "additionalProperties": False,
        },
        "FaceCropStep": _step_run("FaceCropResult", "face-crop"),
        "AntispoofStep": _step_run("AntispoofResult", "antispoof"),
        "FaceMatchStep": _step_run("FaceMatchResult", "face-match"),
        "SignatureStep": _step_run("SignatureResult", "signature"),
        "DecideStep": _step_run("DecideResult", "decide"),
        "ReviewStep": _step_run("DeliveryResult", "review"),
        "NotifyStep": _step_run("DeliveryResult", "notify"),
        "FaceDetection": {
            "type": "object",
            "description": "the face verified: its box, the detector's score and six keypoints, in the photo's pixels",
            "required": ["box", "score", "keypoints"],
            "properties": {
                "box": {"type": "array", "items": NUMBER, "minItems": 4, "maxItems": 4, "description": "[x, y, width, height]"},
                "score": {"type": "number", "description": "the detector's confidence, 0..1"},
                "keypoints": {"type": "object", "properties": {k: POINT for k in KEYPOINT_NAMES}, "additionalProperties": POINT},
                "inter_eye_px": {"type": "number", "description": "distance between the eye centres, pixels"},
            },
        },
        "CaptureMeasures": {
            "type": "object",
            "description": "what was measured of the face region (biometrics/quality.py)",
            "properties": {
                "sharpness": {"type": "number", "description": "Laplacian variance per thousand of the region's variance"},
                "brightness": {"type": "number", "description": "mean grey level, 0..255"},
                "contrast": {"type": "number", "description": "standard deviation of the grey levels (recorded, not judged)"},
                "dark_fraction": {"type": "number", "description": "share of near-black pixels"},
                "bright_fraction": {"type": "number", "description": "share of near-white pixels"},
                "eye_distance_px": NUMBER,
                "yaw_deg": NUMBER, "pitch_deg": NUMBER, "roll_deg": NUMBER,
            },
            "additionalProperties": True,
        },
        "CaptureQuality": {
            "type": "object",
            "description": "the capture-quality check: the measures, the limits' version, every limit broken",
            "required": ["measures", "limits_version", "retakes"],
            "properties": {
                "measures": _ref("CaptureMeasures"),
                "limits_version": {"type": "string", "description": "version of models/quality/manifest.json"},
                "retakes": {"type": "array", "items": _ref("Retake"), "description": "empty: the capture is usable"},
            },
            "additionalProperties": True,
        },
        "FaceCropResult": _open_object(
            "The face-crop step: the face found (or why none could be used), the capture's quality, the stored crops. "
            "An unusable photo has a reason and no quality; a poor capture a retake_* reason, `quality` and `retake`; "
            "a usable one `quality` and `crops`.",
            {
                "reason": _nullable({"type": "string", "enum": list(FACE_CROP_REASONS)}),
                "faces_found": {"type": "integer", "minimum": 0},
                "flags": {"type": "array", "items": {"type": "string", "enum": [OTHER_FACES_IGNORED]},
                          "description": "about a usable photo: other_faces_ignored (bystanders beside the subject)"},
                "detection": _nullable(_ref("FaceDetection")),
                "chip_size": {"type": ["integer", "null"], "description": "side of the aligned chip for the face model, pixels"},
                "context_size": {"type": ["integer", "null"], "description": "side of the reviewers' context crop, pixels"},
                "quality": _ref("CaptureQuality"),
                "retake": _ref("Retake"),
                "crops": {"type": "object", "additionalProperties": {"type": "string"},
                          "description": "stored crop references by name: chip, context and each anti-spoofing member's crop"},
            },
            ("reason", "faces_found", "flags", "detection"),
        ),
        "AntispoofResult": _open_object(
            "The anti-spoofing ensemble's judgement (biometrics/liveness.py)",
            {
                "label": {"type": "string", "enum": ["live", "spoof", "uncertain"]},
                "score": {"type": "number", "description": "fused probability that the face is live, 0..1"},
                "thresholds": {"type": "object", "properties": {"live": NUMBER, "spoof": NUMBER}, "additionalProperties": NUMBER,
                               "description": "live at or above `live`, spoof at or below `spoof`, uncertain between"},
                "model_version": STRING,
                "member_scores": {"type": "object", "additionalProperties": NUMBER,
                                  "description": "each ensemble member's probability of live, by member name"},
                "llr": LLR,
                "score_meaning": {"type": "string", "description": "what `score` is a probability of"},
            },
            ("label", "score", "thresholds", "model_version"),
        ),
        "FaceMatchResult": _open_object(
            "The probe against the subject's protected template (biometrics/face_matching.py): cosine similarity, "
            "its band and the band limits",
            {
                "score": {"type": "number", "description": "mean over the networks (member_scores) of the cosine between the probe "
                                                           "and the references' mean, -1..1"},
                "band": {"type": "string", "enum": ["accept", "review", "reject"]},
                "accept_at": NUMBER, "review_at": NUMBER,
                "is_match": {"type": "boolean", "description": "band is accept"},
                "model": STRING, "model_version": STRING,
                "rule": {"type": "string", "description": "how the references are combined (centroid)"},
                "reference_scores": {**NUMBERS, "description": "the first network's cosine to each enrolled reference, in enrolment order"},
                "member_scores": {"type": "object", "additionalProperties": NUMBER,
                                  "description": "each fused network's cosine (probe vs the references' mean), by network name; "
                                                 "empty when one network scores"},
                "llr": LLR,
            },
            ("score", "band", "accept_at", "review_at", "model_version"),
        ),
        "SignatureModel": {
            "type": "object", "required": ["name", "version"],
            "properties": {"name": STRING, "version": STRING, "sha256": STRING}, "additionalProperties": True,
        },
        "SignatureResult": _open_object(
            "The questioned signature against the subject's references (biometrics/signature_verification.py). "
            "Either a comparison (label, score, thresholds, distances, svm, rule, model, llr) or, for an image that "
            "cannot be read as a signature, a reason, its message and the model_version.",
            {
                "label": {"type": "string", "enum": ["genuine", "forged", "uncertain"]},
                "score": {"type": "number", "description": "calibrated, 0..1, higher is more likely genuine"},
                "thresholds": {"type": "object", "properties": {"genuine": NUMBER, "forged": NUMBER}, "additionalProperties": NUMBER},
                "distances": {**NUMBERS, "description": "feature distance to each reference, in reference order"},
                "distance": {"type": "number", "description": "mean of `distances` over the references' own spread "
                             "(before the per-writer normalisation the rule may apply)"},
                "svm": {"type": "number", "description": "the writer model's decision value (> 0: the subject's side; "
                        "before the per-writer normalisation)"},
                "rule": {"type": "string", "description": "the manifest's rule, the number of references and, when the model "
                         "normalises scores per writer, how (e.g. 'fusion against 5 references, normalised by cohort_and_references')"},
                "model": _ref("SignatureModel"),
                "llr": LLR,
                "details": {"type": "object", "additionalProperties": True},
                "reason": {"type": "string", "enum": list(SIGNATURE_IMAGE_REASONS)},
                "message": STRING,
                "model_version": STRING,
            },
        ),
        "DecideResult": _open_object(
            "The decide step's result: the service's decision with its explanation (biometrics/decision.py)",
            {
                "outcome": {"type": "string", "enum": list(OUTCOMES)},
                "reasons": {"type": "array", "items": _ref("ReasonCode")},
                "explanation": _ref("DecisionExplanation"),
                "retake": _nullable(_ref("Retake")),
            },
            ("outcome", "reasons", "explanation"),
        ),
        "DeliveryResult": _open_object(
            "How a signed webhook (review step: the reviewers' webhook; notify step: the device's callback) ended. "
            "Never the URL: it may carry a token",
            {
                "status": {"type": "string", "enum": list(DELIVERY_STATUSES)},
                "delivery_id": STRING, "tries": INTEGER,
                "http_status": INTEGER, "reason": STRING,
                "destination": {"type": "string", "description": "host:port only"},
                "at": STRING,
            },
            ("status",),
        ),
    }


def _health_parts() -> dict:
    return {
        "QueueState": {
            "type": "object",
            "properties": {"oldest_message_seconds": {"type": ["number", "null"]},
                           "error": {"type": "string", "description": "why the queue could not be read (exception type)"}},
            "additionalProperties": True,
        },
        "PollerState": {
            "type": "object",
            "required": ["queue", "alive"],
            "properties": {"queue": STRING, "alive": BOOLEAN, "seconds_since_poll": {"type": ["number", "null"]},
                           "consecutive_errors": INTEGER, "last_error": {"type": ["string", "null"]}},
            "additionalProperties": True,
        },
        "BlobWriteProbe": {
            "type": "object",
            "required": ["ok"],
            "properties": {"ok": BOOLEAN, "ms": NUMBER, "error": {"type": "string", "description": "exception type"}},
            "additionalProperties": True,
        },
    }


def _schemas() -> dict:
    codes = error_codes()
    return {
        **_step_schemas(),
        **_health_parts(),
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
                "llr": {"type": "object", "required": list(CHECKS), "additionalProperties": LLR,
                        "properties": {check: LLR for check in CHECKS},
                        "description": "each check's LLR (face: same person; liveness: live; signature: same writer); "
                                       "null where its step did not run or its model has no LLR calibration"},
                "llr_of": {"type": "object", "properties": {check: STRING for check in CHECKS}, "additionalProperties": STRING,
                           "description": "the hypothesis each check's LLR supports"},
                "fused": {"type": ["number", "null"], "description": "sum of the three LLRs (null when one is missing)"},
                "thresholds": _nullable(_ref("FusedThresholds")),
                "veto": {**_nullable(_ref("ReasonCode")), "description": "the reason that decided before any sum (unusable "
                         "image, poor capture, spoof, face far below its review band, unreadable signature)"},
                "note": {"type": "string", "description": "why the 'all' rule decided when the fused one was asked for"},
            },
            "additionalProperties": True,
        },
        "FusedThresholds": {
            "type": "object",
            "description": "the fused policy's cuts on the summed LLR: >= accept accepted, >= review review, below rejected",
            "required": ["accept", "review"],
            "properties": {"accept": NUMBER, "review": NUMBER},
            "additionalProperties": True,
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
                "presentation": _nullable({"type": "string", "enum": ["bona_fide", "attack"]}),
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
                "steps": _ref("VerificationSteps"),
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
                "queues": {"type": "object", "description": "per queue: the age of its oldest message, or why it could not be read",
                           "additionalProperties": _ref("QueueState")},
                "pollers": {"oneOf": [{"type": "array", "items": _ref("PollerState")}, {"type": "null"}],
                            "description": "the local host's queue pollers (null where the Functions host runs the triggers)"},
                "blob_write": _ref("BlobWriteProbe"),
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
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body), "example": EXAMPLES[body]}}}
    return op


def _paths() -> dict:
    vid = _path_param("id", "the verification id", VID)
    subject = _path_param("subject_id", "the subject's identifier", "astronaut", SUBJECT_ID_PATTERN)
    key_id = _path_param("key_id", "the key's id", EXAMPLES["Key"]["key_id"])
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
                        {"200": _json(_ref("Verification"), "the closed verification", example=REVIEWED)},
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
            {"200": _json({"type": "object"}, "the OpenAPI 3.1 document",
                          example={"openapi": "3.1.0", "info": {"title": "bioauth", "version": API_VERSION}, "paths": {}})},
            operation_id="openapi",
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

