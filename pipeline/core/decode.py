"""Raw bytes in, a validated event or a machine-readable rejection out.

The fast path is one pydantic `validate_json` call on the bytes. Only when that fails do we look
closer, to give the reason a publisher can act on. Decoding never raises on bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from pipeline.core.events import EVENT_ADAPTER, SCHEMA_VERSION, AnyEvent, EventType
from pipeline.core.privacy import redact_nhs_numbers_in_bytes

MAX_MESSAGE_BYTES = 64 * 1024
MAX_NESTING_DEPTH = 32
_KNOWN_TYPES = frozenset(t.value for t in EventType)


class RejectReason(StrEnum):
    """Why a message is not an event. The values are stable: dashboards and alerts count them."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    TOO_DEEPLY_NESTED = "too_deeply_nested"
    NOT_AN_OBJECT = "not_an_object"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message that is not an event.

    `raw` is the original bytes with any valid NHS number redacted (nothing else is changed), so
    it can be kept for diagnosis without holding personal data in clear.
    """

    reason: RejectReason
    detail: str
    field: str
    raw: bytes


def decode(raw: bytes) -> AnyEvent | Rejection:
    """Validate one message. Never raises on bad input."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return _reject(RejectReason.TOO_LARGE, f"{len(raw)} bytes > {MAX_MESSAGE_BYTES}", "", raw)
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as error:
        return _explain(raw, error)


def _reject(reason: RejectReason, detail: str, field: str, raw: bytes) -> Rejection:
    return Rejection(reason, detail[:500], field, redact_nhs_numbers_in_bytes(raw))


def _explain(raw: bytes, error: ValidationError) -> Rejection:
    if not raw.strip():
        return _reject(RejectReason.EMPTY, "empty message", "", raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _reject(RejectReason.NOT_UTF8, f"invalid UTF-8 at byte {exc.start}", "", raw)
    if _nesting_depth(text) > MAX_NESTING_DEPTH:
        return _reject(
            RejectReason.TOO_DEEPLY_NESTED, f"nesting deeper than {MAX_NESTING_DEPTH}", "", raw
        )
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return _reject(RejectReason.NOT_JSON, str(exc), "", raw)
    if not isinstance(document, dict):
        return _reject(
            RejectReason.NOT_AN_OBJECT, f"a JSON {type(document).__name__}, not an object", "", raw
        )
    version = document.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        if "schema_version" not in document:
            return _reject(RejectReason.MISSING_FIELD, "field required", "schema_version", raw)
        return _reject(
            RejectReason.UNSUPPORTED_SCHEMA_VERSION,
            f"schema_version {version!r}; this pipeline reads {SCHEMA_VERSION}",
            "schema_version",
            raw,
        )
    event_type = document.get("event_type")
    if "event_type" not in document:
        return _reject(RejectReason.MISSING_FIELD, "field required", "event_type", raw)
    if not isinstance(event_type, str) or event_type not in _KNOWN_TYPES:
        return _reject(
            RejectReason.UNKNOWN_EVENT_TYPE, f"event_type {event_type!r}", "event_type", raw
        )
    first = error.errors(include_url=False, include_input=False)[0]
    # pydantic prefixes the location with the union tag; the publisher wants the field path.
    location = [str(part) for part in first["loc"]]
    if location and location[0] == event_type:
        location = location[1:]
    return _reject(_reason_for(first["type"]), first["msg"], ".".join(location), raw)


def _reason_for(error_type: str) -> RejectReason:
    if error_type == "missing":
        return RejectReason.MISSING_FIELD
    if error_type == "extra_forbidden":
        return RejectReason.UNKNOWN_FIELD
    if error_type.endswith("_type") or error_type in {"model_attributes_type", "is_instance_of"}:
        return RejectReason.WRONG_TYPE
    return RejectReason.INVALID_VALUE


def _nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside strings; cheap, and safe on hostile input."""
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
            if deepest > MAX_NESTING_DEPTH:
                break
        elif char in "]}":
            depth -= 1
    return deepest
