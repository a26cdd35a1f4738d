"""The sink on the real ClickHouse engine (embedded chDB): migrations, idempotency, stats."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink, Migration, load_migrations
from pipeline.adapters.clickhouse.arrow import arrow_type
from pipeline.adapters.clickhouse.schema import load_baseline
from pipeline.core.alerts import Alert, AlertKind, Severity
from pipeline.core.decode import RawMessage
from pipeline.core.engine import BatchResult, Engine, EngineConfig
from pipeline.errors import ConfigError, SinkError
from tests.support.events import feedback, incident, metric, raw, response

NOW = datetime(2024, 6, 1, tzinfo=UTC)
# Retention counts from when a row was stored, so storage times are real ones.
RECEIVED = datetime.now(UTC)


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseSink]:
    # One chDB path per process: the whole module shares it, each test uses its own database.
    path = tmp_path_factory.mktemp("chdb")
    opened = ClickHouseSink(f"chdb://{path}", "sink_tests", "week")
    yield opened
    opened.close()


def fresh(sink: ClickHouseSink, name: str) -> ClickHouseSink:
    sink.database = name
    sink.migrate()
    return sink


def test_migrations_apply_once_and_in_order(sink: ClickHouseSink) -> None:
    fresh(sink, "migrations")
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(versions)
    assert sink.migrate() == []  # nothing left to apply
    tables = {r["name"] for r in sink.query_dicts("SHOW TABLES FROM migrations")}
    assert {"patient_feedback", "unit_windows", "alerts", "rejected_events"} <= tables


def _commands_of_migrate(sink: ClickHouseSink, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements (scripts) `sink.migrate()` sends, as they are sent."""
    sent: list[str] = []
    command = ClickHouseSink._command

    def recorded(self: ClickHouseSink, sql: str) -> None:
        sent.append(sql)
        command(self, sql)

    monkeypatch.setattr(ClickHouseSink, "_command", recorded)
    sink.migrate()
    monkeypatch.undo()
    return sent


def _schema(sink: ClickHouseSink, database: str) -> dict[str, Any]:
    tables = sink.query_dicts(
        "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
        {"db": database},
    )
    return {
        "tables": {
            t["name"]: sink.query_dicts(f"SHOW CREATE TABLE {database}.{t['name']}")[0][
                "statement"
            ].replace(f"{database}.", "{db}.")
            for t in tables
        },
        "ledger": sink.query_dicts(
            f"SELECT version, name FROM {database}.schema_migrations ORDER BY version"
        ),
    }


def test_a_new_embedded_database_is_made_by_the_baseline_as_the_migrations_make_it(
    sink: ClickHouseSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink.database = "by_baseline"
    sent = _commands_of_migrate(sink, monkeypatch)
    sink.database = "by_migrations"
    named = sink.migrate(load_migrations())  # the migrations given: one by one

    baseline = load_baseline()
    assert baseline is not None
    later = [m for m in load_migrations() if m.version > baseline.version]
    # the database, the ledger, one script for the baseline, then one per later migration
    assert len(sent) == 3 + len(later)
    assert _schema(sink, "by_baseline") == _schema(sink, "by_migrations")
    assert named == [m.name for m in load_migrations()]
    sink.database = "by_baseline"
    assert sink.migrate() == []


def test_a_database_holding_tables_is_migrated_one_by_one(
    sink: ClickHouseSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink.command("CREATE DATABASE IF NOT EXISTS cut_short")
    first = load_migrations()[0]
    sink.command(first.statements[0].replace("{db}", "cut_short"))  # its ledger row never made
    sink.database = "cut_short"

    sent = _commands_of_migrate(sink, monkeypatch)

    assert len(sent) == 2 + len(load_migrations())
    sink.database = "by_migrations_too"
    sink.migrate(load_migrations())
    assert _schema(sink, "cut_short") == _schema(sink, "by_migrations_too")


def test_a_migration_that_fails_midway_is_not_recorded(sink: ClickHouseSink) -> None:
    fresh(sink, "migrations_midway")
    table = "CREATE TABLE {db}.%s (v UInt8) ENGINE = MergeTree ORDER BY v"
    good = Migration(9001, "9001_good", (table % "a", table % "b"))
    bad = Migration(9002, "9002_bad", (table % "c", "ALTER TABLE {db}.nope ADD COLUMN w UInt8"))
    after = Migration(9003, "9003_after", (table % "d",))

    with pytest.raises(SinkError, match="nope"):
        sink.migrate([good, bad, after])

    tables = {r["name"] for r in sink.query_dicts("SHOW TABLES FROM migrations_midway")}
    assert {"a", "b", "c"} <= tables and "d" not in tables
    recorded = {
        r["version"]
        for r in sink.query_dicts("SELECT version FROM migrations_midway.schema_migrations")
    }
    assert 9001 in recorded and 9002 not in recorded


def test_a_batch_written_twice_is_stored_once(sink: ClickHouseSink) -> None:
    fresh(sink, "twice")
    engine = Engine(EngineConfig(), b"k" * 32)
    batch = [
        *raw(
            feedback(rating=1),
            incident(description="patient 943 476 5919 fell", patient_ref="MRN123"),
            metric(),
            response(note="seen"),
        ),
        RawMessage(b"{not json", "test:bad"),
    ]
    result = engine.process(batch, NOW)
    sink.write(result, RECEIVED, token="t")
    sink.write(result, RECEIVED, token="t")
    stats = sink.stats()
    assert stats == {
        "events": {
            "incident_report": 1,
            "target_metric": 1,
            "patient_feedback": 1,
            "alert_response": 1,
        },
        "rejected": 1,
        "alerts": 0,
        "alerts_by_status": {"open": 0, "resolved": 0, "withdrawn": 0, "dismissed": 0},
        "unmatched_responses": 1,  # the response names `tar-0`, an alert never raised
    }
    rows = sink.query_dicts("SELECT count() AS n FROM twice.patient_feedback")
    assert rows[0]["n"] == 1  # the token stopped the second insert, not only the merge


def test_personal_data_never_reaches_storage(sink: ClickHouseSink) -> None:
    fresh(sink, "privacy")
    engine = Engine(EngineConfig(), b"k" * 32)
    result = engine.process(
        raw(incident(description="NHS no 943 476 5919, ring 07700 900123", patient_ref="MRN123")),
        NOW,
    )
    sink.write(result, RECEIVED)
    dump = json.dumps(sink.query_dicts("SELECT * FROM privacy.incident_reports"), default=str)
    assert "9434765919" not in dump and "943 476 5919" not in dump
    assert "MRN123" not in dump
    assert "[NHS-NUMBER]" in dump


def test_stored_payloads_rebuild_an_engine_to_the_same_state(sink: ClickHouseSink) -> None:
    fresh(sink, "restore")
    first = Engine(EngineConfig(), b"k" * 32)
    events = [feedback(rating=r) for r in (1, 2, 5)] + [metric()]
    sink.write(first.process(raw(*events), NOW), RECEIVED)
    second = Engine(EngineConfig(), b"k" * 32)
    restored = second.restore(sink.stored_payloads(), sink.latest_alerts(), NOW)
    assert restored.read == 4
    again = second.process(raw(*events), NOW)
    assert again.duplicates == 4 and not again.accepted


def test_rejected_bytes_are_kept_exactly_but_for_nhs_numbers(sink: ClickHouseSink) -> None:
    fresh(sink, "rejected")
    engine = Engine(EngineConfig(), b"k" * 32)
    bad = b'\xff\x00{"note": "9434765919"}'
    sink.write(engine.process([RawMessage(bad, "f:1")], NOW), RECEIVED)
    (row,) = sink.query_dicts("SELECT reason, raw_base64 FROM rejected.rejected_events")
    assert row["reason"] == "not_utf8"
    assert base64.b64decode(row["raw_base64"]) == b'\xff\x00{"note": "[NHS-NUMBER]"}'


def test_an_alert_reads_back_equal_to_the_one_written(sink: ClickHouseSink) -> None:
    fresh(sink, "alerts_roundtrip")
    alert = Alert(
        alert_id="tar-1",
        kind=AlertKind.TARGET_EXPERIENCE_DIVERGENCE,
        org_id="RXA",
        unit_id="ED",
        window_start=datetime(2024, 3, 4, tzinfo=UTC),
        window_end=datetime(2024, 3, 11, tzinfo=UTC),
        severity=Severity.HIGH,
        summary="ED met its target while patients rated it worse.",
        evidence={"method": "test", "n": 40},
        detected_at=datetime(2024, 3, 19, 8, 30, 0, 123456, tzinfo=UTC),
    )
    sink.write(BatchResult(alerts=[alert]), RECEIVED)
    # Equal, timestamps included: a restored engine must not take it for a new finding.
    assert sink.latest_alerts() == [alert]


def test_the_small_state_round_trips_and_answers_restore_queries(sink: ClickHouseSink) -> None:
    from uuid import UUID

    from pipeline.core.engine import RestoredState

    fresh(sink, "small_state")
    engine = Engine(EngineConfig(), b"k" * 16)
    events = [
        feedback(occurred_at="2024-03-04T10:00:00+00:00", rating=5),
        feedback(occurred_at="2024-03-20T10:00:00+00:00", org_id="RJ1"),
        metric(),
        incident(occurred_at="2024-03-21T10:00:00+00:00"),
        # counts-form batches: one sent before `since` for a period ending after it, one whose
        # time and period both come after it (to be found once, not twice)
        feedback(
            occurred_at="2024-03-01T09:00:00+00:00",
            period_start="2024-03-11T00:00:00Z",
            period_end="2024-03-25T00:00:00Z",
            counts={"1": 2, "5": 3},
        ),
        feedback(
            occurred_at="2024-03-19T09:00:00+00:00",
            period_start="2024-03-18T00:00:00Z",
            period_end="2024-03-19T00:00:00Z",
            counts={"2": 1},
        ),
    ]
    for batch in events[4:]:
        del batch["rating"]
    result = engine.process(raw(*events), RECEIVED)
    sink.write(result, RECEIVED, token="t")
    everyone = lambda org: True  # noqa: E731
    records = sink.window_records(everyone)
    assert records is not None
    stored = {(r.aggregate.org_id, r.aggregate.window.start): r for r in records}
    for record in result.window_state:
        again = stored[(record.aggregate.org_id, record.aggregate.window.start)]
        assert again.reports == record.reports
        assert again.aggregate.fft_counts == record.aggregate.fft_counts
        assert again.applied == (), "the ids are cleared once the events are stored"
    latest = sink.latest_event(everyone)
    assert latest == datetime(2024, 3, 21, 10, tzinfo=UTC)
    assert sink.latest_event(lambda org: org == "RJ1") == datetime(2024, 3, 20, 10, tzinfo=UTC)
    since = datetime(2024, 3, 18, tzinfo=UTC)
    found = [r.event_id for r in sink.recent_events(since, everyone)]
    ids = [UUID(e["event_id"]) for e in events]
    assert sorted(found) == sorted([ids[1], ids[2], ids[3], ids[4], ids[5]]), (
        "the metric's and the first batch's periods end after `since`; each event once"
    )
    unknown = UUID(int=12345)
    assert sink.known_event_ids([ids[0], unknown]) == {ids[0]}

    restored = Engine(EngineConfig(), b"k" * 16)
    restored.restore_state(
        RestoredState(records, sink.recent_events(since, everyone), latest), RECEIVED
    )
    assert restored.closed_series() == engine.closed_series()


def _feedback_batch_and_a_later_event() -> list[dict[str, object]]:
    """A counts-form batch sent before the restore's horizon for a period ending after it
    (found only through `period_events`), and a later event that moves the watermark."""
    batch = feedback(
        occurred_at="2024-03-01T09:00:00+00:00",
        period_start="2024-03-11T00:00:00Z",
        period_end="2024-05-25T00:00:00Z",
        counts={"1": 2, "4": 1},
    )
    del batch["rating"]
    return [batch, feedback(occurred_at="2024-05-20T10:00:00+00:00", rating=5)]


def test_a_restore_finds_feedback_batches_by_period_and_leaves_out_unstored_ones(
    sink: ClickHouseSink,
) -> None:
    from uuid import UUID

    from pipeline.adapters.clickhouse import arrow
    from pipeline.adapters.clickhouse.rows import event_columns
    from pipeline.runtime.step import Step

    events = _feedback_batch_and_a_later_event()
    batch_id = UUID(str(events[0]["event_id"]))
    result = Engine(EngineConfig(), b"k" * 16).process(raw(*events), RECEIVED)
    # As a crash after the windows and the period rows, before the events, leaves storage:
    fresh(sink, "periods_crash")
    sink.write_windows(result, "t", applied=True)
    table, columns = event_columns(result.accepted)
    sink._write_periods(arrow.arrow_batch(columns, sink.table_types(table)), "t")
    sink.write_progress(result.accepted, "t")
    assert sink.query_dicts("SELECT event_id FROM periods_crash.period_events") == [
        {"event_id": batch_id}
    ]
    step = Step(lambda: Engine(EngineConfig(), b"k" * 16), sink)
    step.restore()
    assert batch_id in step.engine._pending, "counted in its windows, not stored"
    assert batch_id.int not in step.engine._seen, "so it is stored when it comes again"
    # Stored whole: the batch is among the ids a restore holds, found by its period alone.
    fresh(sink, "periods_stored")
    sink.write(result, RECEIVED, token="t")
    step = Step(lambda: Engine(EngineConfig(), b"k" * 16), sink)
    step.restore()
    since = step.engine.horizon(None)
    assert since is not None and datetime(2024, 3, 1, 9, tzinfo=UTC) < since
    assert batch_id.int in step.engine._seen and not step.engine._pending


def test_the_latest_event_per_organisation_is_of_the_events_written_with_it(
    sink: ClickHouseSink,
) -> None:
    """Taken from the stored rows' Arrow columns when they are exactly the events passed;
    otherwise (an event refused and dead-lettered, another token) from the events."""
    events = [
        feedback(org_id="RXA", occurred_at="2024-03-04T10:00:00+00:00"),
        feedback(org_id="RJ1", occurred_at="2024-03-06T10:00:00+00:00"),
        incident(org_id="RXA", occurred_at="2024-03-05T10:00:00+00:00"),
        feedback(org_id="RXA", occurred_at="2024-03-09T10:00:00+00:00"),
    ]
    accepted = Engine(EngineConfig(), b"k" * 16).process(raw(*events), RECEIVED).accepted
    assert len(accepted) == 4

    def stored_after(written: list[Any], token: str) -> dict[str, datetime]:
        fresh(sink, "progress")
        sink.command("TRUNCATE TABLE progress.org_progress")
        sink.write_events(accepted, "t")
        sink.write_progress(written, token)
        rows = sink.query_dicts("SELECT org_id, latest_event FROM progress.org_progress")
        return {r["org_id"]: r["latest_event"].replace(tzinfo=UTC) for r in rows}

    def latest(written: list[Any]) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        for s in written:
            e = s.event
            found[e.org_id] = max(found.get(e.org_id, e.occurred_at), e.occurred_at)
        return found

    assert stored_after(accepted, "t") == latest(accepted)
    fewer = [s for s in accepted if s.event.occurred_at.day != 9]
    assert stored_after(fewer, "t") == latest(fewer) != latest(accepted)
    assert stored_after(accepted, "other") == latest(accepted)


def test_each_organisations_progress_records_the_partition_of_its_latest_event(
    sink: ClickHouseSink,
) -> None:
    """What a worker given a partition restores at once (`org_inputs`): the partition of each
    organisation's latest event, from the Arrow columns or the events alike; migration 0900
    fills it from the stored events' origins."""
    events = [
        feedback(org_id="RXA", occurred_at="2024-03-04T10:00:00+00:00"),
        feedback(org_id="RJ1", occurred_at="2024-03-06T10:00:00+00:00"),
        incident(org_id="RXA", occurred_at="2024-03-09T10:00:00+00:00"),
        feedback(org_id="RAJ", occurred_at="2024-03-09T10:00:00+00:00"),
    ]
    origins = ["q.feedback/3@7", "q.feedback/1@2", "q.incidents/3@9", "events.jsonl:4"]
    messages = [m._replace(origin=o) for m, o in zip(raw(*events), origins, strict=True)]
    accepted = Engine(EngineConfig(), b"k" * 16).process(messages, RECEIVED).accepted
    assert len(accepted) == 4
    expected = {"RXA": ("q.incidents", 3), "RJ1": ("q.feedback", 1)}  # RAJ: from a file
    for token in ("t", "other"):  # the events' Arrow columns; the events themselves
        fresh(sink, f"inputs_{token}")
        sink.write_events(accepted, "t")
        sink.write_progress(accepted, token)
        assert sink.org_inputs() == expected
    later = [
        feedback(org_id="RJ1", occurred_at="2024-03-10T10:00:00+00:00"),  # another partition
        feedback(org_id="RXA", occurred_at="2024-03-01T10:00:00+00:00"),  # late: not its latest
    ]
    moved = [
        m._replace(origin=f"q.feedback/{p}@1") for m, p in zip(raw(*later), (5, 0), strict=True)
    ]
    again = Engine(EngineConfig(), b"k" * 16).process(moved, RECEIVED).accepted
    sink.write_events(again, "t2")
    sink.write_progress(again, "t2")
    assert sink.org_inputs() == {**expected, "RJ1": ("q.feedback", 5)}
    # Stored before migration 0900: progress rows without a partition, which it fills.
    sink.command("TRUNCATE TABLE inputs_other.org_progress")
    sink.command(
        "INSERT INTO inputs_other.org_progress (org_id, latest_event) SELECT org_id, "
        "max(occurred_at) FROM (SELECT org_id, occurred_at FROM inputs_other.patient_feedback "
        "UNION ALL SELECT org_id, occurred_at FROM inputs_other.incident_reports) GROUP BY org_id"
    )
    assert sink.org_inputs() == {}
    sink.command("DELETE FROM inputs_other.schema_migrations WHERE version = 900")
    assert sink.migrate() == ["0900_org_progress_input_partition"]
    assert sink.org_inputs() == {**expected, "RJ1": ("q.feedback", 5)}


def test_migration_0231_fills_period_events_from_stored_feedback(sink: ClickHouseSink) -> None:
    fresh(sink, "periods_backfill")
    result = Engine(EngineConfig(), b"k" * 16).process(
        raw(*_feedback_batch_and_a_later_event()), RECEIVED
    )
    sink.write(result, RECEIVED, token="t")
    sink.command("TRUNCATE TABLE periods_backfill.period_events")
    sink.command("DELETE FROM periods_backfill.schema_migrations WHERE version = 231")
    assert sink.migrate() == ["0231_period_events"]
    rows = sink.query_dicts(
        "SELECT org_id, unit_id, occurred_at, period_end FROM periods_backfill.period_events"
    )
    assert rows == [
        {
            "org_id": "RXA",
            "unit_id": "ED",
            "occurred_at": datetime(2024, 3, 1, 9),
            "period_end": datetime(2024, 5, 25),
        }
    ]


def test_migration_0331_partitions_stored_events_by_quarter_keeping_them(
    sink: ClickHouseSink,
) -> None:
    sink.database = "by_quarter"
    assert "0331_event_partitions_by_quarter" not in sink.migrate(
        [m for m in load_migrations() if m.version != 331]  # the later ones: today's rows
    )
    months = [datetime(2023, 1 + 2 * i, 10, tzinfo=UTC).isoformat() for i in range(6)]
    events = [
        *(feedback(occurred_at=at, rating=1 + i % 5) for i, at in enumerate(months)),
        *(incident(occurred_at=at) for at in months[:3]),
        metric(),
    ]
    sink.write(Engine(EngineConfig(), b"k" * 16).process(raw(*events), RECEIVED), RECEIVED, "t")
    tables = ("patient_feedback", "incident_reports", "target_metrics")

    def stored() -> dict[str, list[dict[str, Any]]]:
        return {
            t: sink.query_dicts(f"SELECT * FROM by_quarter.{t} ORDER BY event_id") for t in tables
        }

    def partitions(table: str) -> set[str]:
        rows = sink.query_dicts(
            "SELECT DISTINCT partition FROM system.parts WHERE database = 'by_quarter' "
            "AND table = {t:String} AND active",
            {"t": table},
        )
        return {r["partition"] for r in rows}

    before = stored()
    assert len(before["patient_feedback"]) == 6 and len(partitions("patient_feedback")) == 6
    assert sink.migrate() == ["0331_event_partitions_by_quarter"]
    assert stored() == before  # every row and column kept, ingestion times too
    assert partitions("patient_feedback") == {f"2023-{m:02}-01" for m in (1, 4, 7, 10)}
    assert len(partitions("incident_reports")) == 2
    shapes = sink.query_dicts(
        "SELECT name, partition_key, create_table_query FROM system.tables "
        "WHERE database = 'by_quarter' AND name IN {t:Array(String)}",
        {"t": list(tables)},
    )
    for shape in shapes:
        assert shape["partition_key"] == "toStartOfQuarter(occurred_at)", shape["name"]
        assert "INDEX event_id_bloom" in shape["create_table_query"], shape["name"]
        assert "ttl_only_drop_parts = 1" in shape["create_table_query"], shape["name"]
    ids = {r["event_id"] for rows in before.values() for r in rows}
    assert sink.known_event_ids(ids) == ids
    # The old tables' data is gone now, not kept for minutes after the process has ended.
    dropped = sink.query_dicts(
        "SELECT table FROM system.dropped_tables WHERE database = 'by_quarter' "
        "AND endsWith(table, '_by_quarter')"
    )
    assert dropped == []
    assert sink.migrate() == []


def test_windows_stored_before_the_state_column_mean_a_payload_restore(
    sink: ClickHouseSink,
) -> None:
    fresh(sink, "legacy_state")
    result = Engine(EngineConfig(), b"k" * 16).process(raw(feedback()), RECEIVED)
    result.window_state = []  # as written before migration 0011: no state
    sink.write(result, RECEIVED, token="t")
    assert sink.window_records(lambda org: True) is None


def test_value_targets_and_feedback_batches_are_stored_with_their_verdicts(
    sink: ClickHouseSink,
) -> None:
    fresh(sink, "v11")
    value = metric(
        metric="amb_c2_mean", value=27.5, unit="minutes", target=18.0, higher_is_better=False
    )
    del value["numerator"], value["denominator"]
    batch = feedback(
        period_start="2024-03-01T00:00:00Z", period_end="2024-04-01T00:00:00Z", counts={"1": 5}
    )
    del batch["rating"]
    result = Engine(EngineConfig(), b"k" * 32).process(raw(value, metric(), batch), NOW)
    assert not result.rejected
    sink.write(result, RECEIVED, token="v11")
    (stored,) = sink.query_dicts(
        "SELECT value, unit, numerator FROM v11.target_metrics WHERE unit != ''"
    )
    assert (stored["value"], stored["unit"], stored["numerator"]) == (27.5, "minutes", 0)
    (fb,) = sink.query_dicts("SELECT rating, counts, responses FROM v11.patient_feedback")
    assert (fb["rating"], list(fb["counts"]), fb["responses"]) == (0, [5, 0, 0, 0, 0, 0], 5)
    rows = sink.query_dicts(
        "SELECT fft_responses, target_metrics, target_units, target_met, target_distances "
        "FROM v11.unit_windows FINAL ORDER BY window_start"
    )
    assert sum(r["fft_responses"] for r in rows) == 5
    week = rows[1]  # wholly inside March
    by_metric = dict(
        zip(
            week["target_metrics"],
            zip(week["target_units"], week["target_met"], week["target_distances"], strict=True),
            strict=True,
        )
    )
    assert by_metric["ae_4h"][:2] == ("", 1)
    assert by_metric["amb_c2_mean"][0] == "minutes" and by_metric["amb_c2_mean"][1] == 0
    assert by_metric["amb_c2_mean"][2] == pytest.approx(9.5)


def test_a_verdict_stored_before_a_restart_is_superseded_in_clickhouse(
    sink: ClickHouseSink,
) -> None:
    """pipeline.core.verdict_book through the step on the real engine: a week judged before a
    restart that late data leaves unjudged is withdrawn (a row with NaN figures), and what the
    views read (FINAL, withdrawn left out) is exactly the restarted engine's judgement."""
    import random
    from datetime import timedelta

    from tests.support.verdict_restart import LATE, MONDAY, activity_return, ed_week, judged, step

    store = fresh(sink, "verdict_restart")
    rng = random.Random(3)
    before = [e for w in range(20) for e in ed_week(w, rng, activity=None if w == LATE else 1000)]
    step(store).process(raw(*before), {}, "t1")
    late_week = MONDAY + timedelta(weeks=LATE)
    query = (
        "SELECT unit_id, measure, window_start, verdict, value FROM verdict_restart.verdicts "
        "FINAL WHERE verdict != 'withdrawn'"
    )

    def stored() -> dict[tuple[str, str, datetime], str]:
        return {
            (r["unit_id"], r["measure"], r["window_start"].replace(tzinfo=UTC)): r["verdict"]
            for r in store.query_dicts(query)
        }

    assert ("ED", "incident_reporting", late_week) in stored()

    restarted = step(store)
    restarted.restore()
    after = [activity_return(LATE, 100), *(e for w in range(20, 24) for e in ed_week(w, rng))]
    restarted.process(raw(*after), {}, "t2")

    latest = {(u, m, w): v.verdict.value for (_, u, m, w), v in judged(restarted.engine).items()}
    assert ("ED", "incident_reporting", late_week) not in latest
    assert stored() == latest
    (gone,) = store.query_dicts(
        "SELECT verdict, isNaN(value) AS no_figure FROM verdict_restart.verdicts FINAL "
        "WHERE measure = 'incident_reporting' AND window_start = {start:DateTime64(6, 'UTC')}",
        {"start": late_week},
    )
    assert gone == {"verdict": "withdrawn", "no_figure": 1}


def test_a_retried_arrow_insert_is_byte_identical_and_stored_once(
    sink: ClickHouseSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh(sink, "retried")
    start = datetime(1991, 1, 1, tzinfo=UTC)
    # 130 quarters of feedback: more partitions than one insert may touch, so several inserts
    months = [
        feedback(occurred_at=(start + timedelta(days=92 * q)).isoformat()) for q in range(130)
    ]
    result = Engine(EngineConfig(), b"k" * 32).process(raw(*months, incident(), metric()), NOW)
    assert not result.rejected and len(result.accepted) == 132
    sent: list[tuple[str, bytes, str]] = []
    send = sink._insert_body

    def recording(table: str, names: list[str], body: bytes, token: str) -> None:
        sent.append((table, body, token))
        send(table, names, body, token)

    monkeypatch.setattr(sink, "_insert_body", recording)
    sink.write_events(result.accepted, "topic/0/1-132")
    first = list(sent)
    assert [table for table, _, _ in first].count("patient_feedback") == 2
    assert all(body[:4] == b"\xff\xff\xff\xff" for _, body, _ in first)  # Arrow IPC stream
    sent.clear()
    sink.write_events(result.accepted, "topic/0/1-132")  # the retry of the same batch
    assert sent == first  # byte-identical, same tokens
    counts = sink.query_dicts(
        "SELECT (SELECT count() FROM retried.patient_feedback) AS feedback, "
        "(SELECT count() FROM retried.incident_reports) AS incidents, "
        "(SELECT count() FROM retried.target_metrics) AS metrics"
    )
    assert counts == [{"feedback": 130, "incidents": 1, "metrics": 1}]  # no merge needed
    stored = sink.query_dicts(
        "SELECT event_id, occurred_at FROM retried.patient_feedback ORDER BY occurred_at"
    )
    expected = [(s.event.event_id, s.event.occurred_at) for s in result.accepted[:130]]
    assert [(r["event_id"], r["occurred_at"].replace(tzinfo=UTC)) for r in stored] == expected
    # The same rows under another token (a replay) are inserted, and replaced on reading.
    sink.write_events(result.accepted, "replay")
    assert sink.stats()["events"]["patient_feedback"] == 130
    (final,) = sink.query_dicts("SELECT count() AS n FROM retried.patient_feedback FINAL")
    assert final["n"] == 130


def test_every_column_of_every_table_has_an_arrow_form(sink: ClickHouseSink) -> None:
    fresh(sink, "arrow_types")
    columns = sink.query_dicts(
        "SELECT table, name, type FROM system.columns WHERE database = 'arrow_types'"
    )
    assert len({c["table"] for c in columns}) >= 15
    for column in columns:
        arrow_type(str(column["type"]))  # raises for a type with no Arrow form


def test_an_embedded_database_path_that_is_a_file_is_a_settings_error(tmp_path: Path) -> None:
    # A traceback (FileExistsError) before: one line naming the path now, exit status 1.
    a_file = tmp_path / "clickhouse"
    a_file.write_text("")
    with pytest.raises(ConfigError, match=r"cannot use .*clickhouse for the embedded database"):
        ClickHouseSink(f"chdb://{a_file}", "quality", "week")


def test_feedback_counts_past_uint32_are_stored_and_restored_exactly(sink: ClickHouseSink) -> None:
    # The counts form carries up to 2^32 - 1 responses per rating in one event: one event's
    # total and a window's sum over two such events pass UInt32 (the window's insert was
    # refused and retried for ever, the event's row dead-lettered; migration 0360 widens them).
    fresh(sink, "wide_counts")
    most = 2**32 - 1
    batches = []
    for day in ("2024-03-04", "2024-03-05"):
        batch = feedback(
            occurred_at=f"{day}T10:00:00+00:00",
            period_start=f"{day}T00:00:00+00:00",
            period_end=f"{day}T08:00:00+00:00",
            counts={"1": most, "2": most, "4": most, "5": most},
        )
        del batch["rating"]
        batches.append(batch)
    engine = Engine(EngineConfig(), b"k" * 32)
    result = engine.process(raw(*batches), NOW)
    assert not result.rejected
    sink.write(result, RECEIVED, token="t")
    assert sink.stats()["rejected"] == 0
    (row,) = sink.query_dicts(
        "SELECT fft_counts, fft_responses, fft_positive FROM wide_counts.unit_windows FINAL"
    )
    assert row["fft_counts"] == [2 * most, 2 * most, 0, 2 * most, 2 * most, 0]
    assert (row["fft_responses"], row["fft_positive"]) == (8 * most, 4 * most)
    responses = sink.query_dicts("SELECT responses FROM wide_counts.patient_feedback")
    assert [r["responses"] for r in responses] == [4 * most, 4 * most]
    records = sink.window_records(lambda org: True)
    assert records is not None
    assert [r.aggregate.fft_counts for r in records] == [
        (2 * most, 2 * most, 0, 2 * most, 2 * most, 0)
    ]


def test_a_stored_return_beyond_the_bound_is_set_aside_at_restore_in_clickhouse(
    sink: ClickHouseSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written before the share bound (twenty-first session) holds a return of 0 of
    2^63 - 1 in a window's reports in force, as ClickHouse gives it back: judging its
    organisation failed (OverflowError) at every restart; now the report is set aside."""
    from pipeline.core.events import MAX_INT64
    from pipeline.runtime.step import Step
    from tests.unit.test_share_target_bounds import weeks_with_a_huge_return

    def step(store: ClickHouseSink) -> Step:
        return Step(lambda: Engine(EngineConfig(), b"k" * 16), store, clock=lambda: NOW)

    store = fresh(sink, "huge_return")
    lines = raw(*weeks_with_a_huge_return(0, MAX_INT64))
    with monkeypatch.context() as old_version:
        old_version.setattr("pipeline.core.events.MAX_SHARE_COUNT", MAX_INT64)
        before = step(store)
        before.restore()
        written = before.process(lines, {"t": len(lines)}, "t0")
    assert [f.error for f in written.judging_failures] == ["OverflowError"]

    restored = step(store).restore()

    assert restored.judging_failures == [] and restored.verdicts
    (aside,) = restored.set_aside
    assert "is above 1,000,000,000,000" in aside.reason
