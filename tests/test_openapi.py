"""The OpenAPI description against the app itself: its routes, auth levels, error codes and reason codes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from functions.errors import STEP_ERROR
from functions.http.openapi import REASON_CODES, openapi_document

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


def _every_error_class() -> dict[str, type]:
    """Class name -> class, for every BioauthError subclass of every module of the service."""
    import importlib
    import pkgutil

    import function_app  # noqa: F401 - the app as it runs
    import functions
    from functions.errors import error_classes

    for module in pkgutil.walk_packages(functions.__path__, "functions."):
        importlib.import_module(module.name)  # and any module the app does not import
    return {cls.__name__: cls for cls in error_classes()}


def _described_error_codes() -> list[str]:
    return openapi_document()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]


def test_every_error_class_code_is_in_the_description():
    classes = _every_error_class()
    assert {"InvalidRequest", "InvalidContextCrop", "SignatureImageError", "ServiceUnavailable"} <= set(classes)
    described = set(_described_error_codes())
    missing = {name: code for name, cls in classes.items() for code in (cls.code, *cls.other_codes) if code not in described}
    assert missing == {}, "error classes whose codes the OpenAPI description lacks"


def _codes_given_where_raised() -> list[tuple[str, int, str, str]]:
    """(file, line, class name, code) for every `SomeError(..., code="...")` in the service."""
    found = []
    for path in sorted((ROOT / "functions").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            for keyword in node.keywords:
                if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                    found.append((str(path.relative_to(ROOT)), node.lineno, name, keyword.value.value))
    return found


def test_every_code_given_where_an_error_is_raised_is_named_by_its_class():
    """`raise Conflict(..., code="not_in_review")` needs Conflict.other_codes to name it, or the description lacks it."""
    classes = _every_error_class()
    raised = _codes_given_where_raised()
    assert len(raised) > 20
    unnamed = [(path, line, name, code) for path, line, name, code in raised
               if name not in classes or code not in (classes[name].code, *classes[name].other_codes)]
    assert unnamed == []


def _error_codes_in_code() -> set[str]:
    """The codes of every BioauthError subclass, every code given where an error is raised, and the host's own."""
    codes = {code for cls in _every_error_class().values() for code in (cls.code, *cls.other_codes)}
    codes |= {code for _, _, _, code in _codes_given_where_raised()}
    host = (ROOT / "local_host.py").read_text()
    codes |= set(re.findall(r'_json_error\(\d+, "([a-z_]+)"', host))
    codes |= set(re.findall(r'\b[45]\d\d: "([a-z_]+)"', host))  # the host's own refusals, by status
    runner = (ROOT / "functions" / "runtime" / "step_runner.py").read_text()
    codes |= set(re.findall(r'mark_failed\([^)]*?"([a-z_]+)"', runner))
    if "STEP_ERROR" in runner:  # a step that failed on every try
        codes.add(STEP_ERROR)
    return codes


def test_error_code_enum_is_exactly_the_codes_the_code_raises():
    in_code, described = _error_codes_in_code(), set(_described_error_codes())
    assert sorted(in_code - described) == [], "error codes missing from the OpenAPI enum"
    assert sorted(described - in_code) == [], "enum entries no code raises"


def _reason_codes_in_code() -> set[str]:
    from functions.biometrics.quality import RETAKE_REASONS
    from functions.http.routes import VERDICTS
    from functions.biometrics import face_detection
    from functions.biometrics.signature_preparation import SignatureImageError

    reasons = {getattr(face_detection, name) for name in ("NO_FACE", "MULTIPLE_FACES", "FACE_TOO_SMALL", "FACE_CUT_OFF", "LOW_FACE_SCORE",
                                                                "OTHER_FACES_IGNORED")}
    reasons |= {cls.code for cls in SignatureImageError.__subclasses__()}
    reasons |= set(RETAKE_REASONS)
    reasons |= {f"reviewer_{verdict}" for verdict in VERDICTS}
    tree = ast.parse((ROOT / "functions" / "biometrics" / "decision.py").read_text())
    for node in ast.walk(tree):  # the literal reasons decide() gives: Decision(outcome, [..]), veto(..) and doubts.append(..)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Decision" and len(node.args) > 1:
            values = node.args[1].elts if isinstance(node.args[1], ast.List) else []
        elif isinstance(node, ast.Call) and (getattr(node.func, "attr", None) == "append" or getattr(node.func, "id", None) == "veto"):
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


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


def test_generated_class_names_are_unique_and_every_operation_has_a_tag():
    """A client generator names an inline enum or object after its schema and property (Review.verdict ->
    ReviewVerdict): such names must not collide with a component's (two `ReviewVerdict`s made
    openapi-python-client drop Review, ReviewCase and Verification)."""
    document = openapi_document()
    components = set(document["components"]["schemas"])
    derived = []
    for name, schema in document["components"]["schemas"].items():
        parts = [schema, *schema.get("allOf", [])]
        for part in parts:
            for prop, sub in (part.get("properties") or {}).items():
                if "$ref" not in sub and ("enum" in sub or sub.get("type") == "object"):
                    derived.append(name + _pascal(prop))
    assert not set(derived) & components, set(derived) & components
    assert len(derived) == len(set(derived))
    declared = {tag["name"] for tag in document["tags"]}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["tags"] and set(operation["tags"]) <= declared, (method, path)


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_operation_has_examples_and_each_is_valid_against_its_schema():
    """A JSON request body and every JSON 2xx answer carry an example, path parameters too; each one validates."""
    from tests.helpers.api_schema import schema_errors

    document = openapi_document()
    checked = 0
    for label, operation in _operations(document):
        media = []
        if "requestBody" in operation:
            media.append(("request", operation["requestBody"]["content"].get("application/json")))
        for status, answer in operation["responses"].items():
            if status.startswith("2") and "application/json" in answer.get("content", {}):
                media.append((status, answer["content"]["application/json"]))
        for where, content in media:
            assert content and "example" in content, f"{label} {where}: no example"
            assert schema_errors(content["example"], content["schema"], document=document) == [], (label, where)
            checked += 1
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and "example" in parameter:
                assert schema_errors(parameter["example"], parameter["schema"], document=document) == [], (label, parameter["name"])
    assert checked >= 20


def test_a_broken_example_is_caught():
    from functions.http.openapi_examples import EXAMPLES
    from tests.helpers.api_schema import schema_errors

    assert schema_errors(EXAMPLES["Verification"], "Verification", strict=True) == []
    broken = {**EXAMPLES["Verification"], "status": "maybe"}
    assert schema_errors(broken, "Verification")
    steps = EXAMPLES["Verification"]["steps"]
    wrong_type = {**EXAMPLES["Verification"], "steps": {**steps, "antispoof": {
        **steps["antispoof"], "result": {**steps["antispoof"]["result"], "score": "high"}}}}
    assert schema_errors(wrong_type, "Verification")
    unnamed = {**EXAMPLES["Verification"], "steps": {**steps, "face-match": {
        **steps["face-match"], "result": {**steps["face-match"]["result"], "new_measure": 1.0}}}}
    assert schema_errors(unnamed, "Verification") == [], "step results stay open to new fields"
    assert schema_errors(unnamed, "Verification", strict=True), "the strict check sees a field the description does not name"


def _components_used_by_answers_and_bodies(document: dict) -> set[str]:
    """Every component schema a request body or an answer reaches, through references at any depth."""
    import json

    schemas = document["components"]["schemas"]

    def refs(node) -> set[str]:
        return set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(node)))

    start = set()
    for _, operation in _operations(document):
        start |= refs(operation.get("requestBody", {}))
        for answer in operation["responses"].values():
            start |= refs(document["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]] if "$ref" in answer else answer)
    seen: set[str] = set()
    while start:
        name = start.pop()
        if name not in seen:
            seen.add(name)
            start |= refs(schemas[name]) - seen
    return seen


def _module_name(component: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", component).lower()


def test_a_generated_python_client_has_a_model_for_every_schema_an_answer_or_body_uses(local_host, tmp_path):
    """openapi-python-client, run on the document the host serves, must make a model for each schema (two
    components one generated name once made it drop Verification, Review, ReviewCase; a union it could not read, Health)."""
    import subprocess
    import sys

    import requests

    pytest.importorskip("openapi_python_client", reason="openapi-python-client is a test tool (requirements-dev.txt)")
    served = requests.get(f"{local_host.url}/api/openapi.json", timeout=30)
    (tmp_path / "openapi.json").write_bytes(served.content)
    run = subprocess.run([sys.executable, "-m", "openapi_python_client", "generate", "--path", str(tmp_path / "openapi.json"),
                          "--meta", "none", "--output-path", str(tmp_path / "generated_client")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert "Unable to process schema" not in report and "Could not find reference" not in report, report
    models = {p.stem for p in (tmp_path / "generated_client" / "models").glob("*.py")}
    used = _components_used_by_answers_and_bodies(served.json())
    assert {"Verification", "ReviewCase", "Review", "Health", "FaceCropResult", "DecisionExplanation"} <= used
    missing = sorted(name for name in used if _module_name(name) not in models)
    assert missing == [], f"no generated model for {missing}"
    document = served.json()
    for label, operation in _operations(document):  # each answer with a schema is parsed into its model
        module = tmp_path / "generated_client" / "api" / operation["tags"][0] / f"{_module_name(operation['operationId'])}.py"
        code = module.read_text()
        for status, answer in operation["responses"].items():
            ref = answer.get("$ref") or answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
            if ref:
                name = "Error" if ref.startswith("#/components/responses/") else ref.rsplit("/", 1)[-1]
                assert f"response_{status} = {name}.from_dict(" in code, (label, status, name)
    sys.path.insert(0, str(tmp_path))
    try:  # the generated models read the documented examples and write them back unchanged
        from generated_client.models import ReviewCase, Verification
        from functions.http.openapi_examples import EXAMPLES

        for model, name in ((Verification, "Verification"), (ReviewCase, "ReviewCase")):
            parsed = model.from_dict(EXAMPLES[name])
            assert parsed.to_dict() == EXAMPLES[name]
        assert Verification.from_dict(EXAMPLES["Verification"]).steps.face_crop.result.quality.measures.sharpness == 85.3785
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m.split(".")[0] == "generated_client"]:
            del sys.modules[module]
