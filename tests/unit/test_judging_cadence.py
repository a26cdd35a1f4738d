"""Judging less often in a backlog (pipeline/runtime/cadence.py): the same final alerts, later;
a batch that is not full judges at once; what a stop leaves unjudged is judged at restore."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from pipeline.core.alerts import Alert, AlertStatus
from pipeline.core.batch import BatchResult
from pipeline.core.decode import RawMessage
from pipeline.core.engine import Engine, EngineConfig
from pipeline.runtime.batch_flow import BatchFlow
from pipeline.runtime.cadence import JudgingCadence
from pipeline.runtime.step import RetryPolicy, Step
from pipeline.simulation import SimulationConfig, simulate_trust
from tests.support.events import raw, response
from tests.support.memory_store import MemoryStore
from tests.unit.test_restore_judgement import NOW, CountingDetector, weeks

KEY = b"unit-test-key-0123456789"


def test_full_batches_are_judged_once_per_every_events_and_others_always() -> None:
    cadence = JudgingCadence(full_batch=100, every=300)
    assert [cadence.due(100) for _ in range(4)] == [False, False, True, False]
    assert cadence.due(40), "not full: caught up"
    assert [cadence.due(100) for _ in range(3)] == [False, False, True]
    cadence.due(100)
    cadence.judged()
    assert [cadence.due(100) for _ in range(3)] == [False, False, True]


def test_a_batch_short_of_full_with_records_waiting_behind_it_is_a_backlog() -> None:
    waiting = [True, True, True, False]
    cadence = JudgingCadence(full_batch=100, every=150)
    cadence.backlog = lambda: waiting.pop(0)
    assert [cadence.due(60) for _ in range(4)] == [False, False, True, True]


@pytest.mark.parametrize("cadence", [JudgingCadence.every_batch(), JudgingCadence(100, 100)])
def test_every_batch_is_judged_when_every_is_at_most_a_batch(cadence: JudgingCadence) -> None:
    assert all(cadence.due(n) for n in (100, 100, 7, 100, 0))


def _final(alerts: list[Alert]) -> list[Any]:
    """The standing alerts: one raised on an early view of a window and withdrawn once late
    events came may not be raised at all when judged later (as with larger batches)."""
    return sorted(
        (a.alert_id, a.status, a.window_start, a.window_end, a.severity, a.summary, a.evidence)
        for a in alerts
        if a.status is not AlertStatus.WITHDRAWN
    )


def test_the_final_alerts_and_windows_do_not_depend_on_the_cadence() -> None:
    events = simulate_trust(SimulationConfig(seed=9, orgs=2, units_per_org=4, weeks=40)).events
    lines = [RawMessage(json.dumps(e).encode(), f"sim:{i}") for i, e in enumerate(events)]

    def run(judge_every: int) -> Engine:
        engine = Engine(EngineConfig(), KEY)
        for n, first in enumerate(range(0, len(lines), 500)):
            batch = lines[first : first + 500]
            engine.process(batch, NOW, judge=(n + 1) % judge_every == 0)
        engine.finish(NOW)
        return engine

    every, fourth, never = run(1), run(4), run(10**9)
    assert every.alerts and not every.judgement_pending and not never.judgement_pending
    assert _final(every.alerts) == _final(fourth.alerts) == _final(never.alerts)
    assert every.closed_series() == fourth.closed_series() == never.closed_series()


def build(sink: MemoryStore, detector: CountingDetector, cadence: JudgingCadence | None) -> Step:
    return Step(
        lambda: Engine(EngineConfig(), KEY, detector=detector),
        sink,
        retry=RetryPolicy(initial=0.001, maximum=0.004),
        clock=lambda: NOW,
        cadence=cadence,
    )


def test_a_backlog_raises_its_alerts_once_a_batch_is_not_full() -> None:
    sink = MemoryStore()
    detector = CountingDetector()
    step = build(sink, detector, JudgingCadence(full_batch=4, every=10**6))
    backlog = weeks("AAA", 4) + weeks("AAA", 4, first=4)
    assert step.process(raw(*backlog[:4]), {}, "t1").alerts == []
    assert step.process(raw(*backlog[4:]), {}, "t2").alerts == []
    assert detector.judged == [] and sink.marks == {} and step.engine.judgement_pending
    caught_up = step.process(raw(*weeks("AAA", 1, first=8)), {}, "t3")
    assert [a.evidence["windows"] for a in caught_up.alerts] == [7]
    assert set(sink.marks) == {"AAA"} and not step.engine.judgement_pending


def test_an_answer_in_a_backlog_is_judged_with_the_next_judgement() -> None:
    sink = MemoryStore()
    step = build(sink, CountingDetector(), JudgingCadence(full_batch=5, every=10**6))
    step.process(raw(*weeks("AAA", 4)), {}, "t1")  # not full: judged
    (alert,) = sink.alerts.values()
    answer = response(
        org_id="AAA", unit_id="ED", alert_id=alert.alert_id, response="false_positive"
    )
    assert step.process(raw(answer, *weeks("BBB", 4)), {}, "t2").alerts == []
    assert step.engine.judgement_pending
    judged = step.judge_pending()
    assert judged is not None and not step.engine.judgement_pending
    confirmed = [a for a in judged.alerts if a.alert_id == alert.alert_id]
    assert [a.status for a in confirmed] == [AlertStatus.DISMISSED]
    assert step.judge_pending() is None, "nothing left"


def _reference(events: list[dict[str, Any]]) -> dict[str, Alert]:
    sink = MemoryStore()
    build(sink, CountingDetector(), None).process(raw(*events), {}, "ref")
    return dict(sink.alerts)


def test_a_stop_with_judgement_pending_is_judged_at_restore() -> None:
    sink = MemoryStore()
    step = build(sink, CountingDetector(), JudgingCadence(full_batch=3, every=10**6))
    step.process(raw(*weeks("AAA", 3)), {}, "t1")
    step.process(raw(*weeks("AAA", 3, first=3), *weeks("BBB", 1, first=3)), {}, "t2")
    assert sink.alerts == {} and sink.marks == {}  # stopped here: nothing judged, or stored

    detector = CountingDetector()
    restored = build(sink, detector, None).restore()
    assert set(detector.judged) == {"AAA", "BBB"}
    assert [(a.org_id, a.evidence["windows"]) for a in restored.alerts] == [("AAA", 4), ("BBB", 1)]
    assert _final(list(sink.alerts.values())) == _final(
        list(_reference(weeks("AAA", 6) + weeks("BBB", 1, first=3)).values())
    )


def test_judged_before_a_stop_a_restore_judges_nothing() -> None:
    sink = MemoryStore()
    step = build(sink, CountingDetector(), JudgingCadence(full_batch=3, every=10**6))
    step.process(raw(*weeks("AAA", 3)), {}, "t1")
    step.process(raw(*weeks("AAA", 3, first=3)), {}, "t2")
    assert sink.alerts == {}
    assert step.judge_pending() is not None
    assert set(sink.marks) == {"AAA"}

    detector = CountingDetector()
    later = Step(
        lambda: Engine(EngineConfig(), KEY, detector=detector),
        sink,
        clock=lambda: NOW + timedelta(hours=1),
    )
    assert later.restore().alerts == [] and detector.judged == []


class _Batch:
    def __init__(self, messages: list[RawMessage]) -> None:
        self._messages = messages

    def messages(self) -> tuple[list[RawMessage], dict[str, int], str]:
        return self._messages, {"t": len(self._messages)}, ""

    def next_offsets(self) -> dict[tuple[str, int], int]:
        return {}


class _Source:
    def processed(self, batch: _Batch, result: BatchResult) -> None:
        pass

    async def commit(self) -> bool:
        return True


def test_a_stop_judges_and_stores_what_the_backlog_left_unjudged() -> None:
    sink = MemoryStore()
    step = build(sink, CountingDetector(), JudgingCadence(full_batch=3, every=10**6))
    loop = asyncio.new_event_loop()

    async def fail(what: str, exc: BaseException) -> None:
        raise exc

    async def ready() -> bool:
        return True

    async def stop_after_a_backlog() -> None:
        flow = BatchFlow(step, _Source(), loop, fail)
        try:
            for first in (0, 3):
                await flow.handle(_Batch(raw(*weeks("AAA", 3, first=first))), ready)
            await flow.drain(5.0, step.stop.set)
        finally:
            flow.shutdown()

    try:
        loop.run_until_complete(stop_after_a_backlog())
    finally:
        loop.close()
    assert set(sink.marks) == {"AAA"} and not step.engine.judgement_pending
    assert [a.evidence["windows"] for a in sink.alerts.values()] == [4]
