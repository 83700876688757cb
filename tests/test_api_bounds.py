"""The handlers enforce the bounds the API description declares: a generator's boundary values (the bound, one past
it, far past it) get 200 inside and 400 outside; a method a path does not serve gets 405 with `Allow`."""

from __future__ import annotations

import pytest

from functions.http.openapi import openapi_document


def bounded_query_parameters() -> list[tuple[str, str, str, dict]]:
    """(method, path, parameter, schema) of every query parameter with a declared minimum or maximum."""
    found = []
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter["in"] == "query" and ("minimum" in schema or "maximum" in schema):
                    found.append((method.upper(), path, parameter["name"], schema))
    return found


def boundary_values(schema: dict) -> tuple[list, list]:
    """(inside, outside) values at the declared bounds, as a property-based generator would try them."""
    inside, outside = [], [-10970725535]
    if "minimum" in schema:
        inside.append(schema["minimum"])
        outside.append(schema["minimum"] - 1)
    if "maximum" in schema:
        inside.append(schema["maximum"])
        outside += [schema["maximum"] + 1, 10970725535]
    return inside, outside


def test_the_bounded_parameters_are_the_ones_expected():
    assert {(m, p, n) for m, p, n, _ in bounded_query_parameters()} == {
        ("GET", "/v1/reviews", "limit"), ("GET", "/v1/audit", "limit"), ("GET", "/v1/verifications/{id}", "wait")}


@pytest.mark.parametrize("method, path, name, schema", [b for b in bounded_query_parameters() if b[2] == "limit"],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_values_at_and_past_the_declared_bounds(client, method, path, name, schema):
    inside, outside = boundary_values(schema)
    for value in inside:
        r = client.get(f"/api{path}", params={name: value})
        assert r.status_code == 200, (value, r.text)
    for value in outside + ["1.5", "ten"]:
        r = client.get(f"/api{path}", params={name: value})
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_field"), (value, r.text)
        assert r.json()["error"]["details"]["field"] == name


def test_a_negative_wait_is_refused(client, embedded_services):
    embedded_services.records.create("verifications", {"id": "v1", "subject_id": "alice", "status": "queued", "steps": {}})
    assert client.get("/api/v1/verifications/v1", params={"wait": -10970725535}).status_code == 400
    assert client.get("/api/v1/verifications/v1", params={"wait": 0}).status_code == 200


def test_a_method_the_path_does_not_serve_is_405_with_allow(client):
    r = client.http.put(client.url("/api/v1/keys"))
    assert (r.status_code, r.json()["error"]["code"]) == (405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, POST"
    assert len(r.headers["X-Request-Id"]) == 32  # answered by the host, before any route: an id all the same
    assert client.http.patch(client.url("/api/v1/reviews/x")).headers["Allow"] == "GET, POST"
