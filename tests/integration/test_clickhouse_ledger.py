"""The engine's small state beyond the windows on the real ClickHouse engine (embedded chDB):
the response ledger, the revisions in force and the judgement marks (migration 0071), and the
copy of storage written before that migration (and before 0480 and 0700, the ledger's due
dates and owners)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.core.aggregates import UnitWindowState
from pipeline.core.engine import Engine, EngineConfig, RestoredState
from pipeline.core.judgements import window_digest
from tests.support.events import feedback, incident, metric, raw, response

RECEIVED = datetime.now(UTC)
START = datetime(2024, 3, 4, tzinfo=UTC)
EVERYONE = lambda org: True  # noqa: E731


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseSink]:
    path = tmp_path_factory.mktemp("chdb")
    opened = ClickHouseSink(f"chdb://{path}", "ledger_tests", "week")
    yield opened
    opened.close()


def fresh(sink: ClickHouseSink, name: str) -> ClickHouseSink:
    sink.database = name
    sink.migrate()
    return sink


def history() -> list[dict[str, object]]:
    def at(days: float) -> str:
        return (START + timedelta(days=days)).isoformat()

    return [
        *(feedback(occurred_at=at(7 * w + 0.1), rating=1 + w % 5) for w in range(8)),
        incident(occurred_at=at(1), report_ref="R-1", harm="severe"),
        incident(occurred_at=at(15), report_ref="R-1", revision=3, harm="none", unit_id="AMU"),
        incident(occurred_at=at(8), report_ref="R-1", revision=2, harm="low"),  # superseded
        response(alert_id="no-such-alert", occurred_at=at(20), due_by=at(30)),
        response(alert_id="no-such-alert", occurred_at=at(21), owner="matron"),
    ]


def _restore(sink: ClickHouseSink, engine: Engine) -> RestoredState:
    records = sink.window_records(EVERYONE)
    assert records is not None
    return RestoredState(
        records,
        [],
        sink.latest_event(EVERYONE),
        sink.latest_alerts(),
        set(),
        sink.responses(EVERYONE),
        judged=sink.judged_marks(EVERYONE),
    )


def test_ledger_revisions_and_marks_round_trip_and_a_restore_judges_nothing(
    sink: ClickHouseSink,
) -> None:
    fresh(sink, "round_trip")
    engine = Engine(EngineConfig(), b"k" * 16)
    result = engine.process(raw(*history()), RECEIVED)
    assert result.judged and len(result.responses) == 2
    sink.write(result, RECEIVED, token="t")
    by_event = lambda r: r.event_id  # noqa: E731
    assert sorted(sink.responses(EVERYONE), key=by_event) == sorted(result.responses, key=by_event)
    assert {r.due_by for r in result.responses} == {None, START + timedelta(days=30)}
    assert {r.owner for r in result.responses} == {"", "matron"}
    in_force = {r.revision.revision: r for r in sink.revisions_of({("RXA", "R-1")})}
    assert sink.revisions_of({("RXA", "R-2"), ("RJ1", "R-1")}) == []
    assert {n: r.revision for n, r in in_force.items()} == {
        r.revision.revision: r.revision for r in result.revisions
    }
    assert [m.digest for m in sink.judged_marks(EVERYONE)] == [m.digest for m in result.judged]

    again = Engine(EngineConfig(), b"k" * 16)
    restored = again.restore_state(_restore(sink, engine), RECEIVED)
    assert restored.alerts == [] and restored.judged == [], "nothing to judge again"
    assert again.closed_series() == engine.closed_series()
    assert again.unmatched_responses() == engine.unmatched_responses()


def test_each_window_comes_back_with_the_digest_of_what_a_restore_rebuilds(
    sink: ClickHouseSink,
) -> None:
    """The stored digests stand for the restored windows (targets recomputed from the reports
    in force included), so a restore may compare marks with them; a row written before 0350
    has none (the restore computes it)."""
    fresh(sink, "digests")
    engine = Engine(EngineConfig(), b"k" * 16)
    targets = [metric(occurred_at=(START + timedelta(days=d)).isoformat()) for d in (2, 30)]
    result = engine.process(raw(*history(), *targets), RECEIVED)
    sink.write(result, RECEIVED, token="t")
    records = sink.window_records(EVERYONE)
    assert records and any(r.reports for r in records)
    for record in records:
        rebuilt = UnitWindowState.restored(record.aggregate, record.reports).snapshot()
        assert rebuilt.targets or not record.reports
        assert record.digest == window_digest(rebuilt)
    assert len({r.digest for r in records}) == len(records)

    sink.command(
        f"ALTER TABLE {sink.database}.unit_windows UPDATE digest = '' WHERE 1 "
        "SETTINGS mutations_sync = 1"
    )
    assert [r.digest for r in sink.window_records(EVERYONE) or []] == [None] * len(records)


def test_storage_written_before_the_migration_is_copied_in(sink: ClickHouseSink) -> None:
    fresh(sink, "backfill")
    engine = Engine(EngineConfig(), b"k" * 16)
    result = engine.process(raw(*history()), RECEIVED)
    sink.write(result, RECEIVED, token="t")
    expected_responses = sink.responses(EVERYONE)
    expected_latest = sink.latest_event(EVERYONE)
    for table in ("response_ledger", "incident_revisions", "judgements", "org_progress"):
        sink.command(f"DROP TABLE backfill.{table}")
    sink.command("ALTER TABLE backfill.schema_migrations DELETE WHERE version IN (71, 480, 700)")
    sink.command("OPTIMIZE TABLE backfill.schema_migrations FINAL")
    assert sink.migrate() == [
        "0071_ledger_and_judgements",
        "0480_response_ledger_due_by",
        "0700_response_ledger_owner",
    ]

    by_event = lambda r: r.event_id  # noqa: E731
    assert any(r.due_by for r in expected_responses), "the due date copied in by 0480"
    assert any(r.owner for r in expected_responses), "the owner copied in by 0700"
    assert sorted(sink.responses(EVERYONE), key=by_event) == sorted(
        expected_responses, key=by_event
    )
    assert sink.latest_event(EVERYONE) == expected_latest is not None
    assert len(sink.revisions_of({("RXA", "R-1")})) == 3, "every revision, in any order"
    again = Engine(EngineConfig(), b"k" * 16)
    again.restore_state(_restore(sink, engine), RECEIVED)
    assert again.closed_series() == engine.closed_series()
    later = incident(
        occurred_at=(START + timedelta(days=16)).isoformat(), report_ref="R-1", revision=4
    )
    a = engine.process(raw(later), RECEIVED)
    b = again.process(raw(later), RECEIVED, revisions_of=sink.revisions_of)
    assert [w.incidents_by_harm for w in a.windows] == [w.incidents_by_harm for w in b.windows]
    assert len(b.windows) == 2, "revision 3 retracted from AMU, revision 4 counted in ED"
