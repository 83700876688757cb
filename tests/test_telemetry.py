"""One request, one trace: the HTTP span and a span per queue step, joined by the trace context in the queue
message; decisions and step durations as metrics. In-memory exporters of the OpenTelemetry SDK catch both."""

from __future__ import annotations

import time

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from functions import telemetry
from functions.messages import StepMessage

_metric_reader: InMemoryMetricReader | None = None


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """The process's tracer provider can be set once: add an in-memory exporter to it."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture(scope="session")
def metric_reader() -> InMemoryMetricReader:
    global _metric_reader
    if _metric_reader is None:
        _metric_reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[_metric_reader]))
    return _metric_reader


def _points(reader: InMemoryMetricReader, name: str) -> list:
    data = reader.get_metrics_data()
    found = []
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


def test_the_trace_context_travels_in_the_step_message_and_old_messages_still_parse():
    message = StepMessage("v1", "s1", {"face": "images/a"}, trace={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    again = StepMessage.from_json(message.to_json())
    assert again == message
    old = StepMessage.from_json('{"verification_id":"v1","subject_id":"s1","images":{}}')
    assert old.trace == {} and "trace" not in old.to_json()


def test_one_request_is_one_trace_with_every_queue_hop_in_order(span_exporter, metric_reader, client, astronaut):
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature
    from tests.test_e2e import _attempt, _enrol

    assert _enrol(client, astronaut).status_code == 201
    span_exporter.clear()
    r = client.post("/api/v1/verifications", json=_attempt(capture(astronaut, 4), make_signature(7, 9)))
    assert r.status_code == 202
    vid = r.json()["id"]
    final = client.wait_terminal(r.headers["Location"])
    assert final["status"] in ("accepted", "rejected", "review")

    deadline = time.time() + 20
    while True:  # a step's span ends just after its result is recorded: wait for the last one
        spans = span_exporter.get_finished_spans()
        step_spans = [s for s in spans if s.attributes.get("bioauth.verification_id") == vid]
        recorded = client.get(r.headers["Location"]).json()["steps"]
        if len(step_spans) >= len(recorded) or time.time() > deadline:
            break
        time.sleep(0.05)

    roots = [s for s in spans if s.name == "POST v1/verifications"]
    assert len(roots) == 1
    root = roots[0]
    assert root.attributes["http.response.status_code"] == 202
    step_spans.sort(key=lambda s: s.start_time)
    # Every hop, in the order the chain ran them, in the request's trace, as children of the POST.
    assert [s.attributes["bioauth.step"] for s in step_spans] == list(recorded)
    assert {s.context.trace_id for s in step_spans} == {root.context.trace_id}
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in step_spans)
    assert all(s.attributes["bioauth.outcome"] == "done" for s in step_spans)
    face_match = next(s for s in step_spans if s.attributes["bioauth.step"] == "face-match")
    assert face_match.attributes.get("bioauth.model_version")
    # Nothing names the person: the subject id appears in no attribute of any span.
    for span in [root, *step_spans]:
        assert all("astronaut" not in str(v) for v in span.attributes.values())

    decisions = _points(metric_reader, telemetry.DECISIONS)
    assert any(p.attributes.get("outcome") == final["status"] and p.value >= 1 for p in decisions)
    durations = {p.attributes.get("step") for p in _points(metric_reader, telemetry.STEP_DURATION)}
    assert set(recorded) <= durations


def test_queue_gauges_read_depth_age_and_poison_when_collected(metric_reader):
    telemetry.observe_queues(lambda: {"face-crop": {"depth": 3, "oldest_age_s": 12.5, "poison": 1}})
    depth = _points(metric_reader, telemetry.QUEUE_DEPTH)
    age = _points(metric_reader, telemetry.QUEUE_OLDEST_AGE)
    poison = _points(metric_reader, telemetry.QUEUE_POISON)
    assert [(p.attributes["queue"], p.value) for p in depth] == [("face-crop", 3.0)]
    assert [p.value for p in age] == [12.5] and [p.value for p in poison] == [1.0]


def test_the_alert_rules_query_the_metric_names_the_service_records():
    from pathlib import Path

    bicep = (Path(__file__).resolve().parent.parent / "infra" / "modules" / "alerts.bicep").read_text()
    for name in telemetry.METRIC_NAMES:
        assert f'"{name}"' in bicep, f"alerts.bicep does not query {name}"
    for rule in ("poison-messages", "queue-oldest-message-age", "server-errors", "verification-latency-p95", "model-not-installed"):
        assert f"name: '{rule}'" in bicep


def test_an_unknown_exporter_setting_is_refused():
    with pytest.raises(ValueError):
        telemetry.configure_telemetry("zipkin")
