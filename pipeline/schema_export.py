"""The published contracts, generated from the models: JSON Schemas and the AsyncAPI document.

The pydantic models in `pipeline.core.events` (and `pipeline.core.alerts`) are the single
source. This module turns them into `schemas/events/<event_type>.schema.json`, the union
`schemas/events/event.schema.json` and `schemas/asyncapi.yaml`, adding the rules the models
enforce but pydantic does not write down (a `const` schema_version, the exact RFC 3339 and UUID
text, cross-field rules as prose). Regenerate with `python -m pipeline.schema_export`; a unit
test fails when the files in the repository drift from the models.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from pipeline.core.alerts import Alert
from pipeline.core.event_fields import FREE_TEXT_MAX_CHARS, RFC3339_PATTERN, UUID_PATTERN
from pipeline.core.events import (
    EVENT_ADAPTER,
    EVENT_MODELS,
    EVENT_TIME_FIELDS,
    MAX_UINT32,
    PATIENT_FIELDS,
    SCHEMA_VERSION,
)
from pipeline.core.partitioning import PARTITIONING_RULE
from pipeline.settings import Settings

JsonObject = dict[str, Any]

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_PREFIX = f"urn:nhs-quality-pipeline:schema:v{SCHEMA_VERSION}:"
UNION_NAME = "event"
KAFKA_BINDING_VERSION = "0.5.0"
ORG_KEY_PATTERN = r"^[A-Z0-9]{3,10}$"

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
DEAD_LETTER_SCHEMA: JsonObject = {
    "title": "DeadLetter",
    "description": "A message that was not an event, kept with its machine-readable reason. "
    "Keyed by its rejection id (a hash of origin and bytes: a re-delivery is one dead letter).",
    "type": "object",
    "additionalProperties": False,
    "required": ["reason", "field", "detail", "origin", "raw_base64"],
    "properties": {
        "reason": {
            "type": "string",
            "description": "Why it was refused (docs/publishing.md lists the reasons).",
        },
        "field": {"type": "string", "description": "The field path at fault, or empty."},
        "detail": {"type": "string", "description": "A short explanation, for people."},
        "origin": {
            "type": "string",
            "description": "Where it came from: `topic/partition@offset`.",
        },
        "raw_base64": {
            "type": "string",
            "contentEncoding": "base64",
            "description": "The original bytes, base64, with personal data redacted (NHS "
            "numbers, email addresses, phone numbers, postcodes, dates, patient references).",
        },
    },
}


def event_json_schemas() -> dict[str, JsonObject]:
    """The JSON Schema of each event type by its name, and of their union under "event"."""
    schemas: dict[str, JsonObject] = {}
    for event_type, model in EVENT_MODELS.items():
        schema = model.model_json_schema()
        _state_model_rules(schema)
        schemas[event_type.value] = _standalone(event_type.value, schema)
    union = EVENT_ADAPTER.json_schema()
    for model in EVENT_MODELS.values():
        _state_model_rules(union["$defs"][model.__name__])
    union = {
        "title": "Event",
        "description": "Any event of contract v1; `event_type` says which. " + STRICT_TYPES,
        **union,
    }
    schemas[UNION_NAME] = _standalone(UNION_NAME, union)
    return schemas


def asyncapi_document(settings: Settings) -> JsonObject:
    """The AsyncAPI 3.0 document of the topics, as the pipeline configured by `settings` uses
    them: it receives events on one topic per type and sends alerts and dead letters."""
    schemas = _component_schemas()
    channels: JsonObject = {}
    operations: JsonObject = {}
    messages: JsonObject = {}
    for event_type, model in EVENT_MODELS.items():
        name = event_type.value
        channels[name] = _channel(
            settings,
            name,
            f"{model.__doc__} Keyed `org_id` (see the description of the document).",
        )
        messages[name] = _message(name, model.__name__, _org_key_binding())
        operations[f"receive_{name}"] = _operation("receive", name, f"Take in {name} events.")
    channels["alerts"] = _channel(
        settings,
        "alerts",
        "Alerts (contract §2) with their `status`: every version of an alert, keyed by "
        "`alert_id`, so the versions of one alert stay in order on one partition.",
    )
    messages["alerts"] = _message("alerts", "Alert", _string_key_binding("alert_id"))
    operations["send_alerts"] = _operation("send", "alerts", "Publish each alert version.")
    channels["dead_letter"] = _channel(
        settings, "dead_letter", "Messages that were not events, with the reason."
    )
    messages["dead_letter"] = _message("dead_letter", "DeadLetter", _string_key_binding("id"))
    operations["send_dead_letter"] = _operation("send", "dead_letter", "Keep refused input.")
    host = str(settings.kafka_bootstrap.servers[0])
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "NHS quality pipeline",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": (
                "Events in (one topic per type), alerts and dead letters out. Topic names are "
                f"`<PIPELINE_TOPIC_PREFIX>.<name>`; this document uses the prefix "
                f"`{settings.topic_prefix}`. Each event is one JSON object per message value, "
                f"the bytes as the publisher wrote them. {STRICT_TYPES} {PARTITIONING_RULE}"
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": host,
                "protocol": "kafka",
                "description": "The broker named by PIPELINE_KAFKA_BOOTSTRAP.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def write_schemas(directory: Path = SCHEMAS_DIR, settings: Settings | None = None) -> list[Path]:
    """Write the JSON Schemas under `directory/events/` and `directory/asyncapi.yaml`.

    Without `settings` the document describes the defaults (never the environment), so the
    files in the repository do not depend on who generated them.
    """
    (directory / "events").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, schema in event_json_schemas().items():
        path = directory / "events" / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    document = asyncapi_document(settings or Settings.model_construct())
    path = directory / "asyncapi.yaml"
    path.write_text(to_yaml(document), encoding="utf-8")
    written.append(path)
    return written


def to_yaml(document: JsonObject) -> str:
    """`document` as block-style YAML 1.2. Every scalar and key that is not a plain word is
    written as a JSON string or number (valid YAML), so no YAML library is needed."""
    return "\n".join(_yaml_lines(document, 0)) + "\n"


def _standalone(name: str, schema: JsonObject) -> JsonObject:
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": f"{SCHEMA_ID_PREFIX}{name}", **schema}


def _state_model_rules(schema: JsonObject) -> None:
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


def _component_schemas() -> JsonObject:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "validation") for model in EVENT_MODELS.values()
    ]
    models.append((Alert, "serialization"))
    _, top = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: JsonObject = top["$defs"]
    for model in EVENT_MODELS.values():
        _state_model_rules(schemas[model.__name__])
    alert = schemas["Alert"]
    alert["required"] = list(alert["properties"])  # the pipeline always writes every field
    alert["description"] = (
        "One alert (contract §2) and its status: open, resolved (the episode ended) or "
        "withdrawn (late data showed it was never there). New kinds may be added."
    )
    schemas["DeadLetter"] = DEAD_LETTER_SCHEMA
    return dict(sorted(schemas.items()))


def _channel(settings: Settings, name: str, description: str) -> JsonObject:
    address = settings.topic(name)
    return {
        "address": address,
        "description": description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        "bindings": {
            "kafka": {
                "topic": address,
                "partitions": settings.topic_partitions,
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _message(name: str, schema_name: str, bindings: JsonObject) -> JsonObject:
    return {
        "name": name,
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{schema_name}"},
        "bindings": bindings,
    }


def _operation(action: str, channel: str, summary: str) -> JsonObject:
    return {
        "action": action,
        "summary": summary,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{channel}"}],
    }


def _org_key_binding() -> JsonObject:
    key = {"type": "string", "pattern": ORG_KEY_PATTERN, "description": "`org_id`, UTF-8"}
    return {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}}


def _string_key_binding(what: str) -> JsonObject:
    key = {"type": "string", "description": f"the {what}, UTF-8"}
    return {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}}


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = key if _PLAIN_KEY.match(key) else json.dumps(key, ensure_ascii=False)
            if _is_block(item):
                lines += [f"{pad}{name}:", *_yaml_lines(item, indent + 2)]
            else:
                lines.append(f"{pad}{name}: {_yaml_scalar(item)}")
    else:
        for item in value:
            if _is_block(item):
                first, *rest = _yaml_lines(item, indent + 2)
                lines += [f"{pad}- {first[indent + 2 :]}", *rest]
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    return lines


def _is_block(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _yaml_scalar(value: Any) -> str:
    # JSON's null, true, false, numbers, strings, {} and [] mean the same in YAML 1.2
    return json.dumps(value, ensure_ascii=False)


if __name__ == "__main__":
    for written_path in write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMAS_DIR):
        print(written_path)
