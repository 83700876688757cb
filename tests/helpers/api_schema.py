"""Hold JSON to the OpenAPI description's component schemas (functions/http/openapi.py).

`strict=True` turns every open object that names its fields (a step result, the decision explanation) into a
closed one, so a field the service records but the description does not name fails the check: the schemas stay
open for clients (new fields may come), while the tests see each field recorded today described.
"""

from __future__ import annotations

import copy

import jsonschema_rs

from functions.http.openapi import openapi_document


def _closed(node):
    if isinstance(node, dict):
        node = {k: _closed(v) for k, v in node.items()}
        if node.get("additionalProperties") is True and "properties" in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


def schema_errors(instance, schema: dict | str, *, strict: bool = False, document: dict | None = None) -> list[str]:
    """Every way `instance` breaks `schema` (a component's name or a schema that may $ref the components)."""
    components = copy.deepcopy((document or openapi_document())["components"])
    if strict:
        components = _closed(components)
    root = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else dict(schema)
    root["components"] = components
    validator = jsonschema_rs.validator_for(root)
    return [f"{'/'.join(map(str, e.instance_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(instance)]


def assert_conforms(instance, schema: dict | str, *, strict: bool = True) -> None:
    errors = schema_errors(instance, schema, strict=strict)
    assert errors == [], errors
