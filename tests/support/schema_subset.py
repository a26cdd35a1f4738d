"""A JSON Schema (2020-12) validator for exactly the keywords our generated schemas use.

The `jsonschema` package is not a dependency, and the point of these tests is to show that the
schemas and the models agree, so a small, strict validator is enough: `KEYWORDS` lists what it
checks, `ANNOTATIONS` what carries no rule for it (`format` is an annotation in 2020-12 unless a
validator opts in; our schemas state timestamps and UUIDs with `pattern` as well). A schema using
any other keyword is refused, so a rule can never be silently skipped.
"""

from __future__ import annotations

import re
from typing import Any

KEYWORDS = frozenset(
    {
        "$ref", "additionalProperties", "anyOf", "const", "enum", "exclusiveMinimum", "items",
        "maxItems", "maxLength", "maximum", "minLength", "minimum", "oneOf", "pattern",
        "properties", "required", "type",
    }
)  # fmt: skip
ANNOTATIONS = frozenset(
    {
        "$defs",
        "$id",
        "$schema",
        "contentEncoding",
        "default",
        "description",
        "discriminator",
        "format",
        "title",
    }
)


class UnsupportedKeyword(ValueError):
    pass


def is_valid(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> bool:
    """True when `instance` (as `json.loads` gives it) is valid under `schema`."""
    root = root or schema
    unknown = set(schema) - KEYWORDS - ANNOTATIONS
    if unknown:
        raise UnsupportedKeyword(", ".join(sorted(unknown)))
    return all(
        _check(keyword, value, instance, schema, root)
        for keyword, value in schema.items()
        if keyword in KEYWORDS
    )


def _check(keyword: str, value: Any, instance: Any, schema: dict[str, Any], root: Any) -> bool:
    if keyword == "$ref":
        return is_valid(instance, _resolve(root, value), root)
    if keyword == "type":
        return _has_type(instance, value)
    if keyword == "const":
        return _same(instance, value)
    if keyword == "enum":
        return any(_same(instance, option) for option in value)
    if keyword == "anyOf":
        return any(is_valid(instance, option, root) for option in value)
    if keyword == "oneOf":
        return sum(is_valid(instance, option, root) for option in value) == 1
    if isinstance(instance, str):
        return _check_string(keyword, value, instance)
    if _is_number(instance):
        return _check_number(keyword, value, instance)
    if isinstance(instance, list):
        if keyword == "items":
            return all(is_valid(item, value, root) for item in instance)
        return keyword != "maxItems" or len(instance) <= value
    if isinstance(instance, dict):
        return _check_object(keyword, value, instance, schema, root)
    return True


def _check_string(keyword: str, value: Any, instance: str) -> bool:
    if keyword == "pattern":
        # ECMA-262 `$` (without the m flag) does not match before a final newline; Python's does
        return re.search(re.sub(r"\$$", r"\\Z", value), instance) is not None
    if keyword == "maxLength":
        return bool(len(instance) <= value)
    if keyword == "minLength":
        return bool(len(instance) >= value)
    return True


def _check_number(keyword: str, value: Any, instance: float) -> bool:
    if keyword == "minimum":
        return bool(instance >= value)
    if keyword == "maximum":
        return bool(instance <= value)
    if keyword == "exclusiveMinimum":
        return bool(instance > value)
    return True


def _check_object(
    keyword: str, value: Any, instance: dict[str, Any], schema: dict[str, Any], root: Any
) -> bool:
    if keyword == "required":
        return all(name in instance for name in value)
    if keyword == "properties":
        return all(is_valid(instance[k], sub, root) for k, sub in value.items() if k in instance)
    if keyword == "additionalProperties" and value is False:
        return set(instance) <= set(schema.get("properties", {}))
    return True


def _resolve(root: dict[str, Any], reference: str) -> dict[str, Any]:
    if not reference.startswith("#/"):
        raise UnsupportedKeyword(f"$ref {reference}")
    target: Any = root
    for part in reference[2:].split("/"):
        target = target[part]
    return dict(target)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _has_type(instance: Any, name: str) -> bool:
    if name == "integer":
        return _is_number(instance) and float(instance).is_integer()
    if name == "number":
        return _is_number(instance)
    python_types = {"string": str, "boolean": bool, "null": type(None), "array": list}
    return isinstance(instance, python_types.get(name, dict))


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)
