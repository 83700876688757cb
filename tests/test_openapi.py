"""The OpenAPI description against the app itself: its routes, auth levels, error codes and reason codes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from functions.http.openapi import ERROR_CODES, REASON_CODES, openapi_document

ROOT = Path(__file__).resolve().parent.parent
METHODS = {"get", "post", "put", "delete", "patch"}


def _app_routes(functions_index) -> dict[tuple[str, str], str]:
    """(path as OpenAPI writes it, method) -> auth level, for every HTTP function the app registers."""
    routes = {}
    for f in functions_index:
        t = f.get_trigger()
        if t.type != "httpTrigger":
            continue
        path = "/" + re.sub(r"\{\*?([^}:?]+)[^}]*\}", r"{\1}", t.route.strip("/"))
        level = str(getattr(t.auth_level, "name", t.auth_level)).lower()
        for m in t.methods:
            routes[(path, str(getattr(m, "value", m)).lower())] = level
    return routes


def _described(doc: dict) -> dict[tuple[str, str], dict]:
    return {(path, method): op for path, item in doc["paths"].items() for method, op in item.items() if method in METHODS}


def test_every_route_is_described_and_every_description_is_a_route(functions_index):
    routes, described = _app_routes(functions_index), _described(openapi_document())
    assert sorted(set(routes) - set(described)) == [], "routes without a description in functions/http/openapi.py"
    assert sorted(set(described) - set(routes)) == [], "descriptions of routes the app does not have"


def test_security_matches_each_routes_auth_level(functions_index):
    doc = openapi_document()
    schemes = set(doc["components"]["securitySchemes"])
    for key, op in _described(doc).items():
        level = _app_routes(functions_index)[key]
        named = {name for requirement in op["security"] for name in requirement}
        assert named <= schemes
        assert (op["security"] == []) == (level == "anonymous"), f"{key}: auth level {level}, security {op['security']}"


def test_path_parameters_match_the_route_template():
    for (path, _), op in _described(openapi_document()).items():
        in_path = set(re.findall(r"\{([^}]+)\}", path))
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert in_path == declared, path


def test_every_reference_resolves():
    doc = openapi_document()
    refs = re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', __import__("json").dumps(doc))
    assert refs
    for section, name in refs:
        assert name in doc["components"][section], f"#/components/{section}/{name}"


def _error_codes_in_code() -> set[str]:
    """The codes of every BioauthError subclass, every code given where an error is raised or answered, and step failures."""
    import function_app  # noqa: F401 - imports every module, so every error class is defined
    from functions.errors import BioauthError

    codes, todo = set(), list(BioauthError.__subclasses__())
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    sources = [*sorted((ROOT / "functions").rglob("*.py")), ROOT / "local_host.py"]
    for path in sources:
        text = path.read_text()
        codes |= set(re.findall(r'\bcode="([a-z_]+)"', text))
        codes |= set(re.findall(r'_json_error\(\d+, "([a-z_]+)"', text))
        codes |= set(re.findall(r'mark_failed\([^)]*?"([a-z_]+)"', text))
        if path.name == "local_host.py":  # the host's own refusals, by status
            codes |= set(re.findall(r'\b[45]\d\d: "([a-z_]+)"', text))
    return codes


def test_error_code_enum_is_exactly_the_codes_the_code_raises():
    in_code = _error_codes_in_code()
    assert sorted(in_code - set(ERROR_CODES)) == [], "error codes missing from the OpenAPI enum"
    assert sorted(set(ERROR_CODES) - in_code) == [], "enum entries no code raises"


def _reason_codes_in_code() -> set[str]:
    from functions.http.routes import VERDICTS
    from functions.biometrics import face_detection
    from functions.biometrics.signature_preparation import SignatureImageError

    reasons = {getattr(face_detection, name) for name in ("NO_FACE", "MULTIPLE_FACES", "FACE_TOO_SMALL", "FACE_CUT_OFF", "LOW_FACE_SCORE",
                                                                "OTHER_FACES_IGNORED")}
    reasons |= {cls.code for cls in SignatureImageError.__subclasses__()}
    reasons |= {f"reviewer_{verdict}" for verdict in VERDICTS}
    tree = ast.parse((ROOT / "functions" / "biometrics" / "decision.py").read_text())
    for node in ast.walk(tree):  # the literal reasons decide() gives: Decision(outcome, [..]) and review.append(..)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Decision" and len(node.args) > 1:
            values = node.args[1].elts if isinstance(node.args[1], ast.List) else []
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "append":
            values = node.args
        else:
            continue
        reasons |= {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
    return reasons


def test_reason_code_enum_is_exactly_the_reasons_a_decision_can_carry():
    in_code = _reason_codes_in_code()
    assert len(in_code) > 10
    assert sorted(in_code - set(REASON_CODES)) == [], "reason codes missing from the OpenAPI enum"
    assert sorted(set(REASON_CODES) - in_code) == [], "enum entries no step gives"


def test_the_document_is_valid_openapi_3_1():
    """Against the OpenAPI 3.1 schema that schemathesis carries (a broken document must fail, too)."""
    pytest.importorskip("schemathesis", reason="schemathesis is a test tool (requirements-dev.txt)")
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    OPENAPI_31_VALIDATOR.validate(openapi_document())
    broken = openapi_document()
    broken["paths"]["/health"]["get"]["responses"]["200"] = {"content": {}}  # an answer needs a description
    with pytest.raises(Exception):
        OPENAPI_31_VALIDATOR.validate(broken)


def test_the_app_serves_the_document_without_a_key(local_host):
    import requests

    answer = requests.get(f"{local_host.url}/api/openapi.json", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == openapi_document()
