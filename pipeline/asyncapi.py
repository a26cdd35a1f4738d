"""The AsyncAPI 3.0 document of the pipeline's topics (schemas/asyncapi.yaml), and the small
YAML writer it needs.

The message payloads are the events' JSON Schemas (`pipeline.json_schemas`), the alert model
and the dead letter; the channels are the topics as the given settings name them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from pipeline.core.alerts import Alert
from pipeline.core.events import EVENT_MODELS, SCHEMA_VERSION
from pipeline.core.partitioning import PARTITIONING_RULE
from pipeline.json_schemas import STRICT_TYPES, JsonObject, state_model_rules
from pipeline.settings import Settings

KAFKA_BINDING_VERSION = "0.5.0"


ORG_KEY_PATTERN = r"^[A-Z0-9]{3,10}$"


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


def _component_schemas() -> JsonObject:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "validation") for model in EVENT_MODELS.values()
    ]
    models.append((Alert, "serialization"))
    _, top = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: JsonObject = top["$defs"]
    for model in EVENT_MODELS.values():
        state_model_rules(schemas[model.__name__])
    alert = schemas["Alert"]
    alert["required"] = list(alert["properties"])  # the pipeline always writes every field
    alert["description"] = (
        "One alert (contract §2) and its status: open, resolved (the episode ended) or "
        "withdrawn (late data showed it was never there, or moved it: evidence.replaced_by "
        "names the alerts raised in its place). New kinds may be added."
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


def to_yaml(document: JsonObject) -> str:
    """`document` as block-style YAML 1.2. Every scalar and key that is not a plain word is
    written as a JSON string or number (valid YAML), so no YAML library is needed."""
    return "\n".join(_yaml_lines(document, 0)) + "\n"


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
