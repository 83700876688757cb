"""Property-based API run: schemathesis generates requests from the served OpenAPI description and sends them to
the real local host, both valid requests and invalid ones. Every answer must be documented (status, content
type, headers, body schema) and none may be a 5xx.

Bounded: a fixed number of examples per operation, so the run takes seconds, not minutes.
"""

from __future__ import annotations

import pytest

from tests.conftest import FUNCTION_KEY

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a test tool (requirements-dev.txt)")
from schemathesis import GenerationMode
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def _operations(base_url: str):
    """Every operation of the description the running host serves, pointed at that host."""
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json")
    for result in schema.get_all_operations():
        yield result.ok()  # an invalid operation fails here, naming it


def test_every_answer_is_documented(local_host):
    operations = list(_operations(local_host.url))
    assert len(operations) >= 10
    for operation, mode in [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]:

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            case.call_and_validate(headers={"x-functions-key": FUNCTION_KEY}, checks=CHECKS, timeout=60)

        try:
            run()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE, operation.label  # nothing to make invalid: no parameters, no body
