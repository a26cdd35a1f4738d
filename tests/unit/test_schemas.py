"""The published schemas are generated from the models, stay in step with them, and agree with
them on what is an event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.alert_topic import dead_letter_envelope
from pipeline.asyncapi import asyncapi_document, to_yaml
from pipeline.core.decode import Rejection, decode
from pipeline.core.engine import RejectedMessage
from pipeline.core.events import EventType
from pipeline.json_schemas import event_json_schemas
from pipeline.schema_export import SCHEMAS_DIR, write_schemas
from pipeline.settings import Settings
from tests.support.event_examples import valid_event
from tests.support.schema_subset import is_valid

SCHEMAS = event_json_schemas()
TYPES = [t.value for t in EventType]

GOOD: dict[str, dict[str, Any]] = {
    "as given": {},
    "optional fields null": {"channel": None, "comment": None, "themes": None},
    "optional fields absent": {"channel": ..., "comment": ..., "themes": ...},
    "rating 6 (don't know)": {"rating": 6},
    "20 themes": {"themes": [f"t{i}" for i in range(20)]},
    "10,000-character comment": {"comment": "é" * 10_000},
    "offset and fraction": {"occurred_at": "2024-03-04T10:15:00.123456-05:30"},
    "lower-case t and z": {"occurred_at": "2024-03-04t10:15:00z"},
    "upper-case UUID": {"event_id": "0B6F5A1E-3C1D-4C59-A7D4-9D1C1A1B2C3D"},
    "longest unit_id": {"unit_id": "u" * 64},
    "longest org_id": {"org_id": "ABCDE12345"},
}
BAD: dict[str, dict[str, Any]] = {
    "schema_version 2": {"schema_version": 2},
    "schema_version true": {"schema_version": True},
    "schema_version as text": {"schema_version": "1"},
    "rating as text": {"rating": "2"},
    "rating true": {"rating": True},
    "rating 0": {"rating": 0},
    "rating 7": {"rating": 7},
    "unknown channel": {"channel": "fax"},
    "unknown field": {"coment": "typo"},
    "missing rating": {"rating": ...},
    "missing org_id": {"org_id": ...},
    "null for a required field": {"source": None},
    "21 themes": {"themes": [f"t{i}" for i in range(21)]},
    "theme with a capital": {"themes": ["Waiting"]},
    "10,001-character comment": {"comment": "x" * 10_001},
    "empty source": {"source": ""},
    "lower-case org_id": {"org_id": "rx1"},
    "org_id with a final newline": {"org_id": "RX1\n"},
    "unit_id starting with a dot": {"unit_id": ".ward"},
    "timestamp without offset": {"occurred_at": "2024-03-04T10:15:00"},
    "date only": {"occurred_at": "2024-03-04"},
    "timestamp without seconds": {"occurred_at": "2024-03-04T10:15Z"},
    "timestamp as a number": {"occurred_at": 1709547300},
    "UUID without hyphens": {"event_id": "0b6f5a1e3c1d4c59a7d49d1c1a1b2c3d"},
    "UUID as a URN": {"event_id": "urn:uuid:0b6f5a1e-3c1d-4c59-a7d4-9d1c1a1b2c3d"},
    "event_type of another schema": {"event_type": "incident_report"},
}
BAD_TARGETS: dict[str, dict[str, Any]] = {
    "target 0": {"target": 0},
    "target 1.5": {"target": 1.5},
    "target as text": {"target": "0.95"},
    "denominator 0": {"denominator": 0, "numerator": 0},
    "negative numerator": {"numerator": -1},
    "higher_is_better as 1": {"higher_is_better": 1},
}
# Rules the models enforce and JSON Schema cannot state: each is in the schema's description.
MODEL_ONLY: dict[str, tuple[str, dict[str, Any], str]] = {
    "numerator above denominator": (
        "target_metric",
        {"numerator": 1001},
        "numerator must not exceed denominator",
    ),
    "period_start after period_end": (
        "target_metric",
        {"period_start": "2024-03-12T00:00:00Z"},
        "period_start must be before period_end",
    ),
    "rating written 2.0": ("patient_feedback", {"rating": 2.0}, "2.0"),
}


def model_accepts(event: dict[str, Any]) -> bool:
    return not isinstance(decode(json.dumps(event).encode()), Rejection)


def schemas_accept(event: dict[str, Any], event_type: str) -> bool:
    instance = json.loads(json.dumps(event))
    per_type = is_valid(instance, SCHEMAS[event_type])
    union = is_valid(instance, SCHEMAS["event"])
    assert per_type == union or instance.get("event_type") != event_type
    return per_type


def test_the_files_in_the_repository_are_what_the_models_generate(tmp_path: Path) -> None:
    written = write_schemas(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        *(f"events/{name}.schema.json" for name in [*TYPES, "event"]),
        "asyncapi.yaml",
    }
    stale = [
        p.relative_to(tmp_path).as_posix()
        for p in written
        if not (SCHEMAS_DIR / p.relative_to(tmp_path)).is_file()
        or (SCHEMAS_DIR / p.relative_to(tmp_path)).read_bytes() != p.read_bytes()
    ]
    assert not stale, f"regenerate with `python -m pipeline.schema_export`: {stale}"


@pytest.mark.parametrize("case", GOOD)
def test_good_examples_are_valid_for_both_schema_and_model(case: str) -> None:
    event = valid_event("patient_feedback", **GOOD[case])
    assert model_accepts(event)
    assert schemas_accept(event, "patient_feedback")


@pytest.mark.parametrize("event_type", TYPES)
def test_the_example_of_every_type_is_valid_for_both(event_type: str) -> None:
    assert model_accepts(valid_event(event_type))
    assert schemas_accept(valid_event(event_type), event_type)


@pytest.mark.parametrize(
    ("event_type", "case"),
    [("patient_feedback", case) for case in BAD] + [("target_metric", c) for c in BAD_TARGETS],
)
def test_bad_examples_are_refused_by_both_schema_and_model(event_type: str, case: str) -> None:
    event = valid_event(event_type, **{**BAD, **BAD_TARGETS}[case])
    assert not model_accepts(event)
    assert not schemas_accept(event, event_type)


def test_an_unknown_event_type_is_refused_by_the_union_schema_and_the_model() -> None:
    event = valid_event("patient_feedback", event_type="patient_feedbak")
    assert not model_accepts(event)
    assert not is_valid(event, SCHEMAS["event"])


@pytest.mark.parametrize("case", MODEL_ONLY)
def test_rules_json_schema_cannot_state_are_written_in_the_description(case: str) -> None:
    event_type, changes, wording = MODEL_ONLY[case]
    event = valid_event(event_type, **changes)
    assert not model_accepts(event)
    assert schemas_accept(event, event_type)  # JSON Schema cannot tell; the description must
    assert wording in SCHEMAS[event_type]["description"]


@pytest.mark.parametrize("event_type", TYPES)
def test_every_schema_states_strictness_and_the_fixed_version(event_type: str) -> None:
    schema = SCHEMAS[event_type]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["properties"]["schema_version"] == {
        "const": 1,
        "title": "Schema Version",
        "type": "integer",
    }
    assert schema["properties"]["event_type"]["const"] == event_type
    assert {"schema_version", "event_id", "org_id", "unit_id", "occurred_at", "source"} <= set(
        schema["required"]
    )


def test_free_text_fields_carry_the_personal_data_rule() -> None:
    for event_type, name in [
        ("incident_report", "description"),
        ("patient_feedback", "comment"),
        ("alert_response", "note"),
    ]:
        assert "never stored" in SCHEMAS[event_type]["properties"][name]["description"]
    assert "pseudonym" in SCHEMAS["incident_report"]["properties"]["patient_ref"]["description"]


def test_asyncapi_names_every_topic_with_the_configured_prefix_and_partitions() -> None:
    settings = Settings.model_construct(topic_prefix="trust", topic_partitions=3)
    document = asyncapi_document(settings)
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    assert {c["address"] for c in channels.values()} == {
        *(f"trust.{t}" for t in TYPES),
        "trust.alerts",
        "trust.dead_letter",
    }
    assert {c["bindings"]["kafka"]["partitions"] for c in channels.values()} == {3}
    messages = document["components"]["messages"]
    for event_type in TYPES:
        key = messages[event_type]["bindings"]["kafka"]["key"]
        assert key["pattern"] == r"^[A-Z0-9]{3,10}$"  # v1.1: keyed by org_id
    assert "Key = the UTF-8 org_id alone" in document["info"]["description"]
    for operation in document["operations"].values():
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        assert channel in channels


def test_asyncapi_payloads_resolve_and_the_alert_schema_has_its_status() -> None:
    document = asyncapi_document(Settings.model_construct())
    schemas = document["components"]["schemas"]
    for message in document["components"]["messages"].values():
        assert message["payload"]["$ref"].removeprefix("#/components/schemas/") in schemas
    alert = schemas["Alert"]
    assert set(alert["required"]) == set(alert["properties"])
    assert schemas["AlertStatus"]["enum"] == ["open", "resolved", "withdrawn", "dismissed"]


def test_the_dead_letter_schema_describes_the_envelope_the_worker_writes() -> None:
    rejection = decode(b'{"schema_version": 2}')
    assert isinstance(rejection, Rejection)
    envelope = dead_letter_envelope(RejectedMessage(rejection, "quality.fall/3@17"))
    schema = asyncapi_document(Settings.model_construct())["components"]["schemas"]["DeadLetter"]
    assert set(envelope) == set(schema["properties"]) == set(schema["required"])
    assert is_valid(envelope, schema)


def test_yaml_is_written_in_block_style_with_json_scalars() -> None:
    document = {
        "asyncapi": "3.0.0",
        "a key": [{"$ref": "#/x", "n": 2}, "text: with colon", None, True],
        "empty": {},
        "nested": {"list": [], "deeper": {"x": 1.5}},
    }
    assert to_yaml(document) == (
        'asyncapi: "3.0.0"\n'
        '"a key":\n'
        '  - "$ref": "#/x"\n'
        "    n: 2\n"
        '  - "text: with colon"\n'
        "  - null\n"
        "  - true\n"
        "empty: {}\n"
        "nested:\n"
        "  list: []\n"
        "  deeper:\n"
        "    x: 1.5\n"
    )
