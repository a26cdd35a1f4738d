"""When the step says ClickHouse is down and back (`pipeline_sink_up`, /healthz, back-pressure):
an outage in which writes fail ends only when a batch is stored whole, not when a read or one
small insert succeeds meanwhile (ClickHouse out of disk still answers both)."""

from __future__ import annotations

import threading
from typing import Any

from pipeline.errors import SinkUnavailable
from tests.support.events import feedback, raw
from tests.support.memory_store import MemoryStore as FakeSink
from tests.unit.test_step import step, value, weeks_of_feedback


class FailingWrites(FakeSink):
    """Named writes fail (`failing[name]` times each, or until `healed` is set when the count
    is None); reads answer."""

    def __init__(self, failing: dict[str, int | None]) -> None:
        super().__init__()
        self.failing = dict(failing)
        self.healed = threading.Event()

    def _fails(self, name: str) -> None:
        if name not in self.failing:
            return
        left = self.failing[name]
        if left is None:
            if self.healed.is_set():
                return
        elif left == 0:
            return
        else:
            self.failing[name] = left - 1
        raise SinkUnavailable(f"{name}: Cannot reserve 1.00 MiB, not enough space")

    def write_windows(self, result: Any, token: str, *, applied: bool) -> None:
        self._fails("write_windows")
        super().write_windows(result, token, applied=applied)

    def write_events_each(self, groups: Any, token: str) -> Any:
        self._fails("write_events")
        return super().write_events_each(groups, token)


def test_a_small_write_succeeding_mid_batch_does_not_end_the_outage() -> None:
    sink = FailingWrites({"write_windows": 2, "write_events": 2})
    outages: list[bool] = []
    s, metrics = step(sink, on_outage=outages.append)
    s.process(raw(feedback()), {"t": 1}, "t1")
    assert sink.writes == ["t1"]
    assert outages == [True, False], "one outage, over once the batch is stored"
    assert value(metrics, "pipeline_sink_up") == 1 and not s.health.down


def test_a_look_up_answered_while_writes_fail_does_not_end_the_outage() -> None:
    sink = FailingWrites({})
    sink.lookups_apart = True  # looked up beside the batch being stored, as the worker does
    outages: list[bool] = []
    down = threading.Event()

    def on_outage(is_down: bool) -> None:
        outages.append(is_down)
        if is_down:
            down.set()

    s, metrics = step(sink, on_outage=on_outage)
    events = weeks_of_feedback("AAA", weeks=6)
    s.process(raw(*events), {"t": 7}, "t0")
    sink.failing["write_events"] = None
    at = events[0]["occurred_at"]  # late: the engine asks the store about its id
    first = s.prepare(raw(feedback(org_id="AAA", occurred_at=at)), {"t": 1}, "t1")
    storing = threading.Thread(target=s.complete, args=(first,))
    storing.start()
    try:
        assert down.wait(10.0)
        asked = len(sink.lookups)
        second = s.prepare(raw(feedback(org_id="AAA", occurred_at=at)), {"t": 1}, "t2")
        assert len(sink.lookups) > asked, "the look-up reached the store"
        assert outages == [True] and s.health.down
        assert value(metrics, "pipeline_sink_up") == 0
    finally:
        sink.healed.set()
        storing.join(10.0)
    assert outages == [True, False]
    s.complete(second)
    assert sink.writes == ["t0", "t1", "t2"] and value(metrics, "pipeline_sink_up") == 1


def test_an_outage_only_reads_saw_ends_with_a_read() -> None:
    sink = FakeSink()
    outages: list[bool] = []
    s, metrics = step(sink, on_outage=outages.append)
    events = weeks_of_feedback("AAA", weeks=6)
    s.process(raw(*events), {"t": 7}, "t0")
    sink.failures = 2  # the next two calls: the look-up below
    at = events[0]["occurred_at"]
    prepared = s.prepare(raw(feedback(org_id="AAA", occurred_at=at)), {"t": 1}, "t1")
    assert outages == [True, False] and not s.health.down
    assert value(metrics, "pipeline_sink_up") == 1
    s.complete(prepared)
