"""Harm and reporting are judged only once an organisation's incident reports have arrived
(pipeline/core/arrivals.py): topics published one after another raise no silence to withdraw,
and a feed that stopped is still told."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.core.alerts import Alert, AlertKind, AlertStatus
from pipeline.core.arrivals import ReportArrivals
from pipeline.core.engine import Engine, EngineConfig, RawMessage, WindowRecord
from pipeline.core.engine_state import RestoredState
from pipeline.core.windows import Watermark, Window, WindowKind
from pipeline.simulation.family import FamilyConfig
from pipeline.simulation.family_events import simulate_family

KEY = b"unit-test-key-0123456789"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
MONDAY = datetime(2024, 3, 4, tzinfo=UTC)
Event = Mapping[str, Any]


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(simulate_family(FamilyConfig(seed=9, orgs=2, weeks=44, regraded=0.0)).events)


class Run:
    """Events through one engine in batches, judged after each; every alert version kept."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or Engine(EngineConfig(), KEY)
        self.versions: list[Alert] = []
        self.records: dict[tuple[str, str, Window], WindowRecord] = {}

    def feed(self, events: Sequence[Event], batch: int = 1000) -> Run:
        lines = [json.dumps(event).encode() for event in events]
        for first in range(0, len(lines), batch):
            chunk = lines[first : first + batch]
            messages = [RawMessage(line, f"t:{first + i}") for i, line in enumerate(chunk)]
            result = self.engine.process(messages, NOW)
            self.versions += result.alerts
            for record in result.window_state:
                agg = record.aggregate
                self.records[agg.org_id, agg.unit_id, agg.window] = record
        return self

    def finish(self) -> Run:
        self.versions += self.engine.finish(NOW).alerts
        return self

    def silences_withdrawn(self) -> list[Alert]:
        return [
            a
            for a in self.versions
            if a.kind is AlertKind.REPORTING_SILENCE and a.status is AlertStatus.WITHDRAWN
        ]


def _final(engine: Engine) -> list[tuple[Any, ...]]:
    return sorted(
        (a.alert_id, a.status, a.window_start, a.window_end, a.severity, a.summary)
        for a in engine.alerts
    )


def _topic_by_topic(events: Sequence[Event]) -> tuple[list[Event], list[Event]]:
    """Every feedback response and target metric, then the incident reports (as kcat
    publishing one topic after another delivers them)."""
    incidents = [e for e in events if e["event_type"] == "incident_report"]
    return [e for e in events if e["event_type"] != "incident_report"], incidents


def test_incident_reports_published_last_raise_no_silence_to_withdraw(
    events: list[Event],
) -> None:
    interleaved = Run().feed(events).finish()
    others, incidents = _topic_by_topic(events)
    topics = Run().feed(others).feed(incidents).finish()
    assert topics.silences_withdrawn() == []
    assert not [a for a in topics.versions if a.status is AlertStatus.WITHDRAWN]
    assert any(a.kind is AlertKind.REPORTING_SILENCE for a in interleaved.engine.alerts)
    assert _final(topics.engine) == _final(interleaved.engine)
    assert topics.engine.closed_series() == interleaved.engine.closed_series()


def test_a_restart_restores_how_far_the_reports_had_arrived(events: list[Event]) -> None:
    """Restored from the windows alone: a restart half-way through judges the rest as the run
    without it does (an engine restored with no arrivals would judge every closed window's
    harm and reporting at once, the latest ones before their reports)."""
    half = len(events) // 2
    before = Run().feed(events[:half])
    latest = max(datetime.fromisoformat(e["occurred_at"]) for e in events[:half])
    again = Engine(EngineConfig(), KEY)
    restored = RestoredState(list(before.records.values()), (), latest, before.engine.alerts)
    after = Run(again)
    after.versions += again.restore_state(restored, NOW).alerts
    assert again._arrivals.reached == before.engine._arrivals.reached
    after.feed(events[half:]).finish()
    assert before.silences_withdrawn() == [] and after.silences_withdrawn() == []
    assert _final(again) == _final(Run().feed(events).finish().engine)


def test_an_incident_feed_that_stopped_is_told_before_the_input_ends(
    events: list[Event],
) -> None:
    """One organisation's incident system goes down for its last ten weeks while its feedback
    and activity go on: its units' silences are raised while the stream runs (once the
    watermark is two weeks past the feed), not held until the input ends."""
    org = sorted({e["org_id"] for e in events})[0]
    down = max(datetime.fromisoformat(e["occurred_at"]) for e in events) - timedelta(weeks=10)

    def kept(event: Event) -> bool:
        return not (
            event["event_type"] == "incident_report"
            and event["org_id"] == org
            and datetime.fromisoformat(event["occurred_at"]) >= down
        )

    run = Run().feed([e for e in events if kept(e)], batch=500)
    told = {
        a.unit_id
        for a in run.versions
        if a.kind is AlertKind.REPORTING_SILENCE and a.org_id == org and a.window_end > down
    }
    assert len(told) >= 3, told


def _week(n: int) -> Window:
    start = MONDAY + timedelta(weeks=n)
    return Window(start, start + timedelta(weeks=1))


def test_the_gate_follows_the_reports_and_lifts_once_the_feed_stalls() -> None:
    arrivals = ReportArrivals(WindowKind.WEEK)
    watermark = Watermark(timedelta(days=7))
    watermark.observe(_week(10).start)
    assert arrivals.until("RXA", watermark) is None  # no incident feed yet: nothing to wait for
    arrivals.note("RXA", _week(4), watermark.value)
    assert arrivals.until("RXA", watermark) == _week(3).start  # reports passed weeks 0 to 2
    watermark.observe(_week(11).start)
    assert arrivals.until("RXA", watermark) == _week(3).start  # catching up: held
    arrivals.note("RXA", _week(5), watermark.value)
    watermark.observe(_week(13).start)
    assert arrivals.until("RXA", watermark) == _week(4).start  # two weeks since the advance
    watermark.observe(_week(13).start + timedelta(seconds=1))
    assert arrivals.until("RXA", watermark) is None  # stalled: told on the watermark
    arrivals.note("RXA", _week(12), watermark.value)
    assert arrivals.until("RXA", watermark) == _week(11).start  # resumed: held at its arrival
    arrivals.note("RXA", _week(13), watermark.value)
    assert arrivals.until("RXA", watermark) == _week(12).start  # every closed week passed
    watermark.finish()
    assert arrivals.until("RXA", watermark) is None


def test_after_a_restore_only_the_lag_counts() -> None:
    """When a feed last advanced is not stored: one more than two weeks behind is stalled, as
    the run before the restart judged a feed that had stopped."""
    arrivals = ReportArrivals(WindowKind.WEEK)
    watermark = Watermark(timedelta(days=7))
    watermark.observe(_week(10).start)
    arrivals.restore("RXA", _week(8))
    arrivals.restore("RXB", _week(5))
    assert arrivals.until("RXA", watermark) == _week(7).start
    assert arrivals.until("RXB", watermark) is None  # three weeks behind: stalled
    arrivals.note("RXB", _week(6), watermark.value)
    assert arrivals.until("RXB", watermark) == _week(5).start  # advancing again: held
