"""With Kafka away a metadata update fails at once (connection refused); the worker's aiokafka
clients, asked for another as soon as one has failed (the fetcher holding a partition whose
leader the last metadata did not name), wait their retry backoff first rather than spin.

Measured as the least time a number of updates can take (the backoffs between them), which a
busy machine can only lengthen; not as updates counted within a time. (aiokafka alone makes
the six in about a millisecond: the worker's clients fail these tests without the pacing.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka.client import AIOKafkaClient

from pipeline.runtime.batch_consumer import pace_metadata_retries
from tests.unit.test_worker_stop import runtime

BACKOFF_SECONDS = 0.1  # aiokafka's retry_backoff_ms default
UPDATES = 6
LEAST_SECONDS = 0.95 * UPDATES * BACKOFF_SECONDS  # asyncio may wake a timer a tick early


async def seconds_for_updates(client: Any, updates: int = UPDATES) -> float:
    """How long `updates` metadata updates take when each is asked for as soon as the last has
    failed. The client knows no broker, so each fails at once, as with the only broker down."""
    loop = asyncio.get_running_loop()
    synchronizer = asyncio.ensure_future(client._md_synchronizer())
    started = loop.time()
    try:
        for _ in range(updates):
            assert await client.force_metadata_update() is False
        return loop.time() - started
    finally:
        synchronizer.cancel()
        await asyncio.gather(synchronizer, return_exceptions=True)


def bare_client() -> Any:
    return AIOKafkaClient(bootstrap_servers="127.0.0.1:9", retry_backoff_ms=100)


def test_a_failed_metadata_update_is_retried_after_the_backoff() -> None:
    async def scenario() -> float:
        client = bare_client()
        pace_metadata_retries(client)
        return await seconds_for_updates(client)

    assert asyncio.run(scenario()) >= LEAST_SECONDS


@pytest.mark.parametrize("client_of", ["consumer", "producer"])
def test_the_worker_s_kafka_clients_are_paced(tmp_path: Path, client_of: str) -> None:
    worker = runtime(tmp_path)

    async def scenario() -> float:
        if client_of == "consumer":
            thread = worker.app.consumer._thread
            kafka = thread._create_worker_consumer(worker.app.transport)
            client = kafka._client
        else:
            kafka = worker.app.producer._new_producer()
            client = kafka.client
        try:
            return await seconds_for_updates(client)
        finally:
            await kafka.stop()

    try:
        seconds = worker.loop.run_until_complete(scenario())
    finally:
        worker.loop.close()
    assert seconds >= LEAST_SECONDS
