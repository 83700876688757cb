"""Errors with meaning. Each carries a stable `code`; the HTTP edge maps them to status codes.

Whether a queue step tries again is the error's own say (`transient`), not its HTTP status: most errors
describe the request's data or the service's set-up, which another try will not change.

The API description's list of error codes is made from these classes (`error_codes`): a class raised with
another code (`code=` where it is raised) names that code in `other_codes`.
"""

from __future__ import annotations


class BioauthError(Exception):
    """Base class: `code` is stable and machine-readable, the message is for people."""

    code = "error"
    http_status = 500
    other_codes: tuple[str, ...] = ()  # the codes this class is also raised with
    transient = False  # True: a fault of storage or the network that the same work may not meet again

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}
        self.headers: dict[str, str] = {}  # extra response headers (Retry-After)

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidRequest(BioauthError):
    code = "invalid_request"
    http_status = 400
    other_codes = ("invalid_json", "invalid_field", "invalid_idempotency_key")


class MissingField(InvalidRequest):
    code = "missing_field"


class InvalidBase64(InvalidRequest):
    code = "invalid_base64"


class InvalidImage(BioauthError):
    """Bytes that are not a decodable image."""

    code = "not_an_image"
    http_status = 422
    other_codes = ("corrupt_image",)


class UnsupportedImageFormat(BioauthError):
    code = "unsupported_format"
    http_status = 415


class ImageTooLarge(BioauthError):
    """Too many bytes (`image_too_large`) or too many pixels (`too_many_pixels`)."""

    code = "image_too_large"
    http_status = 413
    other_codes = ("too_many_pixels",)


class BodyTooLarge(BioauthError):
    code = "body_too_large"
    http_status = 413


class SubjectNotEnrolled(BioauthError):
    code = "unknown_subject"
    http_status = 404


class VerificationNotFound(BioauthError):
    """No such verification, image or key (`unknown_key`)."""

    code = "not_found"
    http_status = 404
    other_codes = ("unknown_key",)


class Conflict(BioauthError):
    """The resource is not in a state that allows this."""

    code = "conflict"
    http_status = 409
    other_codes = ("not_in_review", "no_retained_images", "template_outdated", "principal_exists", "key_revoked")


class Unauthorized(BioauthError):
    """No usable credential, and which way it failed: `missing_credential`, `malformed_credential` (not a bioauth
    key), `unknown_credential` (no such key, or the wrong secret), `revoked_credential`; `invalid_link` for an
    image link. The answer names the scheme (`WWW-Authenticate: Bearer`, with RFC 6750's `invalid_token` when a
    credential was given)."""

    code = "missing_credential"
    http_status = 401
    other_codes = ("malformed_credential", "unknown_credential", "revoked_credential", "invalid_link")

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message, code=code, details=details)
        challenge = 'Bearer realm="bioauth"'
        if self.code != "missing_credential":
            challenge += f', error="invalid_token", error_description="{self.code}"'
        self.headers = {"WWW-Authenticate": challenge}


class Forbidden(BioauthError):
    """Authenticated, but this principal's role may not do this (`forbidden_role`), or not for this device
    (`device_mismatch`), or not with another principal's key (`forbidden_key_role`)."""

    code = "forbidden_role"
    http_status = 403
    other_codes = ("device_mismatch", "forbidden_key_role")


class RateLimited(BioauthError):
    """Too many requests for one key; `retry_after` seconds until the next one is allowed."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class ModelNotInstalled(BioauthError):
    """A step's model is not in the models folder: the request fails with this reason, never a made-up score."""

    code = "model_not_installed"
    http_status = 503
    other_codes = ("model_checksum_mismatch",)


class StepFailed(BioauthError):
    """A permanent failure of one step for one request: no retry will change it."""

    code = "step_failed"
    http_status = 500


class BlobMissing(BioauthError, KeyError):
    """A stored image or reference is not where its record says (still a KeyError for the callers that ask).

    No retry brings it back: it was erased, or this service reads another storage home than the one that stored it.
    """

    code = "blob_missing"
    http_status = 500

    def __init__(self, ref: str):
        super().__init__(f"the stored object {ref!r} is missing: it was erased, or this service reads another storage "
                         "home than the one that wrote it (check BIOAUTH_STORAGE, BIOAUTH_DATA_DIR and AzureWebJobsStorage)",
                         details={"ref": ref})

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return self.message


class TemplateUnreadable(BioauthError):
    """An encrypted template, reference or enrolment image that this service's template key cannot open.

    No retry opens it: the subject was enrolled under another key (another Key Vault or local key file).
    """

    code = "template_unreadable"
    http_status = 500


class ServiceUnavailable(BioauthError):
    """Storage is not taking writes right now; nothing was kept, and the same request may be sent again later."""

    code = "service_unavailable"
    http_status = 503
    transient = True
    retry_after_seconds = 5

    def __init__(self, message: str, **kwargs):
        super().__init__(message, **kwargs)
        self.headers = {"Retry-After": str(self.retry_after_seconds)}


class IdempotencyKeyReused(BioauthError):
    """The Idempotency-Key already names a verification made from a different request."""

    code = "idempotency_key_reused"
    http_status = 422


# Codes a client sees in the same envelope that no exception class carries: the HTTP host's own refusals before
# a route runs (local_host.py), and a step that failed on every try (runtime/step_runner.py).
HOST_CODES = ("bad_request", "request_timeout", "length_required", "invalid_content_length", "incomplete_body",
              "uri_too_long", "headers_too_large", "method_not_allowed", "internal_error")
STEP_ERROR = "step_error"


def error_classes() -> list[type[BioauthError]]:
    """Every subclass of BioauthError defined so far (by any imported module), parents before children."""
    classes: list[type[BioauthError]] = []
    todo = list(BioauthError.__subclasses__())
    while todo:
        cls = todo.pop(0)
        if cls not in classes:
            classes.append(cls)
            todo.extend(cls.__subclasses__())
    return classes


def error_codes() -> list[str]:
    """Every code an error envelope or a failed verification can carry, each once: the classes' codes, then the host's."""
    codes = [code for cls in error_classes() for code in (cls.code, *cls.other_codes)]
    return list(dict.fromkeys([*codes, *HOST_CODES, STEP_ERROR]))
