"""Which request a log line belongs to: request, verification and trace ids on every record, as text or JSON.

An operator follows one device request from its HTTP answer (`X-Request-Id`)
through every queue step by these ids. The HTTP edge binds the request id
(the device's own when it sent a sane one); the step runner binds the ids the
queue message carries; the trace id is the current OpenTelemetry span's (the
device's `traceparent` when it sent one). Log lines carry ids and codes, never
images, templates or secrets.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Mapping

from opentelemetry import trace

REQUEST_ID_HEADER = "X-Request-Id"
# A device's request id is taken as is when it is short and plain (no spaces, quotes or control characters).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# Loggers of the Azure SDK: at INFO their HTTP policy writes a line per storage call (thousands a minute).
AZURE_LOGGERS = ("azure", "azure.core.pipeline.policies.http_logging_policy", "azure.identity", "azure.monitor")
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s [request_id=%(request_id)s verification_id=%(verification_id)s trace_id=%(trace_id)s]"

_request_id: ContextVar[str] = ContextVar("bioauth_request_id", default="")
_verification_id: ContextVar[str] = ContextVar("bioauth_verification_id", default="")


def request_id_from(headers: Mapping[str, str]) -> str:
    """The device's `X-Request-Id` when it is sane, else a new one (32 hex digits)."""
    sent = (headers.get(REQUEST_ID_HEADER) or headers.get(REQUEST_ID_HEADER.lower()) or "").strip()
    return sent if _SANE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def current_request_id() -> str:
    return _request_id.get()


@contextmanager
def bound(*, request_id: str | None = None, verification_id: str | None = None) -> Iterator[None]:
    """Log records made inside carry these ids (each left as it was when None)."""
    tokens = []
    if request_id is not None:
        tokens.append((_request_id, _request_id.set(request_id)))
    if verification_id is not None:
        tokens.append((_verification_id, _verification_id.set(verification_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind_verification(verification_id: str) -> None:
    """For the rest of the current request: its log lines name the verification it created or read."""
    _verification_id.set(verification_id)


def _trace_ids() -> tuple[str, str]:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


_base_factory = logging.getLogRecordFactory()


def _record_with_ids(*args, **kwargs) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = _request_id.get()
    record.verification_id = _verification_id.get()
    record.trace_id, record.span_id = _trace_ids()
    return record


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the ids (an exception by its type only)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "verification_id", "trace_id", "span_id"):
            value = getattr(record, key, "")
            if value:
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic line, with the ids at its end (empty for a record made before configure_logging)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        for key in ("request_id", "verification_id", "trace_id"):
            if not hasattr(record, key):
                setattr(record, key, "")
        return super().format(record)


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: str, handlers: list[logging.Handler] | None = None) -> None:
    """Every record carries the ids; the given handlers (the root logger's by default) write them in `log_format`;
    the Azure SDK's loggers speak from WARNING up."""
    chosen = formatter(log_format)
    if logging.getLogRecordFactory() is not _record_with_ids:
        logging.setLogRecordFactory(_record_with_ids)
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        handler.setFormatter(chosen)
    for name in AZURE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
