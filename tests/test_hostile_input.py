"""Hostile input at the local host: every answer is a success or a 4xx with a JSON error code, never a 5xx or a
dropped connection, and the host never reads a body it is about to refuse."""

import json
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import FUNCTION_KEY
from tests.helpers.hostile_requests import GOOD_B64, hostile_requests
from tests.helpers.raw_http import acceptable, send_raw

KEY = [(b"x-functions-key", FUNCTION_KEY.encode())]


def _body(**kw) -> bytes:
    body = {"subject_id": "alice", "device_id": "kiosk", "face_image": GOOD_B64, "signature_image": GOOD_B64}
    body.update(kw)
    return json.dumps(body).encode()


@pytest.fixture
def host(local_host, embedded_services):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    return local_host


def _send(host, method, target, headers=KEY, body=b"", **kw):
    return send_raw("127.0.0.1", host.port, method, target, headers, body, **kw)


# --- row 12: deep nesting, ids with a trailing newline, bad key encodings ------------------------------------------------

def test_deeply_nested_json_is_a_400_not_a_500(host):
    r = _send(host, "POST", "/api/v1/verifications", body=b"[" * 100_000)
    assert (r.status, r.error_code) == (400, "invalid_json")


def test_a_subject_id_with_a_trailing_newline_is_refused(host):
    r = _send(host, "POST", "/api/v1/verifications", body=_body(subject_id="alice\n"))
    assert (r.status, r.error_code) == (400, "invalid_field")
    assert r.json()["error"]["details"]["field"] == "subject_id"


@pytest.mark.parametrize("device_id", ["kiosk\n", "", "a" * 129, "kiosk 1", "k\u00e9"])
def test_bad_device_ids_are_refused(host, device_id):
    r = _send(host, "POST", "/api/v1/verifications", body=_body(device_id=device_id))
    assert r.status == 400 and r.error_code in ("invalid_field", "missing_field")


@pytest.mark.parametrize("code", ["%C3%A9", "%FF", "%00", "%"])
def test_a_key_that_is_not_ascii_gets_a_401(host, code):
    r = _send(host, "GET", f"/api/v1/reviews?code={code}", headers=[])
    assert (r.status, r.error_code) == (401, "unknown_credential")


def test_a_key_header_outside_ascii_gets_a_401(host):
    r = _send(host, "GET", "/api/v1/reviews", headers=[(b"x-functions-key", b"\xe9\xff")])
    assert (r.status, r.error_code) == (401, "unknown_credential")


def test_an_unknown_mode_is_refused(host):
    r = _send(host, "POST", "/api/v1/verifications?mode=turbo", body=_body())
    assert (r.status, r.error_code) == (400, "invalid_field")


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "FOO", "TRACE"])
def test_other_methods_get_a_405_not_a_501(host, method):
    r = _send(host, method, "/api/v1/verifications")
    assert r.status == 405, r


def test_a_malformed_request_line_gets_a_json_400(host):
    r = _send(host, "GET", "/api/a b c")
    assert r.status == 400 and r.error_code == "bad_request"


# --- row 10: the declared length and the key are checked before any byte of the body is read ------------------------------

@pytest.mark.parametrize("length, status, code", [
    ("abc", 400, "invalid_content_length"),
    ("-1", 400, "invalid_content_length"),
    ("+5", 400, "invalid_content_length"),
    ("1e3", 400, "invalid_content_length"),
    ("", 400, "invalid_content_length"),
    (None, 411, "length_required"),
])
def test_bad_declared_lengths_are_refused(host, length, status, code):
    r = _send(host, "POST", "/api/v1/verifications", body=_body(), content_length=length)
    assert (r.status, r.error_code) == (status, code)


def test_chunked_bodies_are_refused_with_411(host):
    r = _send(host, "POST", "/api/v1/verifications", headers=KEY + [(b"Transfer-Encoding", b"chunked")], body=b"0\r\n\r\n",
              content_length=None)
    assert (r.status, r.error_code) == (411, "length_required")


def _answer_without_sending_the_body(host, headers: list[bytes], timeout=5.0) -> tuple[int, dict]:
    """Declare a body, send none, and wait: a server that reads before checking would hang until the timeout."""
    with socket.create_connection(("127.0.0.1", host.port), timeout=timeout) as sock:
        sock.sendall(b"\r\n".join([b"POST /api/v1/verifications HTTP/1.1", b"Host: x"] + headers) + b"\r\n\r\n")
        t0 = time.monotonic()
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "connection closed without an answer"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")][0].split(b":")[1])
        while len(rest) < length:
            rest += sock.recv(65536)
        assert time.monotonic() - t0 < timeout
        return int(head.split(b" ")[1]), json.loads(rest)


def test_a_body_over_the_limit_is_refused_before_it_is_sent(host, embedded_services):
    limit = embedded_services.settings.max_body_bytes
    status, body = _answer_without_sending_the_body(
        host, [b"x-functions-key: " + FUNCTION_KEY.encode(), b"Content-Length: %d" % (limit + 1)])
    assert (status, body["error"]["code"]) == (413, "body_too_large")


def test_a_request_without_the_key_is_refused_before_its_body_is_read(host):
    status, body = _answer_without_sending_the_body(host, [b"Content-Length: 1000000"])
    assert (status, body["error"]["code"]) == (401, "missing_credential")


def test_a_negative_length_is_refused_before_the_body_is_read(host):
    status, body = _answer_without_sending_the_body(host, [b"x-functions-key: " + FUNCTION_KEY.encode(), b"Content-Length: -1"])
    assert (status, body["error"]["code"]) == (400, "invalid_content_length")


def test_a_body_shorter_than_declared_is_a_400(host):
    r = _send(host, "POST", "/api/v1/verifications", body=_body(), content_length=str(len(_body()) + 50))
    assert (r.status, r.error_code) == (400, "incomplete_body")


@pytest.mark.parametrize("method, target, headers, status", [
    ("POST", "/api/v1/verifications", [], 401),
    ("OPTIONS", "/api/v1/verifications", KEY, 405),
    ("POST", "/api/v1/nothing-here", KEY, 404),
])
def test_a_refused_request_with_a_large_body_still_gets_its_answer(host, method, target, headers, status):
    """The host refuses before reading, then discards the body it did not want before closing: no reset eats the answer."""
    r = _send(host, method, target, headers, b"[" * 1_500_000, body_chunks=20)
    assert r.status == status and r.error_code, r


def test_the_host_still_serves_after_the_attacks(host):
    for length in ("abc", "-1", None):
        _send(host, "POST", "/api/v1/verifications", body=_body(), content_length=length)
    r = _send(host, "POST", "/api/v1/verifications", body=_body())
    assert r.status == 202, r


# --- generated: a sample of the benchmark's grammar (benchmarks/fuzz_api.py sends 10,000) -------------------------------

@settings(max_examples=300, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=hostile_requests(FUNCTION_KEY))
def test_generated_requests_get_a_success_or_a_4xx_with_a_code(host, request):
    r = _send(host, request.method, request.target, request.headers, request.body, content_length=request.content_length)
    problem = acceptable(r, request.method)
    assert problem is None, f"{request.describe()}: {problem}"
