"""The stream processor on Kafka: a faust-streaming app that stays thin.

Input: one topic per event type (`<prefix>.<event_type>`, keyed `org_id`, partitioned by
organisation). faust runs the app, the consumer group and its rebalances, the timers and the
producer; the worker's task takes raw batches from faust's own consumer
(pipeline/runtime/consumer_batches.py, bypassing faust's per-message stream path), hands the
raw bytes and their origins (`topic/partition@offset`) to the shared step
(pipeline/runtime/step.py: engine -> ClickHouse -> alerts and dead-letter topics,
Alertmanager), and only then commits their offsets. Everything that can fail is retried inside
the step; an unexpected error stops the worker without committing. At-least-once input plus an
idempotent sink and a restored engine give effectively-once results; faust's exactly_once mode
is deliberately not used (faust #517, #323).

The engine is only ever touched by the step thread; batch N is stored and routed on a second
thread (`Step.complete`) while batch N+1 is fetched and run through the engine
(`Step.prepare`): at most one batch is being stored, batches are stored in order, and a
batch's offsets are committed only once it is stored and routed. On a revocation the batches
in flight finish and are committed before faust hands the partitions over; what was fetched
before it is not processed. SIGTERM/SIGINT: the batches in flight are finished, stored, routed
and committed, then the worker exits 0. See docs/worker.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.adapters.alert_topic import ALERTS_TOPIC, DEAD_LETTER_TOPIC, KafkaRoute, Record
from pipeline.adapters.alertmanager import AlertmanagerRoute
from pipeline.adapters.metrics import MetricsServer, PipelineMetrics
from pipeline.core.events import EVENT_MODELS, EventType
from pipeline.errors import StateRefused, TransportError
from pipeline.kafka_transport import describe
from pipeline.runtime.batch_flow import BatchFlow, failure_of
from pipeline.runtime.consumer_batches import BatchSource
from pipeline.runtime.early_stop import EarlyStop
from pipeline.runtime.misrouted import MisroutedEvents
from pipeline.runtime.step import Abandoned, Step
from pipeline.runtime.worker_app import FaustWorker, faust_app, output_topic
from pipeline.runtime.worker_batches import TopicPartition, WorkerBatches
from pipeline.runtime.worker_health import WorkerHealth
from pipeline.settings import Settings

log = logging.getLogger("pipeline.worker")

StepFactory = Callable[[KafkaRoute, Callable[[bool], None]], Step]

HOUSEKEEPING_SECONDS = 2.0
PROBE_SECONDS = 2.0
PUBLISH_TIMEOUT_SECONDS = 60.0
STOP_POLL_SECONDS = 0.5  # how soon a publish waiting on Kafka sees a stop
SHUTDOWN_GRACE_SECONDS = 15.0  # then faust's own stop: well within 30 s in all


def input_topics(settings: Settings) -> list[str]:
    return [settings.topic(t.value) for t in EventType]


class WorkerRuntime(WorkerBatches):
    """The faust app, its batch task and timer, and the glue to the shared step."""

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
        self._misrouted = MisroutedEvents(
            {EVENT_MODELS[t]: settings.topic(t.value) for t in EventType}, metrics.misrouted
        )
        self._source = BatchSource(
            self.app, self.inputs, settings.batch_max_events, self._misrouted
        )
        self._alerts_topic = self._output(ALERTS_TOPIC)
        self._dead_letter_topic = self._output(DEAD_LETTER_TOPIC)
        kafka = KafkaRoute(
            self._publish,
            alerts_topic=settings.topic(ALERTS_TOPIC),
            dead_letter_topic=settings.topic(DEAD_LETTER_TOPIC),
        )
        self.step = step_factory(kafka, self._on_outage)
        self._backlog = False  # behind the batch being prepared (`Batch.behind`)
        self.step.cadence.backlog = self._batch_behind  # read while its batch is prepared
        self._flow = BatchFlow(self.step, self._source, self.loop, self._fail)
        self._lock = self._flow.lock
        self._restored_for: frozenset[TopicPartition] | None = None
        self._next_moved_check = 0.0
        self._running = False
        self._stopping = False
        self._health = WorkerHealth()
        self.exit_code = 0

    # -- the faust app -------------------------------------------------------------------

    def _build_app(self) -> Any:
        app = faust_app(self.settings, self.loop, self._datadir, self.inputs)
        app.on_partitions_revoked.connect(self._on_revoked)
        timer = app.timer(HOUSEKEEPING_SECONDS, name=f"{self.settings.worker_id}.housekeeping")
        timer(self._housekeeping)
        app.timer(PROBE_SECONDS, name=f"{self.settings.worker_id}.probe")(self._probe)
        app.task(self._consume)
        return app

    def _output(self, name: str) -> Any:
        return output_topic(self.app, self.settings, name)

    async def _declare_outputs(self) -> None:
        for topic in (self._alerts_topic, self._dead_letter_topic):
            try:
                await topic.maybe_declare()
            except Exception as exc:  # the broker may auto-create it; sends will tell
                log.warning("could not declare topic %s: %s", topic.get_topic_name(), exc)
        self._running = True
        log.info(
            "worker %s consuming %s from %s over %s; joining consumer group %s (a killed "
            "member's partitions wait until its session of %g s has expired)",
            self.settings.worker_id,
            ", ".join(self.inputs),
            self.settings.kafka_bootstrap,
            describe(self.settings),
            self.settings.worker_id,
            self.settings.worker_session_timeout_seconds,
        )

    # -- back-pressure ---------------------------------------------------------------------

    def _on_outage(self, down: bool) -> None:
        """Called from the step thread when ClickHouse goes away or comes back.

        Nothing needs pausing by hand: while the batch in flight waits, `_consume` takes no
        new one, and aiokafka fetches ahead only a bounded buffer per partition, so
        consumption stops by itself (the consumer still heartbeats: no rebalance).
        """
        if down:
            log.warning(
                "ClickHouse unavailable: holding the batch in flight; consumption stops "
                "until it is stored (back-pressure)"
            )
        else:
            log.info("ClickHouse back: consumption resumes")

    # -- publishing (called from the step thread) --------------------------------------------

    def _publish(self, records: Sequence[Record]) -> None:
        """Send `records` and wait for the broker's acknowledgements, at most
        `PUBLISH_TIMEOUT_SECONDS`, and no longer once a stop abandoned the batch (the step's
        retry then raises `Abandoned`): with Kafka down a send waits for its metadata."""
        future = asyncio.run_coroutine_threadsafe(self._send_all(records), self.loop)
        deadline = time.monotonic() + PUBLISH_TIMEOUT_SECONDS
        try:
            while True:
                try:
                    future.result(STOP_POLL_SECONDS)
                    return
                except concurrent.futures.TimeoutError:
                    given_up = self.step.stop.is_set() or time.monotonic() >= deadline
                    if future.done() or given_up:  # done: the send's own timeout
                        raise
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

    async def _probe(self) -> None:
        """The liveness and Kafka probes' own timer: housekeeping may wait on Kafka or
        ClickHouse, this never does."""
        self._health.turned(self.app.consumer.broker_connected())

    async def _housekeeping(self) -> None:
        self._misrouted.tell()
        await self._update_lag()
        if self._stopping or self._lock.locked() or self._flow.storing:
            return  # a batch is in flight (perhaps waiting for ClickHouse): it does the rest
        async with self._lock:
            try:
                await self._check_moved_away()
                if await self._ensure_state():
                    await self._flow.in_store_thread(self.step.flush_background_deliveries)
            except Abandoned:
                return
            except StateRefused as exc:  # the delivery outbox: it cannot go on without it
                await self._fail(failure_of(exc), exc)
            except Exception as exc:
                log.warning("housekeeping failed: %r", exc)

    async def _update_lag(self) -> None:
        try:
            lag = await self._source.lag(self._flow.next_offset)
        except Exception as exc:  # metadata not there yet, or a rebalance in progress
            log.debug("consumer lag not available: %r", exc)
            return
        self.metrics.set_lag(lag)

    # -- health and shutdown -----------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        """Readiness (/readyz, /healthz): running, ClickHouse up and Kafka reachable."""
        if not self._running or self._stopping:
            return False, "stopping" if self._stopping else "starting"
        return self._health.ready(self.step.health)

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
        deadline = self.loop.time() + SHUTDOWN_GRACE_SECONDS
        try:
            await asyncio.wait_for(self._lock.acquire(), SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            self._abandon()
            await self._lock.acquire()
        try:
            await self._flow.drain(deadline - self.loop.time(), self._abandon)
        finally:
            self._lock.release()
            self._running = False
            then()

    def _abandon(self) -> None:
        log.warning(
            "the batch in flight did not finish in %.0fs (ClickHouse down?): abandoning it; "
            "it is not acknowledged and will be processed again (with the batch after it)",
            SHUTDOWN_GRACE_SECONDS,
        )
        self.step.stop.set()

    def run(self, metrics_port: int | None = None, early_stop: EarlyStop | None = None) -> int:
        """Run until stopped; the exit status (0 after a clean stop). A stop signal
        `early_stop` received before faust took over the signals stops it once started."""
        port = self.settings.metrics_port if metrics_port is None else metrics_port
        server = None
        if port:
            server = MetricsServer(self.metrics, self.health, port, alive=self._health.alive)
            server.start()
        if self.alertmanager is not None:
            self.alertmanager.start()
        worker = FaustWorker(
            self.begin_shutdown,
            self.app,
            loop=self.loop,
            loglevel=self.settings.log_level,
            quiet=True,
            redirect_stdouts=False,
            override_logging=False,
            early_stop=early_stop,
        )
        code: int = 0
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            self.step.stop.set()
            self._flow.shutdown()
            if self.alertmanager is not None:
                self.alertmanager.stop()
            if server is not None:
                server.stop()
        return code or self.exit_code
