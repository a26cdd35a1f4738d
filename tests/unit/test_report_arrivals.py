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
from pipeline.core.board_row import BoardRow
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
        self.board: list[BoardRow] = []

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
        result = self.engine.finish(NOW)
        self.versions += result.alerts
        self.board = result.board
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
    assert again._arrivals.reports == before.engine._arrivals.reports
    assert again._arrivals.latest == before.engine._arrivals.latest
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


def test_the_final_judgement_does_not_depend_on_the_order_or_the_batches(
    events: list[Event],
) -> None:
    """Without an end of input (a worker's stream): interleaved, topic by topic, in small or
    large batches, one organisation alone or with another, the standing alerts once every
    event is in and judged are the same. Whether a window's harm and reporting are judged is
    decided by its organisation's own windows, never by the watermark or the arrival order."""
    org = sorted({e["org_id"] for e in events})[0]
    down = max(datetime.fromisoformat(e["occurred_at"]) for e in events) - timedelta(weeks=10)
    # the first organisation's incident feed stops: the stall bound decides its last weeks
    kept = [
        e
        for e in events
        if not (
            e["event_type"] == "incident_report"
            and e["org_id"] == org
            and datetime.fromisoformat(e["occurred_at"]) >= down
        )
    ]
    others, incidents = _topic_by_topic(kept)

    def standing(run: Run, of: str | None = None) -> list[tuple[Any, ...]]:
        run.versions += run.engine.judge_pending(NOW).alerts
        return [a for a in _final(run.engine) if a[1] is not AlertStatus.WITHDRAWN
                and (of is None or a[0] in {x.alert_id for x in run.engine.alerts
                                             if x.org_id == of})]  # fmt: skip

    expected = standing(Run().feed(kept, batch=700))
    assert any(a[0].startswith("rep-") for a in expected)
    assert standing(Run().feed(kept, batch=5000)) == expected
    assert standing(Run().feed(others, batch=3000).feed(incidents, batch=400)) == expected
    alone = Run().feed([e for e in kept if e["org_id"] == org], batch=900)
    assert standing(alone, org) == standing(Run().feed(kept, batch=900), org)


def _week(n: int) -> Window:
    start = MONDAY + timedelta(weeks=n)
    return Window(start, start + timedelta(weeks=1))


def test_the_gate_follows_the_reports_and_the_stall_bound_the_other_sources() -> None:
    arrivals = ReportArrivals(WindowKind.WEEK)
    watermark = Watermark(timedelta(days=7))
    watermark.observe(_week(10).start)
    arrivals.note("RXA", _week(9), holds_reports=False, reported=True)
    assert arrivals.cover("RXA", watermark) is None  # no incident feed yet: nothing to wait for
    arrivals.note("RXA", _week(8), holds_reports=True, reported=True)
    arrivals.caught_up()
    assert arrivals.cover("RXA", watermark) == _week(7).start  # reports passed weeks 0 to 6
    arrivals.note("RXA", _week(10), holds_reports=False, reported=True)
    assert arrivals.cover("RXA", watermark) == _week(7).start  # two weeks ahead: not yet
    arrivals.note("RXA", _week(11), holds_reports=False, reported=True)
    assert arrivals.cover("RXA", watermark) == _week(8).start  # three: the stall bound
    arrivals.note("RXA", _week(12), holds_reports=True, reported=True)
    assert arrivals.cover("RXA", watermark) == _week(11).start
    watermark.finish()  # the input ended: every window up to the latest with data is judged
    assert arrivals.cover("RXA", watermark) == _week(12).end


def test_weeks_only_a_target_return_reaches_are_neither_data_nor_judged_at_the_end() -> None:
    """A monthly return reaches the last weeks of its month, past the latest feedback and
    reports at the end of an extract: they neither move the stall bound nor are judged when the
    input ends (every unit of the organisation would read as silent there)."""
    arrivals = ReportArrivals(WindowKind.WEEK)
    watermark = Watermark(timedelta(days=7))
    arrivals.note("RXA", _week(8), holds_reports=True, reported=True)
    arrivals.note("RXA", _week(9), holds_reports=False, reported=True)  # feedback only
    for week in (10, 11, 12):
        arrivals.note("RXA", _week(week), holds_reports=False, reported=False)
    assert arrivals.latest == {"RXA": _week(9)}
    assert arrivals.cover("RXA", watermark) == _week(7).start  # no stall
    watermark.finish()
    assert arrivals.cover("RXA", watermark) == _week(9).end


def test_reports_catching_up_defer_the_stall_bound_until_the_next_judgement() -> None:
    """Reports from before an organisation's stall bound came since the last judgement (its
    own, or another's: a topic catching up): judged on its reports alone this once."""
    arrivals = ReportArrivals(WindowKind.WEEK)
    watermark = Watermark(timedelta(days=7))
    arrivals.note("RXA", _week(20), holds_reports=False, reported=True)
    arrivals.note("RXB", _week(20), holds_reports=True, reported=True)
    arrivals.caught_up()
    arrivals.note("RXA", _week(3), holds_reports=True, reported=True)
    assert arrivals.cover("RXA", watermark) == _week(2).start
    assert arrivals.cover("RXA", watermark, arriving=False) == _week(17).start
    arrivals.caught_up()
    assert arrivals.cover("RXA", watermark) == _week(17).start
    arrivals.note(
        "RXB", _week(19), holds_reports=True, reported=True
    )  # recent reports do not defer it
    assert arrivals.cover("RXA", watermark) == _week(17).start


def test_a_restore_reads_the_arrivals_off_the_windows() -> None:
    arrivals = ReportArrivals(WindowKind.WEEK)
    watermark = Watermark(timedelta(days=7))
    arrivals.restore("RXA", _week(3), holds_reports=True, reported=True)
    arrivals.restore("RXA", _week(9), holds_reports=False, reported=True)
    assert arrivals.reports == {"RXA": _week(3).start}
    assert arrivals.latest == {"RXA": _week(9)}
    assert arrivals.cover("RXA", watermark) == _week(6).start  # restored: no deferral


def _returns_past_the_end(events: Sequence[Event]) -> list[Event]:
    """A monthly return per unit for the month the data ends in, reaching three weeks past
    the latest feedback and reports (an extract cut on a Sunday, returns for the month)."""
    units = sorted({(e["org_id"], e["unit_id"]) for e in events})
    return [
        {
            "schema_version": 1,
            "event_type": "target_metric",
            "event_id": f"00000000-0000-4000-8000-{n:012d}",
            "org_id": org,
            "unit_id": unit,
            "occurred_at": "2024-12-02T09:00:00+00:00",
            "source": "returns",
            "metric": "rtt_18w",
            "period_start": "2024-11-01T00:00:00+00:00",
            "period_end": "2024-12-01T00:00:00+00:00",
            "numerator": 3600,
            "denominator": 4000,
            "target": 0.92,
        }
        for n, (org, unit) in enumerate(units)
    ]


def test_weeks_only_a_monthly_return_reaches_raise_no_silence_at_the_end(
    events: list[Event],
) -> None:
    """The end of an extract: weeks past the latest feedback and reports that a monthly
    return reaches are not judged on reporting (every unit would read as silent there, now
    that a unit's reported activity alone says it is open)."""
    end = max(datetime.fromisoformat(e["occurred_at"]) for e in events)
    run = Run().feed([*events, *_returns_past_the_end(events)]).finish()
    beyond = [
        a
        for a in run.engine.alerts
        if a.kind is AlertKind.REPORTING_SILENCE and a.window_end > end + timedelta(days=1)
    ]
    assert beyond == []


def test_a_unit_silent_in_all_but_its_returns_raises_a_silence(events: list[Event]) -> None:
    """Seen in the twenty-fifth session: a unit whose feedback and incident reports both
    stopped for twelve weeks while its target returns went on raised nothing, and its board
    read "common cause" as of its last report."""
    org, unit = "RA7", "AMU"  # weekly returns throughout
    stop = max(datetime.fromisoformat(e["occurred_at"]) for e in events) - timedelta(weeks=10)

    def kept(event: Event) -> bool:
        return not (
            (event["org_id"], event["unit_id"]) == (org, unit)
            and event["event_type"] in ("patient_feedback", "incident_report")
            and datetime.fromisoformat(event["occurred_at"]) >= stop
        )

    run = Run().feed([e for e in events if kept(e)]).finish()
    silences = [
        a
        for a in run.engine.alerts
        if (a.org_id, a.unit_id, a.kind) == (org, unit, AlertKind.REPORTING_SILENCE)
        and a.window_end > stop
    ]
    assert silences and all(a.status is AlertStatus.OPEN for a in silences), silences
    assert all("no patient feedback came from it either" in a.summary for a in silences)
    rows = {(r.unit_id, r.measure): r for r in run.board if r.org_id == org}
    # its target charted on to the organisation's latest week, as its neighbours' are
    assert rows[unit, "target"].window_end == rows["renal", "target"].window_end > stop
    assert rows[unit, "safety"].variation == "special_cause_concern"
    untouched = Run().feed(events).finish()
    assert not [
        a for a in untouched.engine.alerts if "no patient feedback came from it either" in a.summary
    ]
