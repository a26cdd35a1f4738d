"""Values as the ClickHouse driver returns them, made into what the report's records hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def evidence_dict(value: Any) -> dict[str, Any]:
    """The stored evidence JSON as a dict (anything else is kept under `value`)."""
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if isinstance(value, str | bytes) else value
    except ValueError:
        return {"value": str(value)}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def as_utc(value: Any) -> datetime:
    """A timestamp from the driver as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)
