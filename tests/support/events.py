"""Builders for contract events in tests: valid by default, any field overridable."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pipeline.core.decode import RawMessage

_COMMON: dict[str, Any] = {
    "schema_version": 1,
    "org_id": "RXA",
    "unit_id": "ED",
    "occurred_at": "2024-03-05T10:00:00+00:00",
    "source": "test",
}


def _event(event_type: str, fields: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    event = {**_COMMON, "event_type": event_type, "event_id": str(uuid.uuid4()), **fields}
    event.update(overrides)
    return event


def feedback(**overrides: Any) -> dict[str, Any]:
    return _event("patient_feedback", {"rating": 1}, overrides)


def incident(**overrides: Any) -> dict[str, Any]:
    return _event("incident_report", {"category": "fall", "harm": "low"}, overrides)


def metric(**overrides: Any) -> dict[str, Any]:
    fields = {
        "metric": "ae_4h",
        "period_start": "2024-03-01T00:00:00+00:00",
        "period_end": "2024-04-01T00:00:00+00:00",
        "numerator": 950,
        "denominator": 1000,
        "target": 0.95,
    }
    return _event("target_metric", fields, overrides)


def response(**overrides: Any) -> dict[str, Any]:
    return _event("alert_response", {"alert_id": "tar-0", "response": "acknowledged"}, overrides)


def raw(*events: dict[str, Any]) -> list[RawMessage]:
    return [RawMessage(json.dumps(e).encode(), f"test:{i}") for i, e in enumerate(events, 1)]
