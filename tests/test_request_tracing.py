"""One device request, followed by its ids: `X-Request-Id` on every answer and log line, the device's `traceparent`
through every queue hop, 4xx answers logged with their code, JSON log lines as a setting, the Azure SDK quiet."""

from __future__ import annotations

import json
import logging

import pytest

from functions.log_context import configure_logging, formatter, bound, request_id_from

DEVICE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{DEVICE_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def logged(caplog):
    configure_logging("text", [])
    caplog.set_level(logging.INFO)
    return caplog


def test_a_request_id_and_the_devices_trace_follow_the_request_through_every_queue_hop(client, logged, astronaut):
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature
    from tests.test_e2e import _attempt, _enrol

    assert _enrol(client, astronaut).status_code == 201
    r = client.post("/api/v1/verifications", json=_attempt(capture(astronaut, 4), make_signature(7, 9)),
                    headers={"X-Request-Id": "kiosk-7.req-0042", "traceparent": TRACEPARENT})
    assert r.status_code == 202 and r.headers["X-Request-Id"] == "kiosk-7.req-0042"
    vid = r.json()["id"]
    final = client.wait_terminal(r.headers["Location"])
    assert final["status"] in ("accepted", "rejected", "review")

    step_lines = [rec for rec in logged.records if rec.name == "bioauth.pipeline" and vid in rec.getMessage()
                  and "done in" in rec.getMessage()]
    assert {rec.getMessage().split()[1].rstrip(":") for rec in step_lines} >= {"face-crop", "antispoof", "face-match", "decide"}
    assert {(rec.request_id, rec.verification_id, rec.trace_id) for rec in step_lines} == {("kiosk-7.req-0042", vid, DEVICE_TRACE)}


def test_every_answer_has_a_request_id_a_bad_one_is_replaced_and_4xx_are_logged_with_their_code(client, logged):
    r = client.get("/api/v1/verifications/nope", headers={"X-Request-Id": "two words\x7f"})
    assert r.status_code == 404 and len(r.headers["X-Request-Id"]) == 32 and r.headers["X-Request-Id"] != "two words"
    made = r.headers["X-Request-Id"]
    assert client.get("/api/health").headers["X-Request-Id"] not in ("", made)
    lines = [rec for rec in logged.records if rec.name == "bioauth.http" and rec.levelno == logging.INFO]
    assert any("404 not_found" in rec.getMessage() and rec.request_id == made for rec in lines), \
        [rec.getMessage() for rec in lines]


def test_json_log_lines_carry_the_ids_and_text_lines_end_with_them():
    configure_logging("text", [])
    with bound(request_id="r-1", verification_id="v-1"):
        record = logging.getLogger("bioauth.test").makeRecord("bioauth.test", logging.INFO, __file__, 1, "step %s done",
                                                              ("decide",), None)
    line = json.loads(formatter("json").format(record))
    assert line == {**line, "level": "INFO", "logger": "bioauth.test", "message": "step decide done",
                    "request_id": "r-1", "verification_id": "v-1"}
    assert formatter("text").format(record).endswith("[request_id=r-1 verification_id=v-1 trace_id=]")
    with pytest.raises(ValueError):
        formatter("xml")


def test_the_log_format_is_a_setting(settings_env):
    from functions.settings import SettingError, Settings

    settings_env.setenv("BIOAUTH_LOG_FORMAT", "json")
    assert Settings.from_env().log_format == "json"
    settings_env.setenv("BIOAUTH_LOG_FORMAT", "yaml")
    with pytest.raises(SettingError):
        Settings.from_env()


def test_a_sane_request_id_is_kept_and_anything_else_replaced():
    assert request_id_from({"X-Request-Id": "abc-123"}) == "abc-123"
    for bad in ("", "a" * 129, "semi;colon", "new\nline", 'quote"'):
        assert request_id_from({"X-Request-Id": bad}) != bad


def test_the_azure_sdk_speaks_from_warning_up_here_and_in_host_json():
    from pathlib import Path

    configure_logging("text", [])
    assert not logging.getLogger("azure.core.pipeline.policies.http_logging_policy").isEnabledFor(logging.INFO)
    assert not logging.getLogger("azure.storage.blob").isEnabledFor(logging.INFO)
    levels = json.loads((Path(__file__).resolve().parent.parent / "host.json").read_text())["logging"]["logLevel"]
    assert levels["Azure.Core"] == levels["Azure.Storage"] == "Warning"
