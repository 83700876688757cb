"""JSON in and out at the HTTP edge: the body's size limit and parsing, and errors as `{"error": {"code", "message"}}`."""

from __future__ import annotations

import json

import azure.functions as func

from ..errors import BioauthError, BodyTooLarge, InvalidRequest
from ..settings import Settings


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json", headers=headers or {})


def error_response(exc: BioauthError) -> func.HttpResponse:
    """A meaningful exception becomes its HTTP status and a JSON error body."""
    return json_response({"error": exc.to_dict()}, exc.http_status, exc.headers)


def read_json_body(req: func.HttpRequest, settings: Settings) -> dict:
    body = req.get_body() or b""
    if len(body) > settings.max_body_bytes:
        raise BodyTooLarge(f"request body is {len(body)} bytes, over the {settings.max_body_bytes} byte limit",
                           details={"limit_bytes": settings.max_body_bytes})
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("request body is not valid JSON", code="invalid_json") from None
    except RecursionError:  # "[" * 100000: the parser's nesting limit, not a server fault
        raise InvalidRequest("request body is nested too deeply", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    return data
