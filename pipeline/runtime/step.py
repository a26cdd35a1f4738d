"""THE step both runtimes drive: engine -> store (retried) -> alert routes (outbox) -> metrics.

A runtime hands a batch of raw messages to `Step.process`; when it returns, the batch is stored
and its alerts and dead letters are with their routes, so the caller may acknowledge (commit)
its input. Nothing here knows about Kafka, faust or files: the worker calls it from one
dedicated thread, one batch at a time; the embedded runner calls it in a loop over files.

Failures: ClickHouse unreachable (`SinkUnavailable`, or any other error of a read) is waited
out with capped, jittered exponential backoff, holding the batch (the back-pressure);
`on_outage` reports when that begins and ends. ClickHouse refusing rows (`SinkRejected`, a
deterministic error) is not retried: the events' insert is split in halves until the rows at
fault are found, and those are dead-lettered with reason `processing_error` while the rest is
stored. Only a stop request ends a wait, with `Abandoned`: the batch is then not acknowledged
and comes again after a restart.

State: `restore` rebuilds the engine from the small state the step stores with each batch
(pipeline/core/engine_state.py), limited to the organisations this runtime owns; storage
written before that state existed is re-read payload by payload, once.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from pipeline.core.alerts import Alert
from pipeline.core.decode import Rejection, RejectReason
from pipeline.core.engine import BatchResult, Engine, RawMessage, RejectedMessage
from pipeline.core.engine_state import RestoredState
from pipeline.core.revisions import RevisionInForce
from pipeline.core.stored import StoredEvent
from pipeline.errors import PipelineError, SinkError, SinkRejected
from pipeline.runtime.legacy import org_of_payload, owned_payloads
from pipeline.runtime.ports import Metrics, NullMetrics, OwnsOrg, Store
from pipeline.runtime.routing import Routes

log = logging.getLogger("pipeline.step")

T = TypeVar("T")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def owns_every_org(org: str) -> bool:
    return True


class Abandoned(PipelineError):
    """A stop was requested while waiting for ClickHouse or Kafka: the batch was not finished
    and must not be acknowledged."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter (each delay drawn from [1 - jitter, 1] of its
    nominal value, so workers that lost ClickHouse together do not return in step); retries
    never stop on their own."""

    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        draw = rng or random.Random()
        delay = min(self.initial, self.maximum)
        while True:
            yield delay * (1.0 - self.jitter * draw.random())
            delay = min(delay * self.multiplier, self.maximum)


@dataclass(slots=True)
class SinkHealth:
    """What /healthz reports about ClickHouse: down (retrying) is not the same as refusing
    rows (dead-lettered, the stream goes on)."""

    down: bool = False
    refused_rows: int = 0
    last_refusal: str = ""


class Step:
    """One batch at a time: process, store (retrying), route, count."""

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        store: Store,
        *,
        metrics: Metrics | None = None,
        routes: Routes | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock = utc_now,
        stop: threading.Event | None = None,
        on_outage: Callable[[bool], None] = lambda down: None,
    ) -> None:
        self._engine_factory = engine_factory
        self.engine = engine_factory()
        self._store = store
        self._metrics: Metrics = metrics or NullMetrics()
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self.stop = stop or threading.Event()
        self._on_outage = on_outage
        self._owns: OwnsOrg = owns_every_org
        self._held: set[str] | None = None  # organisations restored so far; None: all
        self._ask_every_new_id = False
        self.health = SinkHealth()
        self.routes = routes or Routes.none()
        self.routes.bind(self._retrying, self._metrics)

    @property
    def sink_down(self) -> bool:
        return self.health.down

    # -- state ---------------------------------------------------------------------------

    def restore(self, owns: OwnsOrg | None = None) -> BatchResult:
        """A fresh engine rebuilt from storage for the organisations `owns` accepts (all when
        None); then routes what an earlier run stored but did not route."""
        self.engine = self._engine_factory()
        self._held = None
        self._owns = owns or owns_every_org
        self._ask_every_new_id = owns is not None
        return self._restore(self._owns, self._owns)

    def reset(self, *, ask_every_new_id: bool) -> None:
        """Forget everything: each organisation is restored from storage when its first event
        arrives (a worker holds the organisations its partitions bring, whatever partitioner
        the publishers used). `ask_every_new_id`: other workers store other organisations,
        so an id not in memory may be stored under one of theirs."""
        self.engine = self._engine_factory()
        self._held = set()
        self._owns = self._held.__contains__
        self._ask_every_new_id = ask_every_new_id
        self.routes.retain(self._owns)

    def _hold(self, messages: Sequence[RawMessage]) -> None:
        if self._held is None:
            return
        orgs = {org_of_payload(m.value) for m in messages} - self._held
        orgs.discard(None)
        if orgs:
            new = {org for org in orgs if org is not None}
            self._held.update(new)
            self._restore(new.__contains__, self._owns)

    def _restore(self, new: OwnsOrg, held: OwnsOrg) -> BatchResult:
        started = time.monotonic()
        engine = self.engine
        state = self._retrying("read the stored state", lambda: self._read_state(engine, new))
        if state is None:
            log.warning("stored windows predate stored state: re-reading every stored event")
            payloads = self._retrying("read stored events", lambda: self._owned_payloads(new))
            result = engine.restore(payloads, self._owned_alerts(new), self._clock())
        else:
            result = engine.restore_state(state, self._clock())
        self._write(result, token="restore")
        self.routes.route_pending(self._store, engine, new, held)
        self._metrics.open_windows_now(engine.open_windows())
        log.info(
            "state restored: %d unit windows, %d event ids in memory, %d alerts, in %.2fs",
            engine.window_count(),
            engine.remembered_ids,
            len(engine.alerts),
            time.monotonic() - started,
        )
        return result

    def _read_state(self, engine: Engine, owns: OwnsOrg) -> RestoredState | None:
        records = self._store.window_records(owns)
        if records is None:
            return None
        latest = self._store.latest_event(owns)
        since = engine.horizon(latest)
        recent = self._store.recent_events(since, owns) if since is not None else []
        applied = {i for record in records for i in record.applied}
        stored = self._store.known_event_ids(applied) if applied else set()
        return RestoredState(
            records,
            recent,
            latest,
            self._owned_alerts(owns),
            applied - stored,
            self._store.responses(owns),
            judged=self._store.judged_marks(owns),
        )

    def _owned_payloads(self, owns: OwnsOrg) -> list[bytes]:
        return list(owned_payloads(self._store.stored_payloads(), owns))

    def _owned_alerts(self, owns: OwnsOrg) -> list[Alert]:
        alerts = self._retrying("read alerts", self._store.latest_alerts)
        return [a for a in alerts if owns(a.org_id)]

    # -- the step ------------------------------------------------------------------------

    def process(
        self, messages: Sequence[RawMessage], consumed_by_topic: Mapping[str, int], token: str
    ) -> BatchResult:
        """Process one batch and return once it is stored and routed (raises Abandoned when a
        stop came first). `consumed_by_topic` counts `messages` by input topic."""
        self._hold(messages)
        with collector_paused():
            result = self.engine.process(
                messages,
                self._clock(),
                self._known,
                ask_every_new_id=self._ask_every_new_id,
                revisions_of=self._revisions_of,
            )
        return self._complete(result, consumed_by_topic, token)

    def finish(self, token: str = "finish") -> BatchResult:
        """End of input (embedded runs): judge every window that ended, store and route."""
        return self._complete(self.engine.finish(self._clock()), {}, token)

    def _complete(
        self, result: BatchResult, consumed_by_topic: Mapping[str, int], token: str
    ) -> BatchResult:
        self._write(result, token)
        self.routes.route(self._store, result)
        self._metrics.record_batch(consumed_by_topic, result)
        self._metrics.open_windows_now(self.engine.open_windows())
        self._metrics.batch_stored()
        return result

    def _known(self, ids: Collection[UUID]) -> set[UUID]:
        return self._retrying("look up event ids", lambda: self._store.known_event_ids(ids))

    def _revisions_of(self, refs: Collection[tuple[str, str]]) -> list[RevisionInForce]:
        return self._retrying("look up revisions", lambda: self._store.revisions_of(refs))

    def flush_background_deliveries(self) -> None:
        """Record what background routes (Alertmanager) took (also called when idle)."""
        self.routes.flush(self._store)

    def _write(self, result: BatchResult, token: str) -> None:
        """Windows with the ids they count, the responses and revisions in force, events, the
        latest event time per organisation, windows again without the ids, rejections and
        alerts, then what the alerts were judged on (pipeline/core/engine_state.py says why in
        this order)."""
        started = time.monotonic()
        received_at = self._clock()  # outside the retries: a retry must be byte-identical
        store = self._store
        self._retrying("write windows", lambda: store.write_windows(result, token, applied=True))
        if result.responses or result.revisions:
            self._retrying("write the ledger", lambda: store.write_side_state(result, token))
        refused = self._write_events(result.accepted, token)
        if refused:
            gone = {id(r.stored) for r in refused}
            result.accepted = [s for s in result.accepted if id(s) not in gone]
            result.rejected.extend(r.message for r in refused)
        self._retrying("write progress", lambda: store.write_progress(result.accepted, token))
        self._retrying("write windows", lambda: store.write_windows(result, token, applied=False))
        self._retrying(
            "write rejections and alerts",
            lambda: store.write_outcomes(
                result.rejected,
                result.alerts,
                received_at,
                token,
                board=result.board,
                bright=result.bright_spots,
                verdicts=result.verdicts,
            ),
        )
        if result.judged:
            self._retrying("write judgements", lambda: store.write_judged(result.judged, token))
        self._metrics.sink_took(time.monotonic() - started)

    def _write_events(self, accepted: Sequence[StoredEvent], token: str) -> list[_Refused]:
        by_type: dict[str, list[StoredEvent]] = {}
        for stored in accepted:
            by_type.setdefault(stored.event.event_type.value, []).append(stored)
        refused: list[_Refused] = []
        for events in by_type.values():  # one insert per table: each is atomic on its own
            refused.extend(self._write_or_split(events, token))
        return refused

    def _write_or_split(self, events: Sequence[StoredEvent], token: str) -> list[_Refused]:
        try:
            self._retrying(
                "write events", lambda: self._store.write_events(events, token), refusals=True
            )
            return []
        except SinkRejected as exc:
            if len(events) > 1:
                half = len(events) // 2
                return self._write_or_split(events[:half], token) + self._write_or_split(
                    events[half:], token
                )
            return [self._refused(events[0], exc)]

    def _refused(self, stored: StoredEvent, exc: SinkRejected) -> _Refused:
        self.health.refused_rows += 1
        self.health.last_refusal = f"{stored.origin}: {type(exc).__name__}"
        log.error("ClickHouse refused the event at %s; dead-lettered: %s", stored.origin, exc)
        rejection = Rejection(
            RejectReason.PROCESSING_ERROR,
            "ClickHouse refused the event's row",
            "",
            stored.payload.encode(),  # the storable form: nothing personal left in it
        )
        return _Refused(stored, RejectedMessage(rejection, stored.origin))

    def _retrying(
        self,
        what: str,
        action: Callable[[], T],
        *,
        errors: tuple[type[Exception], ...] = (SinkError,),
        route: str | None = None,
        refusals: bool = False,
    ) -> T:
        """`action()` until it succeeds; failures of `errors` are waited out with backoff
        (with `refusals`, a `SinkRejected` is raised at once instead)."""
        delays = self._retry.delays()
        attempts = 0
        while True:
            try:
                with collector_paused():
                    value = action()
            except errors as exc:
                if refusals and isinstance(exc, SinkRejected):
                    raise
                attempts += 1
                delay = next(delays)
                if route is None:
                    self._metrics.sink_retried()
                    self._metrics.sink_state(False)
                    if not self.health.down:
                        self.health.down = True
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
                self._metrics.sink_state(True)
                if self.health.down:
                    self.health.down = False
                    log.info("%s succeeded after %d failed attempts", what, attempts)
                    self._on_outage(False)
            return value


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while the engine works on one batch, or one attempt to
    store or route it runs (never while waiting to retry).

    A batch allocates tens of thousands of objects that live until it is stored (events,
    their storable forms, rows), so the collector would walk them again and again, finding
    no cycles (none of them holds one): about a fifth of the step's time in
    `bench/replay_throughput.py`. Reference counting frees everything as usual meanwhile, and
    the collector runs normally again as soon as the work is done.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True, slots=True)
class _Refused:
    stored: StoredEvent
    message: RejectedMessage
