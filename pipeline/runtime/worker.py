"""The stream processor on Kafka: a faust-streaming app whose one agent stays thin.

Input: one topic per event type (`<prefix>.<event_type>`, keyed `org_id/unit_id`, partitioned by
organisation). The agent collects a batch with `noack_take(max, within)`, hands the raw bytes
and their origins (`topic/partition@offset`) to the shared step (pipeline/runtime/batching.py:
engine -> ClickHouse -> alerts and dead-letter topics, Alertmanager), and only then acknowledges
and commits. Everything that can fail is retried inside the step, so no exception reaches faust
(an exception inside an agent would acknowledge the message: faust #315). At-least-once input
plus an idempotent sink and a restored engine give effectively-once results; faust's
exactly_once mode is deliberately not used (faust #517, #323).

Concurrency 1 (faust #606): one batch in flight, so at most one per partition, and the engine
is only ever touched by the step thread. SIGTERM/SIGINT: the batch in flight is finished,
stored, routed and committed, then the worker exits 0. See docs/worker.md.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import faust

from pipeline.adapters.alert_topic import ALERTS_TOPIC, DEAD_LETTER_TOPIC, KafkaRoute, Record
from pipeline.adapters.alertmanager import AlertmanagerRoute
from pipeline.adapters.metrics import MetricsServer, PipelineMetrics
from pipeline.core.engine import RawMessage
from pipeline.core.events import EventType
from pipeline.core.partitioning import partition_for
from pipeline.errors import TransportError
from pipeline.kafka_transport import describe, faust_credentials
from pipeline.runtime.batching import Abandoned, BatchStep, OwnsOrg
from pipeline.settings import Settings

log = logging.getLogger("pipeline.worker")

T = TypeVar("T")
TopicPartition = tuple[str, int]
StepFactory = Callable[[KafkaRoute, Callable[[bool], None]], BatchStep]

HOUSEKEEPING_SECONDS = 2.0
PUBLISH_TIMEOUT_SECONDS = 60.0
SHUTDOWN_GRACE_SECONDS = 20.0


def input_topics(settings: Settings) -> list[str]:
    return [settings.topic(t.value) for t in EventType]


class WorkerRuntime:
    """The faust app, its agent and timer, and the glue to the shared step."""

    def __init__(
        self,
        settings: Settings,
        step_factory: StepFactory,
        metrics: PipelineMetrics,
        *,
        alertmanager: AlertmanagerRoute | None = None,
        datadir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.alertmanager = alertmanager
        self.inputs = input_topics(settings)
        # faust wants a data directory even without tables (it leaves it empty): one per
        # worker id, shared by the workers of that id on this host, so nothing accumulates.
        self._datadir = (
            datadir or Path(tempfile.gettempdir()) / f"pipeline-faust-{settings.worker_id}"
        )
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.app = self._build_app()
        self._alerts_topic = self._output(ALERTS_TOPIC)
        self._dead_letter_topic = self._output(DEAD_LETTER_TOPIC)
        kafka = KafkaRoute(
            self._publish,
            alerts_topic=settings.topic(ALERTS_TOPIC),
            dead_letter_topic=settings.topic(DEAD_LETTER_TOPIC),
        )
        self.step = step_factory(kafka, self._on_outage)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-step")
        self._lock = asyncio.Lock()
        self._restored_for: frozenset[TopicPartition] | None = None
        self._next_offset: dict[TopicPartition, int] = {}
        self._running = False
        self._stopping = False
        self.exit_code = 0

    # -- the faust app -------------------------------------------------------------------

    def _build_app(self) -> Any:
        s = self.settings
        app = faust.App(
            s.worker_id,
            broker=[f"kafka://{host.strip()}" for host in s.kafka_bootstrap.split(",")],
            broker_credentials=faust_credentials(s),
            loop=self.loop,
            key_serializer="raw",
            value_serializer="raw",
            web_enabled=False,
            autodiscover=False,
            datadir=str(self._datadir),
            topic_partitions=s.topic_partitions,
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=s.worker_session_timeout_seconds,
            broker_request_timeout=max(90.0, s.worker_session_timeout_seconds + 30.0),
            broker_max_poll_interval=s.worker_max_poll_interval_seconds,
            producer_acks=-1,
            stream_wait_empty=True,
            stream_buffer_maxsize=max(4096, 2 * s.batch_max_events),
            processing_guarantee="at_least_once",
        )
        source = app.topic(
            *self.inputs,
            key_serializer="raw",
            value_serializer="raw",
            partitions=s.topic_partitions,
        )

        async def process(stream: Any) -> None:
            async for events in stream.noack_take(
                s.batch_max_events, within=s.batch_within_seconds
            ):
                await self._handle(stream, events)

        app.agent(source, name=f"{s.worker_id}.process", concurrency=1)(process)
        app.timer(HOUSEKEEPING_SECONDS, name=f"{s.worker_id}.housekeeping")(self._housekeeping)
        app.task(self._on_app_started)
        return app

    def _output(self, name: str) -> Any:
        return self.app.topic(
            self.settings.topic(name),
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.settings.topic_partitions,
        )

    async def _on_app_started(self) -> None:
        for topic in (self._alerts_topic, self._dead_letter_topic):
            try:
                await topic.maybe_declare()
            except Exception as exc:  # the broker may auto-create it; sends will tell
                log.warning("could not declare topic %s: %s", topic.get_topic_name(), exc)
        self._running = True
        log.info(
            "worker %s consuming %s from %s over %s",
            self.settings.worker_id,
            ", ".join(self.inputs),
            self.settings.kafka_bootstrap,
            describe(self.settings),
        )

    # -- one batch -----------------------------------------------------------------------

    async def _handle(self, stream: Any, events: Sequence[Any]) -> None:
        async with self._lock:
            if self._stopping:
                return  # not acknowledged: the next run takes these messages again
            try:
                await self._ensure_state()
                assigned = self._assigned()
                batch = [e for e in events if (e.message.topic, e.message.partition) in assigned]
                if len(batch) < len(events):
                    log.info(
                        "%d messages of partitions no longer assigned left to their new owner",
                        len(events) - len(batch),
                    )
                if batch:
                    await self._process(batch)
                    for event in batch:
                        await stream.ack(event)
                    await self._commit()
            except Abandoned as exc:
                log.warning("batch not finished, not acknowledged (%s)", exc)
            except Exception as exc:  # a bug: stop without acknowledging anything more
                log.critical("processing failed; stopping the worker: %r", exc, exc_info=True)
                self._stopping = True
                self.exit_code = 1
                await self.app.crash(exc)

    async def _process(self, batch: Sequence[Any]) -> None:
        messages: list[RawMessage] = []
        consumed: Counter[str] = Counter()
        ranges: dict[TopicPartition, tuple[int, int]] = {}
        for event in batch:
            m = event.message
            messages.append(RawMessage(m.value or b"", f"{m.topic}/{m.partition}@{m.offset}"))
            consumed[m.topic] += 1
            tp = (m.topic, m.partition)
            low, high = ranges.get(tp, (m.offset, m.offset))
            ranges[tp] = (min(low, m.offset), max(high, m.offset))
        token = ",".join(f"{t}/{p}@{lo}-{hi}" for (t, p), (lo, hi) in sorted(ranges.items()))
        started = time.perf_counter()
        result = await self._in_thread(self.step.process, messages, dict(consumed), token)
        log.debug(
            "batch of %d messages from %d partitions: %d accepted, %d rejected, %d duplicates, "
            "%d alert versions, in %.3fs",
            len(messages),
            len(ranges),
            len(result.accepted),
            len(result.rejected),
            result.duplicates,
            len(result.alerts),
            time.perf_counter() - started,
        )
        for tp, (_, high) in ranges.items():
            self._next_offset[tp] = high + 1

    async def _commit(self) -> None:
        try:
            await self.app.consumer.commit()
        except Exception as exc:  # acknowledged offsets are committed later or redelivered
            log.warning("offset commit failed (will be retried): %s", exc)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.loop.run_in_executor(self._executor, fn, *args)

    # -- state: restore on start-up and when the assignment changes ----------------------

    def _assigned(self) -> frozenset[TopicPartition]:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:
            return frozenset()
        return frozenset((tp.topic, tp.partition) for tp in assignment if tp.topic in self.inputs)

    async def _ensure_state(self) -> None:
        assigned = self._assigned()
        self.metrics.assigned_partitions.set(len(assigned))
        if not assigned or assigned == self._restored_for:
            return
        owned = sorted({partition for _, partition in assigned})
        counts = {self._partition_count(topic) for topic in self.inputs}
        owns: OwnsOrg | None = None
        if len(counts) != 1:
            log.warning(
                "input topics have different partition counts %s: organisations cannot be "
                "assigned to workers consistently; restoring every organisation",
                sorted(counts),
            )
        else:
            (count,) = counts
            if set(owned) != set(range(count)):
                mine = frozenset(owned)
                owns = lambda org: partition_for(org, count) in mine  # noqa: E731
        log.info("partitions %s assigned: rebuilding state from ClickHouse", owned)
        await self._in_thread(self.step.restore, owns)
        self._restored_for = assigned
        self._next_offset = {tp: n for tp, n in self._next_offset.items() if tp in assigned}

    def _partition_count(self, topic: str) -> int:
        try:
            count = self.app.consumer.topic_partitions(topic)
        except Exception:
            count = None
        return int(count) if count else self.settings.topic_partitions

    # -- back-pressure ---------------------------------------------------------------------

    def _on_outage(self, down: bool) -> None:
        """Called from the step thread when ClickHouse goes away or comes back.

        Nothing needs pausing by hand: while the batch in flight waits, the agent takes no new
        one, the stream's buffers fill (`stream_buffer_maxsize`) and faust's flow control stops
        fetching those partitions, which it resumes once they drain. (faust's
        `pause_partitions` is no help here: records already fetched for a partition paused
        mid-fetch are dropped without a seek, so they would never reach the agent.)
        """
        if down:
            log.warning(
                "ClickHouse unavailable: holding the batch in flight; consumption stops as "
                "the stream buffers fill (back-pressure)"
            )
        else:
            log.info("ClickHouse back: consumption resumes")

    # -- publishing (called from the step thread) --------------------------------------------

    def _publish(self, records: Sequence[Record]) -> None:
        future = asyncio.run_coroutine_threadsafe(self._send_all(records), self.loop)
        try:
            future.result(PUBLISH_TIMEOUT_SECONDS)
        except TransportError:
            raise
        except Exception as exc:
            future.cancel()
            raise TransportError(f"publishing {len(records)} records failed: {exc!r}") from exc

    async def _send_all(self, records: Sequence[Record]) -> None:
        producer = self.app.producer
        pending = [await producer.send(r.topic, r.key, r.value, None, None, None) for r in records]
        await asyncio.gather(*pending)

    # -- housekeeping ----------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        await self._update_lag()
        if self._stopping or self._lock.locked():
            return  # a batch is in flight (perhaps waiting for ClickHouse): it does the rest
        async with self._lock:
            try:
                await self._ensure_state()
                await self._in_thread(self.step.flush_alertmanager_deliveries)
            except Abandoned:
                return
            except Exception as exc:
                log.warning("housekeeping failed: %r", exc)

    async def _update_lag(self) -> None:
        """Lag per assigned partition: the broker's end offset minus the next offset to
        process (for a partition not processed since start-up, its fetch position)."""
        consumer = self.app.consumer
        lag: dict[TopicPartition, int] = {}
        try:
            assignment = [tp for tp in consumer.assignment() if tp.topic in self.inputs]
            if not assignment:
                self.metrics.set_lag(lag)
                return
            highs = await consumer.highwaters(*assignment)
            unknown = [tp for tp in assignment if (tp.topic, tp.partition) not in self._next_offset]
            fetched = await asyncio.gather(*(consumer.position(tp) for tp in unknown))
            positions = dict(zip(unknown, fetched, strict=True))
            for tp in assignment:
                high = highs.get(tp)
                key = (tp.topic, tp.partition)
                position = self._next_offset.get(key, positions.get(tp))
                if high is not None and position is not None:
                    lag[key] = int(high) - int(position)
        except Exception as exc:  # metadata not there yet, or a rebalance in progress
            log.debug("consumer lag not available: %r", exc)
            return
        self.metrics.set_lag(lag)

    # -- health and shutdown -----------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        if not self._running:
            return False, "starting" if not self._stopping else "stopping"
        if self._stopping:
            return False, "stopping"
        if self.step.sink_down:
            return False, "ClickHouse unavailable, retrying"
        return True, "running, ClickHouse up"

    def begin_shutdown(self, then: Callable[[], None]) -> None:
        """Finish the batch in flight and commit, then `then()` (faust's own shutdown)."""
        if self._stopping:
            log.warning("second stop signal: abandoning the batch in flight")
            self.step.stop.set()
            then()
            return
        self._stopping = True
        log.info("stop requested: finishing the batch in flight, then committing")
        self.loop.create_task(self._drain(then))

    async def _drain(self, then: Callable[[], None]) -> None:
        try:
            await asyncio.wait_for(self._lock.acquire(), SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            log.warning(
                "the batch in flight did not finish in %.0fs (ClickHouse down?): abandoning it; "
                "it is not acknowledged and will be processed again",
                SHUTDOWN_GRACE_SECONDS,
            )
            self.step.stop.set()
            await self._lock.acquire()
        try:
            await self._commit()
        finally:
            self._lock.release()
            self._running = False
            then()

    def run(self, metrics_port: int | None = None) -> int:
        """Run until stopped; the exit status (0 after a clean stop)."""
        port = self.settings.metrics_port if metrics_port is None else metrics_port
        server = MetricsServer(self.metrics, self.health, port).start() if port else None
        if self.alertmanager is not None:
            self.alertmanager.start()
        worker = _Worker(
            self,
            self.app,
            loop=self.loop,
            loglevel=self.settings.log_level,
            quiet=True,
            redirect_stdouts=False,
            override_logging=False,
        )
        code: int = 0
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            self.step.stop.set()
            self._executor.shutdown(wait=True)
            if self.alertmanager is not None:
                self.alertmanager.stop()
            if server is not None:
                server.stop()
        return code or self.exit_code


class _Worker(faust.Worker):
    """faust's worker, with SIGTERM/SIGINT first finishing the batch in flight."""

    def __init__(self, runtime: WorkerRuntime, *args: Any, **kwargs: Any) -> None:
        self._pipeline_runtime = runtime
        super().__init__(*args, **kwargs)

    def _on_sigterm(self) -> None:
        self._pipeline_runtime.begin_shutdown(super()._on_sigterm)

    def _on_sigint(self) -> None:
        self._pipeline_runtime.begin_shutdown(super()._on_sigint)
