"""JSON as the contract reads it, for the checks pydantic does not make: no key written twice
in one object (counted quickly on valid events), no NaN or Infinity, integers too long to
convert found by their path, and the nesting depth of hostile input."""

from __future__ import annotations

import json
from typing import Any

_MAX_INTEGER_DIGITS = 4000
_JSON_WHITESPACE = b" \t\n\r"


def keys_once_quickly(raw: bytes, keys: int) -> bool:
    """True only if `raw`, a valid event with `keys` distinct keys, writes none twice; False
    when this quick test cannot tell (then count exactly, `key_count`).

    Without a backslash in `raw` every quote delimits a string, so no string holds a quote,
    and once JSON whitespace is deleted each key's closing quote is followed by its colon.
    `":` then occurs there, and otherwise only where a string's text (whitespace deleted)
    starts with a colon: a value's closing quote is followed by `,`, `}` or `]`. So the count
    is at least the number of keys written, and equal to the number of distinct keys only if
    no key is written twice. (Bytes of multi-byte UTF-8 are never ASCII.)
    """
    return b"\\" not in raw and raw.translate(None, _JSON_WHITESPACE).count(b'":') == keys


def key_count(raw: bytes) -> int:
    """How many keys `raw` writes, given it is a valid event (one object; only the counts of a
    feedback batch nest another, which has no strings in it).

    Outside strings, a valid event has a colon after each key and nowhere else. Splitting on
    quotes finds the outside parts unless a string holds an escaped quote; then ask `json`.
    """
    if b"\\" not in raw or b'\\"' not in raw:  # one byte is found faster than two
        return b"".join(raw.split(b'"')[::2]).count(b":")
    pairs: list[tuple[str, Any]] = json.loads(raw, object_pairs_hook=list)
    return _pairs_count(pairs)


def _pairs_count(pairs: list[tuple[str, Any]]) -> int:
    nested = [v for _, v in pairs if isinstance(v, list) and v and isinstance(v[0], tuple)]
    return len(pairs) + sum(_pairs_count(v) for v in nested)


def duplicated_key(raw: bytes) -> str:
    try:
        strict_json(raw.decode("utf-8"))
    except DuplicateKey as exc:
        return exc.key
    return ""


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def strict_json(text: str) -> Any:
    """Parse as RFC 8259 JSON: no NaN or Infinity, no key written twice in one object."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for key, value in pairs:
            if key in document:
                raise DuplicateKey(key)
            document[key] = value
        return document

    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    def integer(digits: str) -> int | HugeInteger:
        return HugeInteger() if len(digits) > _MAX_INTEGER_DIGITS else int(digits)

    return json.loads(
        text, object_pairs_hook=no_duplicates, parse_constant=no_constants, parse_int=integer
    )


class HugeInteger:
    """An integer too long to convert (Python refuses over 4,300 digits); never a valid value."""


def huge_integer_path(document: Any, path: str = "") -> str | None:
    if isinstance(document, HugeInteger):
        return path
    if isinstance(document, dict | list):
        items = document.items() if isinstance(document, dict) else enumerate(document)
        for key, value in items:
            found = huge_integer_path(value, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    return None


def nesting_depth(text: str, stop_beyond: int) -> int:
    """Deepest bracket nesting outside strings (counting stops once beyond `stop_beyond`);
    cheap, and safe on hostile input."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_beyond:
                break
        elif char in "]}":
            depth -= 1
    return deepest
