"""The sink's second and third ClickHouse clients on one chDB path: look-ups on a client of
their own while another thread inserts, and inserts into different tables at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.core.decode import RawMessage
from pipeline.core.engine import BatchResult, Engine, EngineConfig
from pipeline.core.stored import EVENT_TABLES, StoredEvent
from pipeline.errors import SinkError, SinkRejected, SinkUnavailable
from pipeline.simulation import SimulationConfig, simulate_trust

NOW = datetime(2024, 6, 1, tzinfo=UTC)
RECEIVED = datetime.now(UTC)  # retention counts from when a row was stored


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseSink]:
    path = tmp_path_factory.mktemp("chdb")  # one chDB path per process: always closed
    opened = ClickHouseSink(f"chdb://{path}", "concurrent_tests", "week")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def result() -> BatchResult:
    """A judged batch: events, a rejection, board and target rows, bright spots, verdicts,
    alerts."""
    trust = simulate_trust(SimulationConfig(orgs=1, units_per_org=3, weeks=30, seed=7))
    messages = [
        RawMessage(json.dumps(event).encode(), f"t/0@{number}")
        for number, event in enumerate(trust.events)
    ]
    batch = Engine(EngineConfig(), b"k" * 32).process([*messages, RawMessage(b"no", "t/0@x")], NOW)
    assert batch.rejected and batch.board and batch.targets and batch.bright_spots
    assert batch.verdicts
    assert batch.alerts and len(batch.accepted) > 10_000
    return batch


def fresh(sink: ClickHouseSink, name: str) -> ClickHouseSink:
    sink.database = name
    sink.migrate()
    return sink


def counts(sink: ClickHouseSink, tables: list[str]) -> dict[str, int]:
    return {
        table: int(sink.query_dicts(f"SELECT count() AS n FROM {sink.database}.{table}")[0]["n"])
        for table in tables
    }


def test_look_ups_on_their_own_client_see_every_insert_while_another_thread_inserts(
    sink: ClickHouseSink, result: BatchResult
) -> None:
    fresh(sink, "look_ups")
    half = len(result.accepted) // 2
    sink.write_events(result.accepted[:half], "first")
    stored = {s.event.event_id for s in result.accepted[:half]}
    later = {s.event.event_id for s in result.accepted[half:]}
    answers: list[set[UUID]] = []
    failures: list[BaseException] = []

    def insert_the_rest() -> None:
        try:
            for number in range(half, len(result.accepted), 500):
                sink.write_events(result.accepted[number : number + 500], f"rest-{number}")
        except BaseException as exc:  # reported below
            failures.append(exc)

    inserting = threading.Thread(target=insert_the_rest)
    inserting.start()
    while inserting.is_alive():
        answers.append(sink.known_event_ids(stored | later))
    inserting.join()
    assert not failures
    assert answers, "looked up while the other thread inserted"
    # Every answer holds what was stored before, never an id that was not stored yet at the
    # end, and what the inserts added by then: no empty or partial answer from the handle.
    assert all(stored <= answer <= stored | later for answer in answers)
    assert sink.known_event_ids(stored | later) == stored | later
    assert sink._lookup_client is not None and sink._lookup_client is not sink._client


def record_inserts(
    sink: ClickHouseSink, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, bytes, str]]:
    """(table, body, token) of every insert the sink sends from now on, from any thread."""
    sent: list[tuple[str, bytes, str]] = []
    lock = threading.Lock()
    send = sink._insert_body

    def recording(table: str, names: list[str], body: bytes, token: str) -> None:
        with lock:
            sent.append((table, body, token))
        send(table, names, body, token)

    monkeypatch.setattr(sink, "_insert_body", recording)
    return sent


OUTCOMES = [
    "rejected_events",
    "mdc_summary",
    "mdc_targets",
    "bright_spots",
    "verdicts",
    "alerts",
    "alert_history",
]


def test_outcomes_inserted_at_once_are_byte_identical_on_a_retry_and_stored_once(
    sink: ClickHouseSink, result: BatchResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh(sink, "together")
    sent = record_inserts(sink, monkeypatch)

    def write() -> None:
        sink.write_outcomes(
            result.rejected,
            result.alerts,
            RECEIVED,
            "t/0/1-9",
            board=result.board,
            targets=result.targets,
            bright=result.bright_spots,
            verdicts=result.verdicts,
        )

    write()
    first = sorted(sent)
    assert sorted(table for table, _, _ in first) == sorted(OUTCOMES)
    stored = counts(sink, OUTCOMES)
    sent.clear()
    write()  # the retry of the same batch
    assert sorted(sent) == first  # the same bodies under the same tokens
    assert counts(sink, OUTCOMES) == stored
    assert stored["alerts"] == len(result.alerts) and stored["verdicts"] == len(result.verdicts)
    assert stored["mdc_targets"] == len(result.targets)


def test_a_failure_in_one_insert_at_once_is_raised_after_the_others_and_a_retry_completes(
    sink: ClickHouseSink, result: BatchResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh(sink, "together_failing")
    send = sink._insert_body
    failing = {"verdicts"}

    def flaky(table: str, names: list[str], body: bytes, token: str) -> None:
        if table in failing:
            raise SinkUnavailable(f"insert into {table}: unavailable (test)")
        send(table, names, body, token)

    monkeypatch.setattr(sink, "_insert_body", flaky)
    tables = ["rejected_events", "mdc_summary", "bright_spots", "verdicts"]

    def write() -> None:
        sink.write_outcomes(
            result.rejected,
            [],
            RECEIVED,
            "tok",
            board=result.board,
            bright=result.bright_spots,
            verdicts=result.verdicts,
        )

    with pytest.raises(SinkUnavailable, match="verdicts"):
        write()
    partial = counts(sink, tables)
    assert partial["verdicts"] == 0 and partial["mdc_summary"] == len(result.board)
    failing.clear()
    write()
    assert counts(sink, tables) == {
        "rejected_events": len(result.rejected),
        "mdc_summary": len(result.board),
        "bright_spots": len(result.bright_spots),
        "verdicts": len(result.verdicts),
    }


EVENTS = [*EVENT_TABLES.values()]
EVENTS_AND_PERIODS = [*EVENTS, "period_events"]


def by_table(result: BatchResult) -> list[list[StoredEvent]]:
    groups: dict[type, list[StoredEvent]] = {}
    for stored in result.accepted:
        groups.setdefault(type(stored.event), []).append(stored)
    return list(groups.values())


def test_event_tables_written_side_by_side_send_what_one_at_a_time_sends_and_once(
    sink: ClickHouseSink, result: BatchResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = by_table(result)
    assert len(groups) >= 3
    sent = record_inserts(sink, monkeypatch)
    fresh(sink, "events_one_at_a_time")
    for group in groups:
        sink.write_events(group, "t/0/1-9")
    alone = sorted(sent)
    sent.clear()
    fresh(sink, "events_side_by_side")
    assert sink.write_events_each(groups, "t/0/1-9") == [None] * len(groups)
    assert sorted(sent) == alone  # the same bodies under the same tokens
    stored = counts(sink, EVENTS_AND_PERIODS)
    sent.clear()
    assert sink.write_events_each(groups, "t/0/1-9") == [None] * len(groups)  # a retry
    assert sorted(sent) == alone
    assert counts(sink, EVENTS_AND_PERIODS) == stored
    assert sum(stored[t] for t in EVENTS) == len(result.accepted)


def test_a_refused_event_table_is_reported_and_the_others_stored_an_outage_raised(
    sink: ClickHouseSink, result: BatchResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = by_table(result)
    fresh(sink, "events_refused")
    send = sink._insert_body
    faults: dict[str, type[SinkError]] = {"incident_reports": SinkRejected}

    def faulty(table: str, names: list[str], body: bytes, token: str) -> None:
        if table in faults:
            raise faults[table](f"insert into {table}: (test)")
        send(table, names, body, token)

    monkeypatch.setattr(sink, "_insert_body", faulty)
    outcomes = sink.write_events_each(groups, "tok")
    refused = [type(g[0].event).__name__ for g, o in zip(groups, outcomes, strict=True) if o]
    assert refused == ["IncidentReport"]
    stored = counts(sink, EVENTS_AND_PERIODS)
    assert stored["incident_reports"] == 0
    assert sum(stored[t] for t in EVENTS) == sum(
        len(g) for g, o in zip(groups, outcomes, strict=True) if o is None
    )
    faults.clear()
    faults["target_metrics"] = SinkUnavailable
    with pytest.raises(SinkUnavailable, match="target_metrics"):
        sink.write_events_each(groups, "tok")
    assert counts(sink, EVENTS_AND_PERIODS)["incident_reports"] > 0  # the others went on
    faults.clear()
    assert sink.write_events_each(groups, "tok") == [None] * len(groups)
    after = counts(sink, EVENTS_AND_PERIODS)
    assert sum(after[t] for t in EVENTS) == len(result.accepted)
    assert after["patient_feedback"] == stored["patient_feedback"]  # stored once
