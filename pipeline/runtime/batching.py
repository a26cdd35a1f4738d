"""The transport-neutral step of the stream processor: engine -> sink -> alert routes.

A runtime hands a batch of raw messages to `BatchStep.process`; when it returns, the batch is
stored in ClickHouse and its alerts and dead letters are with their routes, so the caller may
acknowledge (commit) its input. Nothing in here knows about Kafka consumers or faust; the worker
calls it from one dedicated thread, one batch at a time.

Failures of ClickHouse (or of the Kafka producer for alerts and dead letters) never escape:
the step retries with capped exponential backoff until the write is taken. Holding the batch is
the back-pressure (the runtime takes no new one meanwhile); `on_outage` reports when the outage
begins and ends. Only a stop request ends the wait, with `Abandoned`: the batch is then not
acknowledged and comes again after a restart.

State: the engine is rebuilt from what ClickHouse holds (`restore`), limited to the
organisations this runtime owns, so a restart or a rebalance loses nothing (stored events come
back as duplicates) and counts nothing twice.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pipeline.adapters import alert_topic, alertmanager
from pipeline.adapters.alert_topic import KafkaRoute
from pipeline.adapters.alertmanager import AlertmanagerRoute
from pipeline.adapters.clickhouse.rows import utc
from pipeline.adapters.clickhouse.worker_sink import WorkerSink, version_of
from pipeline.adapters.metrics import PipelineMetrics
from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertStatus
from pipeline.core.engine import BatchResult, Engine, RawMessage
from pipeline.errors import PipelineError, SinkError, TransportError

log = logging.getLogger("pipeline.worker")

T = TypeVar("T")
Clock = Callable[[], datetime]
OwnsOrg = Callable[[str], bool]
_ORG_ID = re.compile(rb'"org_id"\s*:\s*"([^"\\]{1,64})"')


def utc_now() -> datetime:
    return datetime.now(UTC)


class Abandoned(PipelineError):
    """A stop was requested while waiting for ClickHouse or Kafka: the batch was not finished
    and must not be acknowledged."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff; retries never stop on their own."""

    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0

    def delays(self) -> Iterator[float]:
        delay = min(self.initial, self.maximum)
        while True:
            yield delay
            delay = min(delay * self.multiplier, self.maximum)


class OpenWindows:
    """The unit windows not yet closed by the watermark (for `pipeline_open_windows`)."""

    def __init__(self) -> None:
        self._ends: dict[tuple[str, str, datetime], datetime] = {}

    def reset(self, windows: Iterable[tuple[str, str, datetime, datetime]]) -> None:
        self._ends = {(org, unit, start): end for org, unit, start, end in windows}

    def update(self, windows: Iterable[UnitWindowAggregate], watermark: datetime | None) -> int:
        for w in windows:
            self._ends[(w.org_id, w.unit_id, utc(w.window.start))] = utc(w.window.end)
        if watermark is not None:
            mark = utc(watermark)
            self._ends = {key: end for key, end in self._ends.items() if end > mark}
        return len(self._ends)


def org_of_payload(payload: bytes) -> str | None:
    """The organisation of a stored event payload, mostly without decoding it all (a quote
    inside a JSON string is escaped, so the first `"org_id": "…"` is the field itself)."""
    found = _ORG_ID.search(payload)
    if found:
        return found.group(1).decode()
    try:
        document = json.loads(payload)
    except ValueError:
        return None
    org = document.get("org_id") if isinstance(document, dict) else None
    return org if isinstance(org, str) else None


class BatchStep:
    """One batch at a time: process, store (retrying), route, and count."""

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        sink: WorkerSink,
        *,
        metrics: PipelineMetrics,
        kafka: KafkaRoute | None = None,
        alertmanager: AlertmanagerRoute | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock = utc_now,
        stop: threading.Event | None = None,
        on_outage: Callable[[bool], None] = lambda down: None,
    ) -> None:
        self._engine_factory = engine_factory
        self.engine = engine_factory()
        self._sink = sink
        self._metrics = metrics
        self._kafka = kafka
        self._alertmanager = alertmanager
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self.stop = stop or threading.Event()
        self._on_outage = on_outage
        self._windows = OpenWindows()
        self._owns: OwnsOrg = lambda org: True
        self.sink_down = False

    # -- state ---------------------------------------------------------------------------

    def restore(self, owns: OwnsOrg | None = None) -> BatchResult:
        """A fresh engine rebuilt from ClickHouse, for the organisations `owns` accepts (all
        when None); then routes what the previous run stored but did not route."""
        self._owns = owns or (lambda org: True)
        started = time.monotonic()
        engine = self._engine_factory()
        result = self._retrying("restore from ClickHouse", lambda: self._restore_into(engine))
        self.engine = engine
        # Versions the stored alerts lacked are stored first and then routed with any other
        # stored version no route has taken yet (the outbox).
        self._store(result, token="restore")
        self._route_pending()
        ends = self._retrying("read open windows", lambda: self._sink.window_ends(engine.watermark))
        self._windows.reset(w for w in ends if self._owns(w[0]))
        self._metrics.open_windows.set(self._windows.update((), engine.watermark))
        log.info(
            "state restored from ClickHouse: %d events, %d alerts, in %.1fs",
            result.read,
            len(engine.alerts),
            time.monotonic() - started,
        )
        return result

    def _restore_into(self, engine: Engine) -> BatchResult:
        owns = self._owns

        def payloads() -> Iterator[bytes]:
            for payload in self._sink.stored_payloads():
                org = org_of_payload(payload)
                if org is None or owns(org):
                    yield payload

        alerts = [a for a in self._sink.latest_alerts() if owns(a.org_id)]
        return engine.restore(payloads(), alerts, self._clock())

    # -- the step ------------------------------------------------------------------------

    def process(
        self, messages: Sequence[RawMessage], consumed_by_topic: Mapping[str, int], token: str
    ) -> BatchResult:
        """Process one batch and return once it is stored and routed (raises Abandoned when a
        stop came first). `consumed_by_topic` counts `messages` by input topic."""
        result = self.engine.process(messages, self._clock())
        self._store(result, token)
        self._route(result)
        self._metrics.record_batch(consumed_by_topic, result)
        self._metrics.open_windows.set(self._windows.update(result.windows, self.engine.watermark))
        self._metrics.last_batch_timestamp.set(time.time())
        return result

    def flush_alertmanager_deliveries(self) -> None:
        """Record what Alertmanager took since the last batch (also called when idle)."""
        if self._alertmanager is not None:
            done = self._alertmanager.delivered()
            if done:
                self._retrying(
                    "record Alertmanager deliveries",
                    lambda: self._sink.mark_delivered(done, alertmanager.ROUTE),
                )

    def _store(self, result: BatchResult, token: str) -> None:
        started = time.monotonic()
        self._retrying(
            "write to ClickHouse", lambda: self._sink.write(result, self._clock(), token)
        )
        self._metrics.sink_latency.observe(time.monotonic() - started)

    def _route(self, result: BatchResult) -> None:
        if self._kafka is not None and (result.alerts or result.rejected):
            kafka = self._kafka
            self._retrying(
                "publish alerts and dead letters",
                lambda: kafka.deliver(result.alerts, result.rejected),
                errors=(TransportError,),
                route=alert_topic.ROUTE,
            )
            versions = [version_of(a) for a in result.alerts]
            self._retrying(
                "record alert deliveries",
                lambda: self._sink.mark_delivered(versions, alert_topic.ROUTE),
            )
        if self._alertmanager is not None and result.alerts:
            self._alertmanager.submit(result.alerts)
        self.flush_alertmanager_deliveries()

    def _route_pending(self) -> None:
        """Alert versions stored by an earlier run but never routed (it stopped in between)."""
        if self._kafka is not None:
            pending = self._retrying(
                "read the alert outbox", lambda: self._sink.undelivered(alert_topic.ROUTE)
            )
            mine = [a for a in pending if self._owns(a.org_id)]
            if mine:
                log.info("routing %d stored alert versions not yet published", len(mine))
                self._route(BatchResult(alerts=mine))
        if self._alertmanager is not None:
            latest = [a for a in self.engine.alerts if self._owns(a.org_id)]
            sent = self._retrying(
                "read the alert outbox",
                lambda: self._sink.delivered_versions(alertmanager.ROUTE),
            )
            first = self._retrying("read alert history", self._sink.first_detected)
            seed = [a for a in latest if a.status is AlertStatus.OPEN or version_of(a) not in sent]
            owns = self._owns
            self._alertmanager.retain(lambda alert: owns(alert.org_id))
            self._alertmanager.seed(seed, first)

    def _retrying(
        self,
        what: str,
        action: Callable[[], T],
        *,
        errors: tuple[type[Exception], ...] = (SinkError,),
        route: str | None = None,
    ) -> T:
        """`action()` until it succeeds; failures of `errors` are waited out with backoff."""
        delays = self._retry.delays()
        attempts = 0
        while True:
            try:
                value = action()
            except errors as exc:
                attempts += 1
                delay = next(delays)
                if route is None:
                    self._metrics.sink_retries.inc()
                    self._metrics.sink_up.set(0)
                    if not self.sink_down:
                        self.sink_down = True
                        self._on_outage(True)
                else:
                    self._metrics.routing_failed(route)
                log.warning(
                    "%s failed (attempt %d), retrying in %.1fs: %s", what, attempts, delay, exc
                )
                if self.stop.wait(delay):
                    raise Abandoned(f"stopped while waiting to {what}") from exc
                continue
            if route is None:
                self._metrics.sink_up.set(1)
                if self.sink_down:
                    self.sink_down = False
                    log.info("%s succeeded after %d failed attempts", what, attempts)
                    self._on_outage(False)
            return value
