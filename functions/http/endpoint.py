"""How every route is served: who may call it, its JSON body, and errors answered as `{"error": {"code", "message"}}`.

A route is a plain function of one `Call`, declared with `@route(bp, path, method, roles=...)`; the wrapper
checks the caller's role before the route runs and turns any meaningful exception (functions/errors.py) the
route raises into its HTTP status, headers and JSON error body, so no route maps errors itself.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import azure.functions as func

from opentelemetry import context as otel_context
from opentelemetry.propagate import extract

from ..errors import BioauthError, BodyTooLarge, InvalidRequest
from ..log_context import REQUEST_ID_HEADER, bound, request_id_from
from ..runtime.services import Services, get_services
from ..settings import Settings
from ..storage.api_keys import Principal
from ..telemetry import traced_http
from .access import authorize

log = logging.getLogger("bioauth.http")


# On every answer, JSON and image links alike: never sniffed into another type (a JPEG with a script appended stays
# an image), never framed, and nothing in it may run or load.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
}


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json", headers=headers or {})


def error_response(exc: BioauthError) -> func.HttpResponse:
    """A meaningful exception becomes its HTTP status and a JSON error body."""
    return json_response({"error": exc.to_dict()}, exc.http_status, exc.headers)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("a key is repeated")
    return data


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def read_json_body(req: func.HttpRequest, settings: Settings) -> dict:
    body = req.get_body() or b""
    if len(body) > settings.max_body_bytes:
        raise BodyTooLarge(f"request body is {len(body)} bytes, over the {settings.max_body_bytes} byte limit",
                           details={"limit_bytes": settings.max_body_bytes})
    try:
        # Strict: UTF-8 without a byte order mark (json.loads would take UTF-16 and a BOM too), no repeated key
        # (two parsers could read two different requests), no NaN or Infinity (not JSON).
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("request body is not valid JSON (UTF-8, no byte order mark, no repeated keys, no NaN)",
                             code="invalid_json") from None
    except RecursionError:  # "[" * 100000: the parser's nesting limit, not a server fault
        raise InvalidRequest("request body is nested too deeply", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    return data


@dataclass
class Call:
    """One HTTP call as a route sees it: the request, the caller (when the route names roles) and the services."""

    req: func.HttpRequest
    principal: Principal | None = None
    _services: Services | None = field(default=None, repr=False)

    @cached_property
    def services(self) -> Services:
        return self._services if self._services is not None else get_services()

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def path(self, name: str) -> str:
        """A route parameter ('' when absent)."""
        return self.req.route_params.get(name, "")

    def json(self, *, empty_is_object: bool = False) -> dict:
        """The body as a JSON object, within the size limit; with `empty_is_object`, no body at all reads as {}."""
        if empty_is_object and not self.req.get_body():
            return {}
        return read_json_body(self.req, self.settings)


Route = Callable[[Call], func.HttpResponse]


def trace_carrier(headers) -> dict[str, str]:
    """The device's W3C trace context when it sent a valid one; else a new trace (so every log line has a trace id
    even where no tracer is installed)."""
    sent = (headers.get("traceparent") or "").strip()
    parts = sent.split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16 and set(parts[1]) != {"0"} and set(parts[2]) != {"0"}:
        carrier = {"traceparent": sent}
        if headers.get("tracestate"):
            carrier["tracestate"] = headers.get("tracestate")
        return carrier
    return {"traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"}


def route(bp: func.Blueprint, path: str, method: str, *, roles: tuple[str, ...] = (),
          traced: bool = False) -> Callable[[Route], Callable[[func.HttpRequest], func.HttpResponse]]:
    """Register `handler(call)` on `bp` for `method path`.

    `roles`: who may call it (any of them; an admin may act in every role); none means anyone, and the route is
    anonymous at the Functions host too. `traced`: the request is the root span of a trace (telemetry.py).
    """

    def register(handler: Route) -> Callable[[func.HttpRequest], func.HttpResponse]:
        def answer(req: func.HttpRequest) -> func.HttpResponse:
            try:
                if roles:
                    services = get_services()
                    return handler(Call(req, authorize(req, services, *roles), services))
                return handler(Call(req))
            except BioauthError as exc:
                response = error_response(exc)
                log.info("%s %s -> %d %s", method, path, response.status_code, exc.code)  # an operator may ask why
                return response

        served = traced_http(path, method)(answer) if traced else answer

        def endpoint(req: func.HttpRequest) -> func.HttpResponse:
            request_id = request_id_from(req.headers)
            # The device's trace (or a new one) is the parent of the request's span and of every queue hop.
            trace_context = otel_context.attach(extract(trace_carrier(req.headers)))
            try:
                with bound(request_id=request_id, verification_id=""):
                    response = served(req)
            finally:
                otel_context.detach(trace_context)
            response.headers[REQUEST_ID_HEADER] = request_id
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        # The Functions worker binds by the parameter name `req` and names the function after it: no __wrapped__.
        endpoint.__name__ = endpoint.__qualname__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        endpoint.__module__ = handler.__module__
        level = func.AuthLevel.FUNCTION if roles else func.AuthLevel.ANONYMOUS
        return bp.route(route=path, methods=[method], auth_level=level)(endpoint)

    return register
