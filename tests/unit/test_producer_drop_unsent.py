"""A stopping worker drops what its aiokafka producer still holds (`PacedProducer.drop_unsent`):
with Kafka away those records are retried for faust's 20-minute request timeout, and the
producer's flush and stop wait for every one of them."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import cast

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

from pipeline.runtime.batch_consumer import PacedProducer


def holding(producer: AIOKafkaProducer | None) -> PacedProducer:
    """A `PacedProducer` as far as `drop_unsent` looks: faust's aiokafka producer."""
    return cast(PacedProducer, SimpleNamespace(_producer=producer))


async def queue(producer: AIOKafkaProducer, partition: int, records: int) -> None:
    builder = producer.create_batch()
    for _ in range(records):
        builder.append(key=b"RXA", value=b"{}", timestamp=None)
    await producer._message_accumulator.add_batch(builder, TopicPartition("t", partition), 1)


def test_every_record_held_is_dropped_and_the_producer_then_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)

    async def scenario() -> int:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9")
        accumulator = producer._message_accumulator
        await queue(producer, 0, 2)
        await queue(producer, 1, 3)
        # One batch failed in flight and was put back for a retry, one is in flight.
        accumulator.reenqueue(accumulator._pop_batch(TopicPartition("t", 0)))
        accumulator._pop_batch(TopicPartition("t", 1))
        dropped: int = await PacedProducer.drop_unsent(holding(producer))
        await asyncio.wait_for(accumulator.flush(), 10)  # returns: nothing left to wait for
        await producer.stop()
        return dropped

    assert asyncio.run(scenario()) == 5
    assert not caplog.records, "aiokafka's bookkeeping of those batches must not complain"


def test_a_producer_not_started_has_nothing_to_drop() -> None:
    assert asyncio.run(PacedProducer.drop_unsent(holding(None))) == 0
