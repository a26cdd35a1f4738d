"""Raw bytes in, a validated event or a machine-readable rejection out.

The fast path is one pydantic `validate_json` call on the bytes (and a cheap count that no key
is written twice). Only when that fails do we look closer, to give the reason a publisher can
act on. Decoding never raises on bad input.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import ValidationError

from pipeline.core.bounds import STORED, EventBounds, check_bounds
from pipeline.core.events import (
    EVENT_ADAPTER,
    SCHEMA_VERSION,
    AlertResponse,
    AnyEvent,
    EventType,
    IncidentReport,
    PatientFeedback,
    TargetMetric,
)
from pipeline.core.privacy import redact_free_text, redact_rejected
from pipeline.core.strict_json import (
    DuplicateKey,
    duplicated_key,
    huge_integer_path,
    key_count,
    keys_once_quickly,
    nesting_depth,
    strict_json,
)

# The largest valid event is about 122 KB: 10,000 characters of free text written, as JSON
# allows, as escaped surrogate pairs (12 bytes each), plus the short fields.
KEPT_BYTES_OF_OVERSIZED = 64 * 1024
MAX_MESSAGE_BYTES = 256 * 1024
MAX_FIELD_PATH_CHARS = 200
MAX_NESTING_DEPTH = 32
_KNOWN_TYPES = frozenset(t.value for t in EventType)
_DUPLICATE_DETAIL = "the same key is written twice in one object"
_HUGE_DETAIL = "an integer must be within 64 bits"
_JSON_TYPE_NAMES = {list: "an array", str: "a string", int: "a number", float: "a number"}
# the validator itself, not TypeAdapter's wrapper around it (a Python call less per event)
_validate_json: Callable[[bytes], AnyEvent] = EVENT_ADAPTER.validator.validate_json


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
    DUPLICATE_FIELD = "duplicate_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    PROCESSING_ERROR = "processing_error"  # valid by the contract, yet the pipeline failed on it


class RawMessage(NamedTuple):  # a tuple: one per message, far cheaper to make than a dataclass
    """One message as it arrived; `origin` says where from (file:line, topic/partition@offset).

    `size` is the message's whole size when `value` holds only its head (a reader stops
    keeping a line once it is too large, so an endless line never has to fit in memory).
    """

    value: bytes
    origin: str
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message that is not an event.

    `raw` is the original bytes with every personal-data shape redacted (NHS numbers, email
    addresses, phone numbers, postcodes, dates, the value of a patient reference; nothing else
    is changed), so it can be kept for diagnosis without holding personal data in clear.
    `detail` and `field` echo parts of the input (an unknown key, a bad schema_version) and are
    redacted the same way; what may be printed of `field` is `shown_field`.
    """

    reason: RejectReason
    detail: str
    field: str
    raw: bytes


def decode(
    raw: bytes, bounds: EventBounds = STORED, *, size: int | None = None
) -> AnyEvent | Rejection:
    """Validate one message against the contract and `bounds`. Never raises on bad input.

    This is the one validation `pipeline publish --check`, replay and the worker share; each
    passes the bounds at its processing time (`TimeHorizon.at(now)`). The default, `STORED`,
    checks only what storage requires, for re-reading stored events. `size` is the message's
    whole size when `raw` is only its head.
    """
    whole = len(raw) if size is None else max(size, len(raw))
    if whole > MAX_MESSAGE_BYTES:
        # Only the head is kept: the whole of an oversized message would not fit a dead letter.
        return _reject(
            RejectReason.TOO_LARGE,
            f"{whole} bytes > {MAX_MESSAGE_BYTES}",
            "",
            raw[:KEPT_BYTES_OF_OVERSIZED],
        )
    try:
        event = _validate_json(raw)
    except ValidationError as error:
        return _explain(raw, error)
    return checked(raw, event, bounds)


def checked(raw: bytes, event: AnyEvent, bounds: EventBounds) -> AnyEvent | Rejection:
    """The rest of `decode` for an `event` validated from `raw`: no key written twice, and
    within `bounds` (the engine's batch pass validates first, then calls this)."""
    if not _no_key_written_twice(raw, event):
        # pydantic keeps the last of two equal keys, other readers the first: refuse to guess
        return _reject(RejectReason.DUPLICATE_FIELD, _DUPLICATE_DETAIL, duplicated_key(raw), raw)
    problem = check_bounds(event, bounds)
    if problem is not None:
        return _reject(RejectReason.INVALID_VALUE, problem.detail, problem.field, raw)
    return event


def _reject(reason: RejectReason, detail: str, field: str, raw: bytes) -> Rejection:
    return Rejection(
        reason,
        redact_free_text(detail[:500]).text,
        redact_free_text(field[:MAX_FIELD_PATH_CHARS]).text,
        redact_rejected(raw),
    )


def _keys_written(event: AnyEvent) -> int:
    """How many keys a valid event's JSON writes: its fields, and those of a feedback's counts."""
    if type(event) is PatientFeedback and event.counts:
        return len(event.__pydantic_fields_set__) + len(event.counts)
    return len(event.__pydantic_fields_set__)


def _no_key_written_twice(raw: bytes, event: AnyEvent) -> bool:
    """Whether `raw` (which validated to `event`) writes each key once."""
    expected = _keys_written(event)
    return keys_once_quickly(raw, expected) or key_count(raw) == expected


def _explain(raw: bytes, error: ValidationError) -> Rejection:
    if not raw.strip():
        return _reject(RejectReason.EMPTY, "empty message", "", raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _reject(RejectReason.NOT_UTF8, f"invalid UTF-8 at byte {exc.start}", "", raw)
    if nesting_depth(text, MAX_NESTING_DEPTH) > MAX_NESTING_DEPTH:
        return _reject(
            RejectReason.TOO_DEEPLY_NESTED, f"nesting deeper than {MAX_NESTING_DEPTH}", "", raw
        )
    first = error.errors(include_url=False, include_input=False)[0]
    # an integer of thousands of digits is valid JSON, just no valid value: say where it is
    huge_integer = first["type"] == "json_invalid" and "number out of range" in first["msg"]
    if first["type"] == "json_invalid" and not huge_integer:
        # pydantic's parser is the authority: Python's json would take a lone "\ud800"
        return _reject(RejectReason.NOT_JSON, first["msg"], "", raw)
    try:
        document = strict_json(text)
    except DuplicateKey as exc:
        return _reject(RejectReason.DUPLICATE_FIELD, _DUPLICATE_DETAIL, exc.key, raw)
    except (ValueError, RecursionError) as exc:
        return _reject(RejectReason.NOT_JSON, str(exc), "", raw)
    if not isinstance(document, dict):
        kind = _JSON_TYPE_NAMES.get(type(document)) or json.dumps(document)
        return _reject(RejectReason.NOT_AN_OBJECT, f"{kind}, not an object", "", raw)
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
    if huge_integer:
        where = huge_integer_path(document)
        if where is None:
            return _reject(RejectReason.NOT_JSON, first["msg"], "", raw)
        return _reject(RejectReason.INVALID_VALUE, _HUGE_DETAIL, where, raw)
    # pydantic prefixes the location with the union tag; the publisher wants the field path.
    location = list(first["loc"])
    if location and location[0] == event_type:
        location = location[1:]
    named = first.get("ctx", {}).get("field")
    if not location and isinstance(named, str):
        location = [named]  # a rule across fields that names the field it misses
    reason = _reason_for(first["type"])
    if first["type"] == "enum" and not isinstance(_value_at(document, location), str):
        reason = RejectReason.WRONG_TYPE  # pydantic says "enum" whatever the input's type
    return _reject(reason, first["msg"], ".".join(str(part) for part in location), raw)


def _value_at(document: Any, location: list[int | str]) -> Any:
    """The value at a pydantic error location, or None where the document has none."""
    for part in location:
        try:
            document = document[part]
        except (LookupError, TypeError):
            return None
    return document


def _reason_for(error_type: str) -> RejectReason:
    if error_type == "missing":
        return RejectReason.MISSING_FIELD
    if error_type == "extra_forbidden":
        return RejectReason.UNKNOWN_FIELD
    if error_type.endswith("_type") or error_type in {"model_attributes_type", "is_instance_of"}:
        return RejectReason.WRONG_TYPE
    return RejectReason.INVALID_VALUE


_CONTRACT_NAMES = frozenset(
    name
    for model in (IncidentReport, TargetMetric, PatientFeedback, AlertResponse)
    for name in model.model_fields
) | {"[key]"}


def shown_field(rejection: Rejection) -> str:
    """The field path of `rejection` as it may be printed: contract field names, list indexes
    and `[key]` as they are; a key the contract does not know as `<key #N: L characters>`, N
    its place among the keys of the event (when found there), or `<a key of L characters>`,
    with `, like FIELD` when it is close to a contract field's name (a typo)."""
    if rejection.reason is RejectReason.UNKNOWN_FIELD:
        return _unknown_key(rejection.field, _top_level_keys(rejection.raw))
    return ".".join(
        part
        if part in _CONTRACT_NAMES or (part.isascii() and part.isdigit())
        else _unknown_key(part)
        for part in rejection.field.split(".")
    )


def _unknown_key(key: str, keys: list[str] | None = None) -> str:
    described = f"{len(key):,} character{'s' * (len(key) != 1)}"
    # a typo's likely field: a contract name, so nothing of the key's own text is shown
    near = difflib.get_close_matches(key, _CONTRACT_NAMES, n=1, cutoff=0.8)
    if near:
        described += f", like {near[0]}"
    if keys is not None and key in keys:
        return f"<key #{keys.index(key) + 1}: {described}>"
    return f"<a key of {described}>"


def _top_level_keys(raw: bytes) -> list[str] | None:
    """The keys of the (redacted) rejected line's object, in order; None when unreadable."""
    try:
        pairs = json.loads(raw, object_pairs_hook=lambda pairs: pairs)
    except ValueError:
        return None
    return [key for key, _ in pairs] if isinstance(pairs, list) else None
