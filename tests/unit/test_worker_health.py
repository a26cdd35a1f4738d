"""Liveness and readiness of the worker (pipeline/runtime/worker_health.py): a broker outage
makes it unready, never dead (a restart does not bring a broker back); a loop that stops
turning makes it dead."""

from __future__ import annotations

from pipeline.runtime.retry import SinkHealth
from pipeline.runtime.worker_health import WorkerHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_broker_connection_past_the_grace_is_kafka_unreachable_but_alive() -> None:
    clock = Clock()
    health = WorkerHealth(clock=clock, kafka_grace=10.0, loop_stalled=60.0)
    health.turned(True)
    for _ in range(300):  # ten minutes of a broker outage, probed every 2 s
        clock.now += 2.0
        health.turned(False)
        assert health.alive() == (True, "alive")
    assert health.kafka_unreachable_for() == 600.0
    assert health.ready(SinkHealth()) == (
        False,
        "Kafka unreachable for 600s (no broker connection)",
    )
    health.turned(True)
    assert health.kafka_unreachable_for() is None
    assert health.ready(SinkHealth()) == (True, "running, ClickHouse up")
    assert health.ready(SinkHealth(down=True)) == (False, "ClickHouse unavailable, retrying")


def test_a_short_gap_in_connections_is_not_an_outage() -> None:
    clock = Clock()
    health = WorkerHealth(clock=clock, kafka_grace=10.0)
    clock.now += 8.0
    health.turned(False)
    assert health.kafka_unreachable_for() is None
    clock.now += 4.0
    health.turned(None)  # not known (the consumer not started): not an outage
    assert health.kafka_unreachable_for() is None


def test_a_loop_that_stops_turning_is_not_alive() -> None:
    clock = Clock()
    health = WorkerHealth(clock=clock, loop_stalled=60.0)
    clock.now += 61.0
    alive, detail = health.alive()
    assert not alive and detail == "the worker's event loop has not turned for 61s"
    health.turned(True)
    assert health.alive()[0]
