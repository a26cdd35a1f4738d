"""Valid example events of each type, as JSON-ready dicts, for tests to start from and break."""

from __future__ import annotations

import json
from typing import Any

from pipeline.core.events import EventType

EVENT_ID = "0b6f5a1e-3c1d-4c59-a7d4-9d1c1a1b2c3d"
VALID_NHS_NUMBER = "9434765919"
INVALID_NHS_NUMBER = "9434765918"  # the check digit is wrong

_COMMON: dict[str, Any] = {
    "schema_version": 1,
    "event_id": EVENT_ID,
    "org_id": "RX1",
    "unit_id": "ward-7",
    "occurred_at": "2024-03-04T10:15:00Z",
    "source": "datix",
}
_SPECIFIC: dict[EventType, dict[str, Any]] = {
    EventType.INCIDENT_REPORT: {
        "category": "fall",
        "harm": "low",
        "reporter_role": "staff nurse",
        "description": "Patient found on the floor beside the bed; no injury.",
        "patient_ref": "MRN-0042",
    },
    EventType.TARGET_METRIC: {
        "metric": "ae_4h",
        "period_start": "2024-03-04T00:00:00+00:00",
        "period_end": "2024-03-11T00:00:00+00:00",
        "numerator": 930,
        "denominator": 1000,
        "target": 0.95,
        "higher_is_better": True,
    },
    EventType.PATIENT_FEEDBACK: {
        "rating": 4,
        "channel": "sms",
        "comment": "Waited hours, nobody explained anything.",
        "themes": ["waiting", "communication"],
    },
    EventType.ALERT_RESPONSE: {
        "alert_id": "tar-0123456789abcdef0123",
        "response": "investigating",
        "responder_role": "matron",
        "note": "Reviewing rota for the weekend.",
    },
}


def valid_event(event_type: EventType | str, /, **changes: Any) -> dict[str, Any]:
    """A valid event of `event_type` with `changes` applied (a value of `...` removes a field)."""
    kind = EventType(event_type)
    event = {**_COMMON, "event_type": kind.value, **_SPECIFIC[kind]}
    for name, value in changes.items():
        if value is ...:
            event.pop(name, None)
        else:
            event[name] = value
    return event


def as_line(event: dict[str, Any]) -> bytes:
    """`event` as one JSON Lines line's bytes (UTF-8, no newline)."""
    return json.dumps(event, ensure_ascii=False).encode()
