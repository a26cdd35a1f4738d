"""faust's Kafka consumer, made to hand its records to `BatchSource`
(pipeline/runtime/consumer_batches.py) instead of its per-message stream path.

`BatchConsumer` is faust's aiokafka consumer with an idle drainer, so faust's fetcher never
takes records; `BatchApp` is a faust app that uses it. Its aiokafka consumer lets the broker
hold a fetch for at most `FETCH_MAX_WAIT_MS` (`BatchConsumerThread`) and takes a batch's worth
of a partition in one fetch (`partition_fetch_bytes`). `lagging`, `waiting`
and `broker_connected` read the aiokafka consumer's fetch state from another thread: a
snapshot is all they need. `BatchConsumerThread` also stops cleanly with the broker away.
`pace_metadata_retries` keeps the consumer's and the producer's aiokafka clients from retrying
a failed metadata update in a tight loop while Kafka is away, and `BatchApp` stops within
`PRODUCER_FLUSH_SECONDS` of its producer flush even then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducer
from mode.threads import WorkerThread

log = logging.getLogger(__name__)

FETCH_MAX_WAIT_MS = 100
"""How long the broker may hold a fetch that finds nothing new (faust fixes 1,500 ms)."""
FETCH_BYTES_PER_RECORD = 512
"""Room per record in one partition's fetch: an event as Kafka stores it is 300-450 bytes."""
PRODUCER_FLUSH_SECONDS = 2.0
"""How long a stopping app waits for the broker to take what its producer still holds."""


def partition_fetch_bytes(batch_max_events: int) -> int:
    """The most one fetch returns of one partition (faust's `consumer_max_fetch_size`,
    aiokafka's `max_partition_fetch_bytes`): a batch's worth of events, at least aiokafka's
    1 MiB. A batch ends where the first partition with a backlog runs out of fetched records
    (`ArrivalOrder`), so with 1 MiB (about 2,500 events) a backlog in a few partitions gave
    batches of 6,000-7,000 whatever `BATCH_MAX_EVENTS` said. The whole of one fetch stays
    within aiokafka's `fetch_max_bytes` (50 MiB)."""
    return max(1 << 20, batch_max_events * FETCH_BYTES_PER_RECORD)


def pace_metadata_retries(client: Any) -> None:
    """Make an aiokafka client wait its `retry_backoff_ms` after a metadata update that failed.

    aiokafka retries a failed update only as fast as its callers ask, and two ask again at
    once: the fetcher, holding a partition whose leader the last metadata did not name, and
    the producer's sender with a batch for one. A single broker stopping names no leader for
    its partitions in its last answers, and with it down each update fails at once (connection
    refused): the fetcher then spun, 3,100 updates a second for as long as Kafka was away
    (a CI run, a busy machine), a core gone from a worker that had nothing to do.
    Callers asking during the wait share the update under way, as they do in aiokafka."""
    update = client._metadata_update

    async def update_then_wait_if_failed(cluster_metadata: Any, topics: Any) -> bool:
        updated: bool = await update(cluster_metadata, topics)
        if not updated:
            await asyncio.sleep(client._retry_backoff)
        return updated

    client._metadata_update = update_then_wait_if_failed


class _AbandonedAtExit(WorkerThread):
    """mode's thread, but a daemon: once faust has waited `shutdown_timeout` for it and closed
    its loop, the process exits without it. A consumer rejoining its group after a member was
    killed sits in a JoinGroup the broker holds until that member's session times out; the
    process waited for it (38 s to stop, seen by an outside check). Nothing is lost: what it
    had not committed is delivered again, and the sink is idempotent."""

    def __init__(self, service: Any, **kwargs: Any) -> None:
        super().__init__(service, **kwargs)
        self.daemon = True


class BatchConsumerThread(AIOKafkaConsumerThread):
    """faust's consumer thread, whose aiokafka consumer waits `FETCH_MAX_WAIT_MS` at most.

    aiokafka keeps one fetch in flight per broker, covering the partitions it holds nothing of.
    Under a backlog some partitions are caught up (a quiet topic), so that fetch finds nothing
    new and the broker holds it for the whole wait; a backlog partition whose records ran out
    meanwhile cannot be fetched until it returns, and the engine waits. With faust's 1,500 ms,
    a third of a catch-up went in such waits (docs/worker.md, "Fetch wait at the broker").
    A shorter wait costs only more empty fetches while idle (ten a second per broker).
    """

    Worker = _AbandonedAtExit
    shutdown_timeout = 10.0
    """How long faust waits for this thread to stop (mode's default: 60 s); the worker's
    whole stop stays within its 30 s (docs/worker.md) even if the thread is wedged."""

    async def on_thread_stop(self) -> None:
        """faust's, except that a broker away cannot crash it. aiokafka's fetcher, closing,
        awaits the fetch tasks it has just cancelled, so one waiting to retry a fetch from a
        broker that is down raises `CancelledError` out of `AIOKafkaConsumer.stop` (its client
        left open); the thread then died with a traceback, never telling faust it stopped,
        and faust waited `shutdown_timeout` for it (64 s in all with Kafka down)."""
        try:
            await super().on_thread_stop()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this stop was cancelled: not aiokafka's doing
            log.info("Kafka unreachable while stopping: its consumer's fetches were cancelled")
            if self._consumer is not None:
                await self._consumer._client.close()

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads it when the consumer starts (its fetcher is made then); faust offers
        # no setting for it.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        pace_metadata_retries(consumer._client)
        return consumer

    def verify_event_path(self, now: float, tp: Any) -> None:
        """faust's check of the fetch path only. Its stream checks (a partition with records to
        fetch whose stream took no event for five minutes) are false alarms where no message
        goes through a stream: logged at ERROR every few seconds in any catch-up after five
        minutes' uptime. A stalled batch task is what `PipelineStalled` catches."""
        self._verify_aiokafka_event_path(now, tp)


class BatchConsumer(AIOKafkaConsumer):
    """faust's aiokafka consumer whose own fetcher never takes a record (`BatchSource` does)."""

    def _new_consumer_thread(self) -> BatchConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        # faust starts its fetcher after every assignment and stops it on the way out; it
        # idles here until then.
        await fetcher.wait_until_stopped()

    def lagging(self, partitions: Iterable[Any]) -> set[Any]:
        """Of `partitions`, those with records on the broker beyond what the fetcher has handed
        out, as of its last fetch (or not known yet: not fetched since the assignment)."""
        try:
            fetcher = self._thread._ensure_consumer()._fetcher
            assignment = fetcher._subscriptions.subscription.assignment
        except Exception:  # not started, or between assignments
            return set(partitions)
        lagging = set()
        for tp in partitions:
            state = assignment.state_value(tp)
            if (
                state is None
                or state.highwater is None
                or not state.has_valid_position
                or state.position < state.highwater
            ):
                lagging.add(tp)
        return lagging

    def broker_connected(self) -> bool | None:
        """Whether the aiokafka consumer holds an open connection to a broker (None: not
        started). Read from another thread, as `lagging` is: a snapshot is all it needs."""
        try:
            connections = list(self._thread._ensure_consumer()._client._conns.values())
        except Exception:
            return None
        return any(c.connected() for c in connections)

    def waiting(self, partitions: Iterable[Any]) -> int:
        """How many records of `partitions` are on the broker beyond what the fetcher has
        handed out, as of its last fetch (partitions not known yet count none)."""
        try:
            fetcher = self._thread._ensure_consumer()._fetcher
            assignment = fetcher._subscriptions.subscription.assignment
        except Exception:  # not started, or between assignments
            return 0
        states = (assignment.state_value(tp) for tp in partitions)
        return sum(
            max(0, s.highwater - s.position)
            for s in states
            if s is not None and s.highwater is not None and s.has_valid_position
        )


class PacedProducer(AIOKafkaProducer):
    """faust's aiokafka producer, its client's metadata retries paced (`pace_metadata_retries`)."""

    def _new_producer(self, transactional_id: str | None = None) -> Any:
        producer = super()._new_producer(transactional_id)
        pace_metadata_retries(producer.client)
        return producer

    async def drop_unsent(self) -> int:
        """Stop the aiokafka producer's sender (within `PRODUCER_FLUSH_SECONDS`) and drop every
        record it still holds, so that its flush and its stop return; how many there were.
        Their send futures never complete: nothing waits for them once a stop abandoned their
        batch. (Failing them instead set off aiokafka's own bookkeeping of batches put back
        for a retry: `KeyError` tracebacks.)"""
        producer = self._producer
        if producer is None:
            return 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(producer._sender.close(), PRODUCER_FLUSH_SECONDS)
        accumulator = producer._message_accumulator
        batches = [b for queued in accumulator._batches.values() for b in queued]
        batches += accumulator._pending_batches
        accumulator._batches.clear()
        accumulator._pending_batches.clear()
        return sum(b.record_count for b in batches)


class BatchApp(faust.App):
    """A faust app whose consumer is a `BatchConsumer` and whose producer is a `PacedProducer`
    (same wiring as faust's own)."""

    def _new_producer(self) -> Any:
        return PacedProducer(self.transport, loop=self.loop, beacon=self.beacon)

    async def _producer_flush(self, logger: Any) -> None:
        """faust's, except that while stopping it waits `PRODUCER_FLUSH_SECONDS` at most.

        aiokafka retries a record until its request timeout (faust's: 20 minutes), so with
        Kafka away the alerts and dead letters of a batch abandoned by the stop held both this
        flush and the producer's stop for that long. Dropping them is safe: a batch is
        acknowledged only once the broker took all of its records, so these belong to a
        batch that is processed again (and sends them again) after the restart."""
        if not self.should_stop:
            await super()._producer_flush(logger)
            return
        try:
            await asyncio.wait_for(super()._producer_flush(logger), PRODUCER_FLUSH_SECONDS)
        except TimeoutError:
            producer: PacedProducer = self.producer  # type: ignore[assignment]
            unsent = await producer.drop_unsent()
            logger.warning(
                "Kafka did not take the producer's last %d records in %.0fs (unreachable?): "
                "dropped; their batch was not acknowledged and is processed again",
                unsent,
                PRODUCER_FLUSH_SECONDS,
            )

    def _new_consumer(self) -> Any:
        return BatchConsumer(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
        )
