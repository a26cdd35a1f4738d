"""With Kafka away a metadata update fails at once (connection refused); the worker's aiokafka
clients, asked for another as soon as one has failed (the fetcher holding a partition whose
leader the last metadata did not name), wait their retry backoff first rather than spin."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka.client import AIOKafkaClient

from pipeline.runtime.batch_consumer import pace_metadata_retries
from tests.unit.test_worker_stop import runtime

ASKING_SECONDS = 0.5
BACKOFF_SECONDS = 0.1  # aiokafka's retry_backoff_ms default


async def ask_as_each_fails(client: Any) -> int:
    """Ask for a metadata update as soon as the last has failed, for `ASKING_SECONDS`; how many
    updates the client made. It knows no broker, so each fails at once, as with the only
    broker down. (Counted by call, not by aiokafka's log: the CLI's repeat filter, which
    another test may have installed, drops repeated log lines.)"""
    loop = asyncio.get_running_loop()
    update, updates = client._metadata_update, 0

    async def counted(cluster_metadata: Any, topics: Any) -> bool:
        nonlocal updates
        updates += 1
        updated: bool = await update(cluster_metadata, topics)
        return updated

    client._metadata_update = counted
    synchronizer = asyncio.ensure_future(client._md_synchronizer())
    deadline = loop.time() + ASKING_SECONDS
    try:
        while loop.time() < deadline:
            assert await client.force_metadata_update() is False
    finally:
        synchronizer.cancel()
        await asyncio.gather(synchronizer, return_exceptions=True)
    return updates


def bare_client() -> Any:
    return AIOKafkaClient(bootstrap_servers="127.0.0.1:9", retry_backoff_ms=100)


def paced_client() -> Any:
    client = bare_client()
    pace_metadata_retries(client)
    return client


@pytest.mark.parametrize("paced", [False, True])
def test_failed_metadata_updates_are_retried_after_the_backoff(paced: bool) -> None:
    async def scenario() -> int:
        return await ask_as_each_fails(paced_client() if paced else bare_client())

    updates = asyncio.run(scenario())
    most = ASKING_SECONDS / BACKOFF_SECONDS + 2
    if paced:
        assert 2 <= updates <= most
    else:  # aiokafka alone: what the worker's clients did
        assert updates > 10 * most


@pytest.mark.parametrize("client_of", ["consumer", "producer"])
def test_the_worker_s_kafka_clients_are_paced(tmp_path: Path, client_of: str) -> None:
    worker = runtime(tmp_path)

    async def scenario() -> int:
        if client_of == "consumer":
            thread = worker.app.consumer._thread
            kafka = thread._create_worker_consumer(worker.app.transport)
            client = kafka._client
        else:
            kafka = worker.app.producer._new_producer()
            client = kafka.client
        try:
            return await ask_as_each_fails(client)
        finally:
            await kafka.stop()

    try:
        updates = worker.loop.run_until_complete(scenario())
    finally:
        worker.loop.close()
    assert 2 <= updates <= ASKING_SECONDS / BACKOFF_SECONDS + 2
