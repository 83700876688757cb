"""Traces and metrics of the journey, through OpenTelemetry.

One trace per request: the HTTP span of the POST, then a span per queue step,
joined by the W3C trace context that travels inside each queue message. Spans
carry the verification id, the step, its outcome and the model versions;
never images, templates or the ids of people.

Where the spans go is chosen once per process (`configure_telemetry`):
Application Insights through the Azure Monitor distro when a connection string
is set, the console or nothing otherwise. Without configuration every call
here is a cheap no-op (the OpenTelemetry API's default).
"""

from __future__ import annotations

import functools
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

log = logging.getLogger("bioauth.telemetry")

TRACER_NAME = "bioauth"
# Metric names: infra/modules/alerts.bicep and the workbook query these.
DECISIONS = "bioauth.decisions"
STEP_DURATION = "bioauth.step.duration"
QUEUE_DEPTH = "bioauth.queue.depth"
QUEUE_OLDEST_AGE = "bioauth.queue.oldest_message_age"
QUEUE_POISON = "bioauth.queue.poison"
REDRIVEN = "bioauth.requests.redriven"
METRIC_NAMES = (DECISIONS, STEP_DURATION, QUEUE_DEPTH, QUEUE_OLDEST_AGE, QUEUE_POISON, REDRIVEN)

EXPORTERS = ("none", "console", "azure")

_configured: str | None = None


def configure_telemetry(exporter: str, *, connection_string: str | None = None) -> str:
    """Install the process's tracer and meter providers once; returns the exporter in use.

    'azure' needs an Application Insights connection string (an address, not a
    secret: the app authenticates with its managed identity). 'console' prints
    spans and metrics to stdout, for local development.
    """
    global _configured
    exporter = (exporter or "none").lower()
    if exporter not in EXPORTERS:
        raise ValueError(f"BIOAUTH_TELEMETRY must be one of {EXPORTERS}, not {exporter!r}")
    if _configured is not None:
        return _configured
    if exporter == "azure":
        if not connection_string:
            raise ValueError("telemetry exporter 'azure' needs APPLICATIONINSIGHTS_CONNECTION_STRING")
        from azure.identity import DefaultAzureCredential
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(connection_string=connection_string, credential=DefaultAzureCredential(),
                                logger_name="bioauth")
    elif exporter == "console":
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        resource = Resource.create({"service.name": "bioauth"})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        trace.set_tracer_provider(provider)
        reader = PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
    _configured = exporter
    log.info("telemetry: %s", exporter)
    return exporter


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def _meter() -> metrics.Meter:
    return metrics.get_meter(TRACER_NAME)


class _Instruments:
    """Instruments made lazily, so that a provider installed later (tests, the host) is the one used."""

    def __init__(self) -> None:
        self._provider = None
        self._decisions = None
        self._durations = None
        self._redriven = None

    def _ensure(self) -> None:
        provider = metrics.get_meter_provider()
        if provider is not self._provider:
            meter = _meter()
            self._decisions = meter.create_counter(DECISIONS, unit="1", description="Decisions by outcome and reason")
            self._durations = meter.create_histogram(STEP_DURATION, unit="ms", description="Duration of each step")
            self._redriven = meter.create_counter(REDRIVEN, unit="1", description="First messages sent again after a crash")
            self._provider = provider

    def decision(self, outcome: str, reasons: list[str]) -> None:
        self._ensure()
        for reason in reasons or ["none"]:
            self._decisions.add(1, {"outcome": outcome, "reason": reason})

    def step(self, step: str, outcome: str, duration_ms: float) -> None:
        self._ensure()
        self._durations.record(duration_ms, {"step": step, "outcome": outcome})


    def redriven(self, found_by: str) -> None:
        self._ensure()
        self._redriven.add(1, {"found_by": found_by})


_instruments = _Instruments()


def record_redriven(found_by: str) -> None:
    """Count a request whose first message was sent again after its process died (by the sweep or a keyed retry)."""
    _instruments.redriven(found_by)


def record_decision(outcome: str, reasons: list[str]) -> None:
    """Count a terminal decision once per reason code (a request with two reasons counts under both)."""
    _instruments.decision(outcome, reasons)


def observe_queues(read_stats: Callable[[], Mapping[str, Mapping[str, float]]]) -> None:
    """Report queue depth, oldest message age and poison count, read when the exporter collects.

    `read_stats` returns {queue: {"depth": n, "oldest_age_s": s, "poison": n}}.
    """

    def gauge(key: str):
        def callback(_options):
            try:
                stats = read_stats()
            except Exception:  # noqa: BLE001 - a failed read is no metric, not a crash of the exporter
                log.warning("telemetry: queue statistics could not be read")
                return []
            return [metrics.Observation(float(v.get(key, 0.0)), {"queue": q}) for q, v in stats.items()]

        return callback

    meter = _meter()
    meter.create_observable_gauge(QUEUE_DEPTH, callbacks=[gauge("depth")], unit="1")
    meter.create_observable_gauge(QUEUE_OLDEST_AGE, callbacks=[gauge("oldest_age_s")], unit="s")
    meter.create_observable_gauge(QUEUE_POISON, callbacks=[gauge("poison")], unit="1")


def current_trace_context() -> dict[str, str]:
    """The W3C trace context of the current span, to carry inside a queue message."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def traced_http(route: str, method: str):
    """Decorate an HTTP function so its request is the root span of the trace (signature kept for the worker)."""

    def wrap(fn):
        @functools.wraps(fn)
        def traced(*args, **kwargs):
            with http_span(route, method) as span:
                response = fn(*args, **kwargs)
                status = getattr(response, "status_code", None)
                if isinstance(status, int):
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                return response

        return traced

    return wrap


@contextmanager
def http_span(route: str, method: str) -> Iterator[Span]:
    """The server span of one HTTP request (the root of a verification's trace)."""
    with tracer().start_as_current_span(f"{method} {route}", kind=SpanKind.SERVER,
                                        attributes={"http.request.method": method, "http.route": route}) as span:
        yield span


@dataclass
class StepTrace:
    """What the step runner tells the step's span: its outcome and attributes worth searching by."""

    span: Span
    outcome: str = "ok"

    def set(self, **attributes: str | int | float | bool) -> None:
        self.span.set_attributes({f"bioauth.{k}": v for k, v in attributes.items() if v is not None})


@contextmanager
def step_span(step: str, verification_id: str, carried: Mapping[str, str] | None) -> Iterator[StepTrace]:
    """A span for one step of one request, a child of the span that enqueued it.

    The step's duration is recorded as a metric with the outcome the runner
    sets on the yielded `StepTrace` ('error' when the step raises).
    """
    token = otel_context.attach(extract(dict(carried or {})))
    started = time.perf_counter()
    outcome = "error"
    try:
        with tracer().start_as_current_span(f"step {step}", kind=SpanKind.CONSUMER, attributes={
            "bioauth.step": step,
            "bioauth.verification_id": verification_id,
            "messaging.destination.name": step,
        }) as span:
            holder = StepTrace(span)
            try:
                yield holder
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            outcome = holder.outcome
            span.set_attribute("bioauth.outcome", outcome)
    finally:
        otel_context.detach(token)
        _instruments.step(step, outcome, (time.perf_counter() - started) * 1000.0)
