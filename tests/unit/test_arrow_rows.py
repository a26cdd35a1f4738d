"""Insert bodies: ClickHouse types to Arrow, event columns, byte-identical retries (no chDB)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pyarrow as pa
import pytest

from pipeline.adapters.clickhouse.arrow import (
    arrow_batch,
    arrow_body,
    arrow_type,
    columns_of,
    latest_per_key,
    row_count,
)
from pipeline.adapters.clickhouse.rows import event_columns
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.events import IncidentReport, PatientFeedback, TargetMetric
from pipeline.core.stored import EVENT_TABLES, StoredEvent
from pipeline.errors import ConfigError, SinkRejected
from tests.support.event_examples import VALID_NHS_NUMBER
from tests.support.events import feedback, incident, metric, raw, response

NOW = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("clickhouse", "expected"),
    [
        ("UUID", pa.string()),
        ("LowCardinality(String)", pa.string()),
        ("LowCardinality(Nullable(String))", pa.string()),
        ("Array(LowCardinality(String))", pa.list_(pa.string())),
        ("Array(UInt32)", pa.list_(pa.uint32())),
        ("Nullable(Float64)", pa.float64()),
        ("Nullable(UInt8)", pa.uint8()),
        ("UInt64", pa.uint64()),
        ("DateTime64(6, 'UTC')", pa.timestamp("us", tz="UTC")),
        ("Nullable(DateTime64(6, 'UTC'))", pa.timestamp("us", tz="UTC")),
        ("DateTime('UTC')", pa.timestamp("us", tz="UTC")),
        ("DateTime", pa.timestamp("us", tz="UTC")),
    ],
)
def test_clickhouse_types_have_their_arrow_form(clickhouse: str, expected: pa.DataType) -> None:
    assert arrow_type(clickhouse) == expected


def test_a_type_without_an_arrow_form_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="Map"):
        arrow_type("Map(String, UInt64)")
    with pytest.raises(ConfigError, match="no column 'nope'"):
        arrow_batch({"nope": [1]}, {"n": "UInt8"})


TYPES = {
    "id": "UUID",
    "at": "DateTime64(6, 'UTC')",
    "maybe": "Nullable(DateTime64(6, 'UTC'))",
    "name": "LowCardinality(String)",
    "counts": "Array(UInt32)",
    "share": "Nullable(Float64)",
}


def _columns(ids: list[UUID]) -> dict[str, list[Any]]:
    plus_one = timezone(timedelta(hours=1))
    return {
        "id": ids,
        "at": [datetime(2024, 3, 1, 0, 30, tzinfo=plus_one), datetime(2024, 3, 1, 1, 0)],
        "maybe": [None, datetime(2024, 3, 2, tzinfo=UTC)],
        "name": ["a", "b"],
        "counts": [(1, 0, 0, 0, 0, 0), [0, 2]],
        "share": [None, 0.25],
    }


def test_values_keep_their_meaning_in_the_body() -> None:
    ids = [uuid4(), uuid4()]
    body = arrow_body(arrow_batch(_columns(ids), TYPES))
    table = pa.ipc.open_stream(io.BytesIO(body)).read_all()
    assert table.column_names == list(TYPES)
    assert [UUID(i) for i in table.column("id").to_pylist()] == ids
    at = table.column("at").to_pylist()  # aware: to UTC; naive: taken as UTC
    assert at == [datetime(2024, 2, 29, 23, 30, tzinfo=UTC), datetime(2024, 3, 1, 1, tzinfo=UTC)]
    assert table.column("maybe").to_pylist()[0] is None
    assert table.column("counts").to_pylist() == [[1, 0, 0, 0, 0, 0], [0, 2]]
    assert table.column("share").to_pylist() == [None, 0.25]


def test_a_retried_body_is_byte_identical_and_another_batch_differs() -> None:
    ids = [uuid4(), uuid4()]
    first = arrow_body(arrow_batch(_columns(ids), TYPES))
    assert arrow_body(arrow_batch(_columns([UUID(str(i)) for i in ids]), TYPES)) == first
    assert arrow_body(arrow_batch(_columns([*ids[:1], uuid4()]), TYPES)) != first


def test_a_value_that_does_not_fit_is_refused_without_showing_it() -> None:
    with pytest.raises(SinkRejected) as refused:
        arrow_batch({"n": [f"patient {VALID_NHS_NUMBER}"]}, {"n": "UInt32"})
    assert "column n" in str(refused.value) and VALID_NHS_NUMBER not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    with pytest.raises(SinkRejected, match="UInt16"):
        arrow_batch({"n": [70_000]}, {"n": "UInt16"})


def test_rows_become_columns() -> None:
    rows = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert columns_of(rows) == {"a": [1, 2], "b": ["x", "y"]}
    assert columns_of([]) == {} and row_count({}) == 0 and row_count(columns_of(rows)) == 2


def _stored(*events: dict[str, Any]) -> list[StoredEvent]:
    result = Engine(EngineConfig(), b"k" * 32).process(raw(*events), NOW)
    assert not result.rejected
    return result.accepted


def _counts_form(**overrides: Any) -> dict[str, Any]:
    batch = feedback(
        period_start="2024-03-01T00:00:00Z",
        period_end="2024-04-01T00:00:00+01:00",
        counts={"1": 5, "6": 2},
        **overrides,
    )
    del batch["rating"]
    return batch


def _value_form() -> dict[str, Any]:
    value = metric(metric="amb_c2_mean", value=27.5, unit="minutes", higher_is_better=False)
    del value["numerator"], value["denominator"]
    return value


def _by_attribute(stored: StoredEvent) -> dict[str, Any]:
    """What each column must hold for one event, read attribute by attribute."""
    e = stored.event
    row: dict[str, Any] = {
        "event_id": e.event_id,
        "org_id": e.org_id,
        "unit_id": e.unit_id,
        "occurred_at": e.occurred_at,
        "source": e.source,
        "late": int(stored.late),
        "origin": stored.origin,
        "payload": stored.payload,
    }
    if isinstance(e, TargetMetric):
        return row | {
            "metric": e.metric,
            "period_start": e.period_start,
            "period_end": e.period_end,
            "numerator": e.numerator or 0,
            "denominator": e.denominator or 0,
            "value": e.value,
            "unit": e.unit or "",
            "target": e.target,
            "higher_is_better": int(e.higher_is_better),
        }
    row |= {
        "free_text_chars": stored.free_text_chars,
        "nhs_numbers_redacted": stored.nhs_numbers_redacted,
        "other_identifiers_redacted": stored.other_identifiers_redacted,
    }
    if isinstance(e, PatientFeedback):
        return row | {
            "rating": e.rating or 0,
            "period_start": e.period_start,
            "period_end": e.period_end,
            "counts": e.rating_counts,
            "responses": sum(e.rating_counts),
            "channel": e.channel or "",
            "comment_redacted": e.comment or "",
            "themes": list(e.themes or ()),
        }
    if isinstance(e, IncidentReport):
        return row | {
            "category": e.category,
            "harm": e.harm,
            "reporter_role": e.reporter_role or "",
            "patient_pseudonym": e.patient_ref or "",
            "description_redacted": e.description or "",
            "report_ref": e.report_ref or "",
            "revision": e.revision,
        }
    return row | {
        "alert_id": e.alert_id,
        "response": e.response,
        "responder_role": e.responder_role or "",
        "note_redacted": e.note or "",
        "owner": e.owner or "",
        "due_by": e.due_by,
    }


@pytest.mark.parametrize(
    "events",
    [
        [feedback(rating=r) for r in range(1, 7)]
        + [
            _counts_form(),
            feedback(rating=2, channel="web", comment=f"nurse {VALID_NHS_NUMBER}"),
            feedback(rating=5, themes=["staff_attitude", "waiting_time"]),
        ],
        [
            incident(),
            incident(description="slipped", patient_ref="MRN1", reporter_role="nurse"),
            incident(report_ref="R-1", revision=3, harm="severe"),
        ],
        [metric(), _value_form()],
        [response(), response(note="called back", owner="matron", due_by="2024-05-01T09:00:00Z")],
    ],
    ids=["feedback", "incidents", "metrics", "responses"],
)
def test_event_columns_hold_what_each_event_says(events: list[dict[str, Any]]) -> None:
    stored = _stored(*events)
    table, columns = event_columns(stored)
    assert table == EVENT_TABLES[stored[0].event.event_type]
    expected = [_by_attribute(s) for s in stored]
    assert list(columns) == list(expected[0])
    for name, values in columns.items():
        assert [list(v) if isinstance(v, tuple) else v for v in values] == [
            list(row[name]) if isinstance(row[name], tuple) else row[name] for row in expected
        ], name


def test_event_columns_take_one_type_at_a_time() -> None:
    with pytest.raises(TypeError, match="one type"):
        event_columns(_stored(feedback(), incident()))


def test_latest_per_key_gives_each_key_its_latest_moment_and_that_rows_tag() -> None:
    at = [NOW + timedelta(hours=h) for h in (3, 1, 6, 0, 5, 2, 4, 6)]
    keys = pa.array(["b", "a", "b", "c", "a", "b", "a", "b"], pa.string())
    moments = pa.array(at, pa.timestamp("us", tz="UTC"))
    tags = pa.array([f"t/{i}@0" for i in range(len(at))], pa.string())

    assert latest_per_key(keys, moments, tags) == [
        ("a", at[4], "t/4@0"),
        ("b", at[2], "t/2@0"),  # b's latest twice (rows 2 and 7): the first
        ("c", at[3], "t/3@0"),
    ]
    two = [a.slice(0, 2) for a in (keys, moments, tags)]
    assert latest_per_key(*two) == [("a", at[1], "t/1@0"), ("b", at[0], "t/0@0")]
    assert latest_per_key(*[a.slice(0, 0) for a in (keys, moments, tags)]) == []
