"""Closing `pipeline publish`'s producer after the broker went away (pipeline/adapters/
publisher.py). The producer is made without a broker: only its close is under test."""

from __future__ import annotations

from kafka.errors import KafkaTimeoutError

from pipeline.adapters.publisher import EventProducer, KafkaTimeouts


def test_closing_after_the_broker_went_away_neither_waits_nor_raises() -> None:
    """The broker stopped during `pipeline publish`: after its one-line error the command
    waited a minute more in kafka-python's close, which then raised a traceback (found by the
    black-box check)."""
    closed_within: list[float] = []

    class GoneBroker:
        def close(self, timeout: float) -> None:
            closed_within.append(timeout)
            raise KafkaTimeoutError("Timeout waiting for future")

    producer = EventProducer.__new__(EventProducer)
    producer.timeouts = KafkaTimeouts(delivery_seconds=60.0)
    producer._producer = GoneBroker()
    producer._failed = True  # a send or flush has failed and said so
    producer.close()
    assert closed_within == [0]
