"""Rows and columns for the ClickHouse tables (the sink sends them as Arrow, arrow.py).

Events, by far the most numerous rows, are built as columns (`event_columns`); the other
tables' few rows as mappings. Values keep their Python types (datetimes, UUIDs, enum members);
the insert body is typed by the table's ClickHouse columns. Everything here is a deterministic
function of the batch, so a retried insert is byte-identical.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import Alert
from pipeline.core.engine import RejectedMessage
from pipeline.core.events import (
    AlertResponse,
    EventType,
    IncidentReport,
    PatientFeedback,
    TargetMetric,
)
from pipeline.core.judgements import window_digest
from pipeline.core.stored import EVENT_TABLES, StoredEvent
from pipeline.core.verdict_book import VerdictRow

RAW_PREVIEW_BYTES = 1000


_COMMON = ("event_id", "org_id", "unit_id", "occurred_at", "source")
_STORED = attrgetter(
    "event",
    "late",
    "origin",
    "payload",
    "free_text_chars",
    "nhs_numbers_redacted",
    "other_identifiers_redacted",
)
_FIELDS: dict[type, tuple[str, ...]] = {
    TargetMetric: (
        "metric",
        "period_start",
        "period_end",
        "numerator",
        "denominator",
        "value",
        "unit",
        "target",
        "higher_is_better",
    ),
    PatientFeedback: (
        "rating",
        "period_start",
        "period_end",
        "counts",
        "channel",
        "comment",
        "themes",
    ),
    IncidentReport: (
        "category",
        "harm",
        "reporter_role",
        "patient_ref",
        "description",
        "report_ref",
        "revision",
    ),
    AlertResponse: ("alert_id", "response", "responder_role", "note", "owner", "due_by"),
}
# pydantic keeps a model's fields in its `__dict__`: one C call reads them all
_GETTERS = {kind: itemgetter(*_COMMON, *fields) for kind, fields in _FIELDS.items()}
_TABLES: dict[type, str] = {
    TargetMetric: EVENT_TABLES[EventType.TARGET_METRIC],
    PatientFeedback: EVENT_TABLES[EventType.PATIENT_FEEDBACK],
    IncidentReport: EVENT_TABLES[EventType.INCIDENT_REPORT],
    AlertResponse: EVENT_TABLES[EventType.ALERT_RESPONSE],
}
_ONE_RESPONSE = {
    rating: tuple(1 if r == rating else 0 for r in range(1, 7)) for rating in range(1, 7)
}


def event_columns(stored: Sequence[StoredEvent]) -> tuple[str, dict[str, list[Any]]]:
    """The table and columns of accepted events, all of one type (at least one).

    This runs for every event, so each object is read once (one C call for a stored event's
    attributes, one for its event's fields) and the tuples transposed into columns: a pass
    per column would read every event object again. Enum members go in as they are (`str`).
    """
    events, late, origin, payload, free_text, nhs_numbers, other_identifiers = map(
        list, zip(*map(_STORED, stored), strict=True)
    )
    kind = type(events[0])
    try:
        fields = zip(*map(_GETTERS[kind], map(vars, events)), strict=True)
    except KeyError:  # a field this type does not have: another type's event
        raise TypeError("event_columns takes events of one type") from None
    values = dict(zip((*_COMMON, *_FIELDS[kind]), map(list, fields), strict=True))
    columns: dict[str, list[Any]] = {name: values[name] for name in _COMMON}
    columns |= {"late": [1 if x else 0 for x in late], "origin": origin, "payload": payload}
    if kind is TargetMetric:
        return _TABLES[kind], columns | {
            "metric": values["metric"],
            "period_start": values["period_start"],
            "period_end": values["period_end"],
            "numerator": _or(values["numerator"], 0),
            "denominator": _or(values["denominator"], 0),
            "value": values["value"],
            "unit": _or(values["unit"], ""),
            "target": values["target"],
            "higher_is_better": [1 if x else 0 for x in values["higher_is_better"]],
        }
    columns |= {
        "free_text_chars": free_text,
        "nhs_numbers_redacted": nhs_numbers,
        "other_identifiers_redacted": other_identifiers,
    }
    if kind is PatientFeedback:
        counts = [
            _ONE_RESPONSE[rating or 6] if by_rating is None else _rating_counts(by_rating)
            for rating, by_rating in zip(values["rating"], values["counts"], strict=True)
        ]
        return _TABLES[kind], columns | {
            "rating": _or(values["rating"], 0),
            "period_start": values["period_start"],
            "period_end": values["period_end"],
            "counts": counts,
            "responses": [sum(c) for c in counts],
            "channel": _or(values["channel"], ""),
            "comment_redacted": _or(values["comment"], ""),
            "themes": _or(values["themes"], ()),
        }
    if kind is IncidentReport:
        return _TABLES[kind], columns | {
            "category": values["category"],
            "harm": values["harm"],
            "reporter_role": _or(values["reporter_role"], ""),
            "patient_pseudonym": _or(values["patient_ref"], ""),
            "description_redacted": _or(values["description"], ""),
            "report_ref": _or(values["report_ref"], ""),
            "revision": values["revision"],
        }
    return _TABLES[kind], columns | {
        "alert_id": values["alert_id"],
        "response": values["response"],
        "responder_role": _or(values["responder_role"], ""),
        "note_redacted": _or(values["note"], ""),
        "owner": _or(values["owner"], ""),
        "due_by": values["due_by"],
    }


def _or(values: list[Any], default: Any) -> list[Any]:
    """`values` with None (an absent optional field) replaced by the column's `default`."""
    return [default if v is None else v for v in values]


def _rating_counts(counts: dict[str, int]) -> tuple[int, ...]:
    """Responses per rating 1..6 of the counts form (as `PatientFeedback.rating_counts`)."""
    return tuple(counts.get(key, 0) for key in "123456")


def rejection_row(message: RejectedMessage, received_at: datetime) -> dict[str, Any]:
    r = message.rejection
    return {
        "rejection_id": message.rejection_id,
        "reason": r.reason.value,
        "field": r.field,
        "detail": r.detail,
        # base64 keeps every byte as it came (JSON text cannot carry arbitrary bytes); the
        # preview is for people reading the table.
        "raw_base64": base64.b64encode(r.raw).decode("ascii"),
        "raw_preview": r.raw[:RAW_PREVIEW_BYTES].decode("utf-8", errors="replace"),
        "origin": message.origin,
        "received_at": received_at,
    }


def window_row(agg: UnitWindowAggregate, window_kind: str) -> dict[str, Any]:
    return {
        "org_id": agg.org_id,
        "unit_id": agg.unit_id,
        "window_kind": window_kind,
        "window_start": agg.window.start,
        "window_end": agg.window.end,
        "fft_counts": list(agg.fft_counts),
        "fft_responses": agg.fft_responses,
        "fft_positive": agg.fft_positive,
        "fft_negative": agg.fft_negative,
        "positive_share": agg.positive_share,
        "negative_share": agg.negative_share,
        "incidents_by_harm": list(agg.incidents_by_harm),
        "incidents_by_category": list(agg.incidents_by_category),
        "incidents": agg.incidents,
        "harmful_incidents": agg.harmful_incidents,
        "harm_weighted": agg.harm_weighted,
        "activity": agg.activity,
        "harm_weighted_rate": agg.harm_weighted_rate,
        "targets_met": None if agg.targets_met is None else int(agg.targets_met),
        "target_metrics": [t.metric for t in agg.targets],
        "target_attainment": [t.attainment for t in agg.targets],
        "target_values": [t.target for t in agg.targets],
        "target_numerators": [t.numerator for t in agg.targets],
        "target_denominators": [t.denominator for t in agg.targets],
        "target_units": [t.unit for t in agg.targets],
        "target_higher_is_better": [int(t.higher_is_better) for t in agg.targets],
        "target_met": [int(t.met) for t in agg.targets],
        "target_distances": [t.distance for t in agg.targets],
        "contributions": agg.contributions,
        "theme_names": [name for name, _ in agg.themes],
        "theme_counts": [count for _, count in agg.themes],
        "digest": window_digest(agg).hex(),
    }


def verdict_row(row: VerdictRow, window_kind: str) -> dict[str, Any]:
    v = row.verdict
    return {
        "org_id": v.org_id,
        "unit_id": v.unit_id,
        "window_kind": window_kind,
        "measure": v.measure,
        "window_start": v.window.start,
        "window_end": v.window.end,
        "value": v.value,
        "count": v.count,
        "size": v.size,
        "centre": v.centre,
        "lower_limit": v.lower_limit,
        "upper_limit": v.upper_limit,
        "z": v.z,
        "rule": v.rule,
        "detector": v.detector,
        "verdict": v.verdict.value,
        "chart": v.chart.value,
        "higher_is_better": int(v.higher_is_better),
        "version": row.version,
    }


def alert_row(alert: Alert) -> dict[str, Any]:
    row = alert.model_dump()
    row["evidence"] = json.dumps(alert.evidence, sort_keys=True)
    return row


def utc(moment: datetime) -> datetime:
    """ClickHouse hands back naive UTC datetimes (or aware ones, by driver): make them aware."""
    if moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def alert_from_row(row: dict[str, Any]) -> Alert:
    """An alert as stored, with aware timestamps: a naive one would never equal the engine's,
    so a restored alert would look new and be raised again."""
    alert = Alert.model_validate({**row, "evidence": json.loads(row["evidence"])})
    return alert.model_copy(
        update={
            "window_start": utc(alert.window_start),
            "window_end": utc(alert.window_end),
            "detected_at": utc(alert.detected_at),
        }
    )
