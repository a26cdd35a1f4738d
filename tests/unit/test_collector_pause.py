"""The step's pause of Python's cycle collector: counted across threads, never left off."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.adapters.alert_topic import KafkaRoute, Record
from pipeline.core.engine import Engine, EngineConfig
from pipeline.runtime import retry
from pipeline.runtime.retry import collector_paused, pause_collector
from pipeline.runtime.routing import Routes
from pipeline.runtime.step import RetryPolicy, Step
from tests.support.events import raw
from tests.support.memory_store import MemoryStore
from tests.unit.test_step import EveryUnitDetector, weeks_of_feedback


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_overlapping_pauses_of_two_threads_end_with_the_last() -> None:
    """The engine thread's pause begins first and ends first: the store thread's goes on."""
    entered, release = threading.Event(), threading.Event()

    def store_thread() -> None:
        with collector_paused():
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=store_thread)
    with collector_paused():
        assert not gc.isenabled()
        thread.start()
        assert entered.wait(5)
    assert not gc.isenabled(), "the other thread's pause is still on"
    release.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
    gc.enable()


def test_an_exception_inside_still_ends_the_pause() -> None:
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_pause_ended_by_a_function_ends_once_from_any_thread() -> None:
    release = pause_collector()
    with collector_paused():
        release()
        assert not gc.isenabled(), "the other pause is still on"
        release()  # again: does not end the other pause
        assert not gc.isenabled()
    assert gc.isenabled()
    other = pause_collector()
    thread = threading.Thread(target=other)
    thread.start()
    thread.join(5)
    assert gc.isenabled()


def _alerting_step(sink: MemoryStore, seen: list[bool], retry: RetryPolicy | None = None) -> Step:
    class Topic:
        def send(self, records: Sequence[Record]) -> None:
            seen.append(gc.isenabled())

    route = KafkaRoute(Topic().send, alerts_topic="q.alerts", dead_letter_topic="q.dead")
    return Step(
        lambda: Engine(EngineConfig(), b"unit-test-key-0123456789", detector=EveryUnitDetector()),
        sink,
        routes=Routes(route),
        retry=retry or RetryPolicy(initial=0.001, maximum=0.004),
        clock=lambda: datetime(2024, 6, 1, tzinfo=UTC),
    )


def test_a_caught_up_batch_with_alerts_holds_the_pause_until_they_are_routed() -> None:
    """The collection a batch's objects call for runs after its alerts left (event-to-alert
    latency), and no later: the pause ends once they are routed, or the batch is dropped."""
    seen: list[bool] = []
    sink = MemoryStore()
    s = _alerting_step(sink, seen)
    prepared = s.prepare(raw(*weeks_of_feedback("AAA")), {}, "t1")
    assert prepared.result.alerts and not gc.isenabled(), "held after the engine's run"
    s.complete(prepared)
    assert seen == [False] and gc.isenabled(), "routed within the pause, which then ended"

    dropped = s.prepare(raw(*weeks_of_feedback("BBB")), {}, "t2")
    assert dropped.result.alerts and not gc.isenabled()
    s.drop(dropped)
    assert gc.isenabled()

    quiet = s.prepare(raw(*weeks_of_feedback("AAA")[:1]), {}, "t3")
    assert not quiet.result.alerts and gc.isenabled(), "no alerts: nothing held"
    s.drop(quiet)


def test_the_held_pause_ends_before_a_retry_waits() -> None:
    seen: list[bool] = []
    sink = MemoryStore()
    s = _alerting_step(sink, seen, RetryPolicy(initial=2.0, maximum=2.0, jitter=0.0))
    prepared = s.prepare(raw(*weeks_of_feedback("AAA")), {}, "t1")
    assert not gc.isenabled()
    sink.failures = 1  # ClickHouse down for the first write: a wait before the retry
    thread = threading.Thread(target=s.complete, args=(prepared,))
    thread.start()
    deadline = time.monotonic() + 1.5  # within the 2 s wait
    while not gc.isenabled() and time.monotonic() < deadline:
        time.sleep(0.01)
    waiting = sink.failures == 0 and not seen
    assert gc.isenabled() and waiting, "the pause ended while the retry waits"
    thread.join(10)
    assert seen == [False] and gc.isenabled()


def test_a_batch_is_stored_in_one_pause_so_no_collection_runs_between_its_inserts() -> None:
    depths: list[int] = []

    class Counting(MemoryStore):
        def write_events(self, accepted: Any, token: str) -> None:
            depths.append(retry._pauses)  # this insert's own pause, and the batch's
            super().write_events(accepted, token)

    sink = Counting()
    s = _alerting_step(sink, [])
    first = s.prepare(raw(*weeks_of_feedback("AAA")[:1]), {}, "t1")
    assert not first.result.alerts and gc.isenabled()
    s.complete(first)
    assert depths == [2] and gc.isenabled()
