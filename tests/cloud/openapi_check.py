"""Checks against the published v1 OpenAPI document: operations, parameters, and response bodies."""

from __future__ import annotations

import datetime
import json
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker

from .conftest import REFERENCE

DOCUMENT: dict = json.loads(REFERENCE.read_text())
METHODS = ("get", "post", "delete")

formats = FormatChecker(formats=())


@formats.checks("date-time", raises=ValueError)
def _date_time(text: object) -> bool:
    if not isinstance(text, str):  # formats constrain strings only
        return True
    datetime.datetime.fromisoformat(text)
    return text.endswith("Z")


@formats.checks("uri")
def _uri(text: object) -> bool:
    if not isinstance(text, str):
        return True
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def operations() -> list[tuple[str, str, dict]]:
    """(path, method, operation) for every operation the document lists."""
    return [(path, method, operation) for path, item in DOCUMENT["paths"].items()
            for method, operation in item.items() if method in METHODS]


def resolve(node: Any) -> Any:
    """OpenAPI 3.0 schema → JSON Schema: references inlined, `nullable` as a "null" type."""
    if isinstance(node, list):
        return [resolve(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        return resolve(DOCUMENT["components"]["schemas"][name])
    schema = {key: resolve(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def response_schema(operation: dict, status: int) -> dict | None:
    documented = operation["responses"].get(str(status))
    if documented is None:
        raise AssertionError(f"{operation['operationId']}: status {status} is not documented")
    content = documented.get("content", {}).get("application/json")
    return None if content is None else resolve(content["schema"])


def problems(schema: dict, instance: Any) -> list[str]:
    """Schema violations, plus every documented property the instance lacks (the document marks
    none required, but a compatible service returns them all)."""
    found = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
             for error in Draft202012Validator(schema, format_checker=formats).iter_errors(instance)]
    found += _missing(schema, instance, "")
    return found


def _missing(schema: dict, instance: Any, where: str) -> list[str]:
    if isinstance(instance, dict) and "properties" in schema:
        found = [f"{where}/{name}: missing" for name in schema["properties"] if name not in instance]
        for name, sub in schema["properties"].items():
            if name in instance:
                found += _missing(sub, instance[name], f"{where}/{name}")
        return found
    if isinstance(instance, list) and "items" in schema:
        return [problem for index, item in enumerate(instance)
                for problem in _missing(schema["items"], item, f"{where}/{index}")]
    return []
