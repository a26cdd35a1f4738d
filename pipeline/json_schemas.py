"""The events' JSON Schemas (schemas/events/), generated from the contract's pydantic models.

The models in `pipeline.core.events` are the single source; these functions add the rules the
models enforce but pydantic does not write down (a `const` schema_version, the exact RFC 3339
and UUID text, cross-field rules as prose). `pipeline.schema_export` writes the files.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.event_fields import FREE_TEXT_MAX_CHARS, RFC3339_PATTERN, UUID_PATTERN
from pipeline.core.events import (
    EVENT_ADAPTER,
    EVENT_MODELS,
    EVENT_TIME_FIELDS,
    MAX_UINT32,
    PATIENT_FIELDS,
    SCHEMA_VERSION,
)

JsonObject = dict[str, Any]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_PREFIX = f"urn:nhs-quality-pipeline:schema:v{SCHEMA_VERSION}:"
UNION_NAME = "event"
STRICT_TYPES = (
    'Types are strict: an integer is written as one (2, not "2" or 2.0), a boolean as true '
    "or false, a timestamp as RFC 3339 text with seconds and an offset. Unknown fields are "
    "refused, and so is a key written twice."
)
FREE_TEXT_RULE = (
    "Free text, at most 10,000 characters. It may hold personal data, so it is never stored or "
    "forwarded as written: NHS numbers and other identifiers are redacted first."
)
PATIENT_REF_RULE = "Local patient reference; stored only as a keyed pseudonym (HMAC-SHA256)."
CROSS_FIELD_RULES = {
    "TargetMetric": "period_start must be before period_end, the period at most 366 days long, "
    "and numerator must not exceed denominator (rules across fields, which JSON Schema cannot "
    "state). A field of the other form must not be given, not even as null.",
    "PatientFeedback": "period_start must be before period_end, the period at most 366 days "
    "long, and counts must hold at least one response (rules across fields, which JSON Schema "
    "cannot state).",
}
# The two forms of a v1.1 event, each the fields it requires (JSON Schema's oneOf: exactly one).
FORMS: dict[str, list[JsonObject]] = {
    "TargetMetric": [
        {
            "title": "share",
            "required": ["numerator", "denominator"],
            "properties": {
                "numerator": {"type": "integer"},
                "denominator": {"type": "integer"},
                "target": {"maximum": 1},
            },
        },
        {
            "title": "value",
            "required": ["value", "unit"],
            "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
        },
    ],
    "PatientFeedback": [
        {
            "title": "one response",
            "required": ["rating"],
            "properties": {"rating": {"type": "integer"}},
        },
        {
            "title": "counts",
            "required": ["period_start", "period_end", "counts"],
            "properties": {
                "period_start": {"type": "string"},
                "period_end": {"type": "string"},
                "counts": {"type": "object"},
            },
        },
    ],
}
COUNTS_SCHEMA: JsonObject = {
    "type": "object",
    "description": 'Responses per rating, keys "1" (very good) to "6" (don\'t know).',
    "properties": {
        key: {"type": "integer", "minimum": 0, "maximum": MAX_UINT32}
        for key in ("1", "2", "3", "4", "5", "6")
    },
    "additionalProperties": False,
}
EVENT_TIME_RULE = (
    "Event time, RFC 3339: not before 1990-01-01 and not more than a day after the time it is "
    "processed (PIPELINE_EVENT_TIME_EARLIEST, PIPELINE_EVENT_TIME_AHEAD_HOURS); invalid_value "
    "otherwise."
)
TIMESTAMP_RULE = "RFC 3339, between 1900 and 2299 (what storage holds exactly)."
LABEL_RULE = "Must not hold a valid NHS number in any written form (invalid_value)."


def event_json_schemas() -> dict[str, JsonObject]:
    """The JSON Schema of each event type by its name, and of their union under "event"."""
    schemas: dict[str, JsonObject] = {}
    for event_type, model in EVENT_MODELS.items():
        schema = model.model_json_schema()
        state_model_rules(schema)
        schemas[event_type.value] = _standalone(event_type.value, schema)
    union = EVENT_ADAPTER.json_schema()
    for model in EVENT_MODELS.values():
        state_model_rules(union["$defs"][model.__name__])
    union = {
        "title": "Event",
        "description": "Any event of contract v1; `event_type` says which. " + STRICT_TYPES,
        **union,
    }
    schemas[UNION_NAME] = _standalone(UNION_NAME, union)
    return schemas


def _standalone(name: str, schema: JsonObject) -> JsonObject:
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": f"{SCHEMA_ID_PREFIX}{name}", **schema}


def state_model_rules(schema: JsonObject) -> None:
    """Add to one event model's schema what the model enforces and pydantic leaves out."""
    properties: JsonObject = schema["properties"]
    properties["schema_version"] = {
        "const": SCHEMA_VERSION,
        "title": "Schema Version",
        "type": "integer",
    }
    properties["event_id"]["pattern"] = UUID_PATTERN
    properties["event_id"]["description"] = "UUID, the idempotency key: the same id is one event."
    for name, field in properties.items():
        for member in field.get("anyOf", [field]):  # a timestamp of one form may be null
            if member.get("format") == "date-time":
                member["pattern"] = RFC3339_PATTERN
                field["description"] = (
                    EVENT_TIME_RULE if name in EVENT_TIME_FIELDS else TIMESTAMP_RULE
                )
        if any(f.get("maxLength") == FREE_TEXT_MAX_CHARS for f in field.get("anyOf", [field])):
            field["description"] = FREE_TEXT_RULE
        elif name not in PATIENT_FIELDS and name != "event_id" and _is_text(field):
            field["description"] = " ".join(filter(None, [field.get("description"), LABEL_RULE]))
    if "patient_ref" in properties:
        properties["patient_ref"]["description"] = PATIENT_REF_RULE
    if "counts" in properties:
        properties["counts"] = {"anyOf": [COUNTS_SCHEMA, {"type": "null"}], "default": None}
    if schema["title"] in FORMS:
        schema["oneOf"] = FORMS[schema["title"]]
    rules = [schema.get("description", ""), CROSS_FIELD_RULES.get(schema["title"], "")]
    schema["description"] = " ".join(rule for rule in rules if rule) + " " + STRICT_TYPES


def _is_text(field: JsonObject) -> bool:
    """A free-form string or list of strings (not an enum, a timestamp or a UUID)."""
    for option in field.get("anyOf", [field]):
        items = option.get("items", option) if option.get("type") == "array" else option
        if items.get("type") == "string" and not {"format", "enum", "const"} & set(items):
            return True
    return False
