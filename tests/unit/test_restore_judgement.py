"""A restore judges only the organisations whose judgement may not have been stored, and an
alert version a crash left unstored is still raised after the restart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.adapters.alert_topic import KafkaRoute, Record
from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertStatus
from pipeline.core.detection import Finding
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.judgements import JudgedMark
from pipeline.runtime.routing import Routes
from pipeline.runtime.step import RetryPolicy, Step
from tests.support.events import feedback, incident, raw, response
from tests.support.memory_store import MemoryStore
from tests.unit.test_step import EveryUnitDetector

NOW = datetime(2024, 6, 1, tzinfo=UTC)
KEY = b"unit-test-key-0123456789"
START = datetime(2024, 3, 4, tzinfo=UTC)


class CountingDetector(EveryUnitDetector):
    def __init__(self) -> None:
        self.judged: list[str] = []

    def units_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        self.judged.extend(s[0].org_id for s in units.values() if s)
        return super().units_findings(units)


def build(sink: MemoryStore, detector: CountingDetector, now: datetime = NOW) -> Step:
    return Step(
        lambda: Engine(EngineConfig(), KEY, detector=detector),
        sink,
        retry=RetryPolicy(initial=0.001, maximum=0.004),
        clock=lambda: now,
    )


def weeks(org: str, count: int, first: int = 0, **fields: Any) -> list[dict[str, Any]]:
    return [
        feedback(
            org_id=org, occurred_at=(START + timedelta(weeks=w, hours=1)).isoformat(), **fields
        )
        for w in range(first, first + count)
    ]


@pytest.mark.parametrize("stored_digests", [True, False], ids=["digests stored", "computed"])
def test_a_restore_after_a_clean_stop_judges_nothing_and_raises_nothing(
    stored_digests: bool,
) -> None:
    sink = MemoryStore()
    sink.store_digests = stored_digests
    # BBB's windows all closed: the new weeks of AAA close none of BBB's
    build(sink, CountingDetector()).process(raw(*weeks("AAA", 6), *weeks("BBB", 4)), {}, "t1")
    assert set(sink.marks) == {"AAA", "BBB"}
    history = len(sink.history)

    detector = CountingDetector()
    again = build(sink, detector, NOW + timedelta(hours=1))
    result = again.restore()
    assert detector.judged == [] and result.alerts == []
    assert len(sink.history) == history
    # judged again once its windows change: a new week closes
    later = again.process(raw(*weeks("AAA", 2, first=6)), {}, "t2")
    assert set(detector.judged) == {"AAA"}
    assert [a.evidence["windows"] for a in later.alerts] == [6]


@pytest.mark.parametrize("stored_digests", [True, False], ids=["digests stored", "computed"])
def test_an_alert_whose_store_a_crash_lost_is_raised_after_the_restart(
    stored_digests: bool,
) -> None:
    sink = MemoryStore()
    sink.store_digests = stored_digests
    first = build(sink, CountingDetector())
    first.process(raw(*weeks("AAA", 4), *weeks("BBB", 2)), {}, "t1")
    stored = {a.alert_id: a for a in sink.alerts.values()}
    sink.crash_before_outcomes = True  # windows and events stored, alerts not
    with pytest.raises(KeyboardInterrupt):
        first.process(raw(*weeks("AAA", 2, first=4)), {}, "t2")
    sink.crash_before_outcomes = False
    assert {a.alert_id: a for a in sink.alerts.values()} == stored

    detector = CountingDetector()
    again = build(sink, detector, NOW + timedelta(hours=1))
    result = again.restore()
    assert set(detector.judged) == {"AAA"}, "only the organisation whose alerts were lost"
    (raised,) = result.alerts
    assert raised.org_id == "AAA" and raised.evidence["windows"] == 4
    assert sink.alerts[raised.alert_id] == raised
    assert again.restore().alerts == [], "and once stored, not again"


def test_a_dismissal_a_crash_left_unstored_is_raised_after_the_restart() -> None:
    sink = MemoryStore()
    first = build(sink, CountingDetector())
    first.process(raw(*weeks("AAA", 4)), {}, "t1")
    (alert,) = sink.alerts.values()
    answer = response(
        org_id="AAA", unit_id="ED", alert_id=alert.alert_id, response="false_positive"
    )
    sink.crash_before_outcomes = True
    with pytest.raises(KeyboardInterrupt):
        first.process(raw(answer), {}, "t2")
    sink.crash_before_outcomes = False

    again = build(sink, CountingDetector(), NOW + timedelta(hours=1))
    (dismissed,) = again.restore().alerts
    assert dismissed.alert_id == alert.alert_id and dismissed.status is AlertStatus.DISMISSED
    assert sink.alerts[alert.alert_id].status is AlertStatus.DISMISSED
    assert again.process(raw(answer), {}, "t3").duplicates == 1


def test_a_mark_from_another_configuration_or_stale_content_means_judging_again() -> None:
    sink = MemoryStore()
    build(sink, CountingDetector()).process(raw(*weeks("AAA", 4)), {}, "t1")
    mark = sink.marks["AAA"]
    sink.marks["AAA"] = JudgedMark("AAA", mark.mark, "0" * 32, mark.judged_at)
    detector = CountingDetector()
    assert build(sink, detector).restore().alerts == []
    assert detector.judged == ["AAA"], "judged, and nothing new to raise"

    sink.marks.clear()  # storage written before marks were stored
    detector = CountingDetector()
    build(sink, detector).restore()
    assert detector.judged == ["AAA"]


def test_a_restore_compares_marks_with_the_window_digests_as_stored() -> None:
    sink = MemoryStore()
    build(sink, CountingDetector()).process(raw(*weeks("AAA", 4), *weeks("BBB", 4)), {}, "t1")
    key = next(k for k, r in sink.windows.items() if k[0] == "AAA")
    assert sink.windows[key].digest is not None
    sink.windows[key] = replace(sink.windows[key], digest=bytes(16))  # not what was judged
    detector = CountingDetector()
    build(sink, detector).restore()
    assert detector.judged == ["AAA"], "the stored digests are read, not rebuilt"


def test_a_mark_before_the_restored_watermark_means_judging_what_closed_since() -> None:
    sink = MemoryStore()
    first = build(sink, CountingDetector())
    first.process(raw(*weeks("AAA", 4)), {}, "t1")
    mark = sink.marks["AAA"]
    assert mark.mark is not None
    # the mark of an earlier judgement: a window the restored watermark closes was not judged
    sink.marks["AAA"] = JudgedMark(
        "AAA", mark.mark - timedelta(weeks=1), mark.digest, mark.judged_at
    )
    detector = CountingDetector()
    build(sink, detector).restore()
    assert detector.judged == ["AAA"]


def test_responses_are_restored_and_revisions_looked_up_from_their_small_rows() -> None:
    sink = MemoryStore()
    first = build(sink, CountingDetector())
    at = (START + timedelta(days=1)).isoformat()
    first.process(
        raw(
            *weeks("AAA", 4),
            incident(org_id="AAA", occurred_at=at, report_ref="R-1", harm="severe"),
            response(org_id="AAA", unit_id="ED", alert_id="nothing-raised"),
        ),
        {},
        "t1",
    )
    assert [r.revision.revision for r in sink.in_force.values()] == [1]
    assert len(sink.ledger) == 1
    again = build(sink, CountingDetector())
    again.restore()
    assert [r.alert_id for r in again.engine.unmatched_responses()] == ["nothing-raised"]
    later = (START + timedelta(weeks=2, hours=2)).isoformat()
    revised = incident(org_id="AAA", occurred_at=later, report_ref="R-1", revision=2, harm="none")
    again.process(raw(revised, *weeks("AAA", 1, first=5)), {}, "t2")
    harm = {w.window.start: w.incidents for w in again.engine.closed_series()[("AAA", "ED")]}
    assert harm[START] == 0, "revision 1 retracted from its week"
    assert harm[START + timedelta(weeks=2)] == 1 and sum(harm.values()) == 1
    assert sink.revision_lookups == [1, 1], "the report's revisions read when one arrived"
    third = incident(org_id="AAA", occurred_at=later, report_ref="R-1", revision=3)
    again.process(raw(third), {}, "t3")
    assert sink.revision_lookups == [1, 1], "and held from then on"


def test_organisations_restored_as_they_arrive_are_not_judged_again_nor_those_held() -> None:
    sink = MemoryStore()
    aaa, bbb = weeks("AAA", 4), weeks("BBB", 4)
    build(sink, CountingDetector()).process(raw(*aaa, *bbb), {}, "t1")
    detector = CountingDetector()
    worker = build(sink, detector, NOW + timedelta(hours=1))
    worker.reset(ask_every_new_id=True)  # as after a rebalance: restored when they arrive
    assert worker.process(raw(aaa[-1]), {}, "t2").duplicates == 1
    assert worker.process(raw(bbb[-1]), {}, "t3").duplicates == 1
    assert detector.judged == []
    assert {org for org, _ in worker.engine.closed_series()} == {"AAA", "BBB"}


def test_alerts_leave_as_soon_as_stored_and_a_crash_after_that_raises_nothing_twice() -> None:
    """Alert versions and dead letters are routed right after their rows (and the events')
    are stored, before the windows without ids, the board rows, verdicts and marks; a crash
    there leaves the version stored and published once: the restart judges that
    organisation again (its mark is missing) and raises nothing new."""
    order: list[str] = []

    class Recording(MemoryStore):
        crash_before_marks = False

        def write_events(self, accepted: Any, token: str) -> None:
            order.append("events")
            super().write_events(accepted, token)

        def write_outcomes(self, rejected: Any, alerts: Any, *args: Any, **kw: Any) -> None:
            order.append("alerts" if alerts or rejected else "verdicts")
            super().write_outcomes(rejected, alerts, *args, **kw)

        def write_judged(self, marks: Any, token: str) -> None:
            if self.crash_before_marks:
                raise KeyboardInterrupt("the process died here")
            order.append("marks")
            super().write_judged(marks, token)

    class Topic:
        def __init__(self) -> None:
            self.sent: list[Record] = []

        def send(self, records: Sequence[Record]) -> None:
            order.append("published")
            self.sent.extend(records)

    def with_topic(sink: MemoryStore, topic: Topic, detector: CountingDetector) -> Step:
        route = KafkaRoute(topic.send, alerts_topic="q.alerts", dead_letter_topic="q.dead")
        return Step(
            lambda: Engine(EngineConfig(), KEY, detector=detector),
            sink,
            routes=Routes(route),
            retry=RetryPolicy(initial=0.001, maximum=0.004),
            clock=lambda: NOW,
        )

    sink, topic = Recording(), Topic()
    first = with_topic(sink, topic, CountingDetector())
    first.process(raw(*weeks("AAA", 4)), {}, "t1")
    assert order == ["events", "alerts", "published", "verdicts", "marks"]
    assert sink.verdicts, "the verdicts are still stored"
    before = dict(sink.marks)

    order.clear()
    sink.crash_before_marks = True
    with pytest.raises(KeyboardInterrupt):
        first.process(raw(*weeks("AAA", 2, first=4)), {}, "t2")
    sink.crash_before_marks = False
    assert order == ["events", "alerts", "published", "verdicts"]
    assert sink.marks == before, "the crash came before the marks"
    published = [r.value for r in topic.sent]
    assert len(published) == 2 and sink.undelivered("kafka") == []

    detector = CountingDetector()
    again = with_topic(sink, topic, detector)
    assert again.restore().alerts == [], "the stored version is not raised again"
    assert detector.judged == ["AAA"], "judged again: its mark was missing"
    assert [r.value for r in topic.sent] == published, "and not published again"
