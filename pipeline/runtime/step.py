"""THE step both runtimes drive: engine -> store (retried) -> alert routes (outbox) -> metrics.

A runtime hands a batch of raw messages to `Step.process`; when it returns, the batch is stored
and its alerts and dead letters are with their routes, so the caller may acknowledge (commit)
its input. Nothing here knows about Kafka, faust or files. `process` is `prepare` (the engine,
on the one thread that owns it) then `complete` (store, route, count: the engine untouched),
which both runtimes' flow (runtime/batch_flow.py) runs for batch N beside N+1's `prepare`.

Failures: ClickHouse unreachable (`SinkUnavailable`, or any other error of a read) is waited
out with capped, jittered exponential backoff, holding the batch (the back-pressure);
`on_outage` reports when that begins and ends. ClickHouse refusing rows (`SinkRejected`, a
deterministic error) is not retried: the events' insert is split in halves until the rows at
fault are found, and those are dead-lettered with reason `processing_error` while the rest is
stored; a refusal of any other write (the pipeline's own rows) raises `StateRefused` at once,
and the runtime stops with the batch unacknowledged. Only a stop request ends a wait, with
`Abandoned`: the batch is then not acknowledged and comes again after a restart. An
organisation whose judgement failed in the engine (`BatchResult.judging_failures`) is logged,
one line each, and counted; its batch is stored.

State: `restore` rebuilds the engine from the small state the step stores with each batch
(pipeline/core/engine_state.py), limited to the organisations this runtime owns; storage
written before that state existed is re-read payload by payload, once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from pipeline.core.alerts import Alert
from pipeline.core.batch import JudgingFailure
from pipeline.core.engine import BatchResult, Engine, RawMessage
from pipeline.core.engine_state import RestoredState
from pipeline.core.revisions import RevisionInForce
from pipeline.runtime.batch_writes import BatchWrites
from pipeline.runtime.cadence import JudgingCadence
from pipeline.runtime.legacy import org_of_payload, owned_payloads
from pipeline.runtime.ports import Metrics, NullMetrics, OwnsOrg, Store
from pipeline.runtime.retry import (
    NO_LOCK,
    Abandoned,
    RetryPolicy,
    SinkHealth,
    collector_paused,
    pause_collector,
)
from pipeline.runtime.routing import Routes

__all__ = ["Abandoned", "Prepared", "RetryPolicy", "SinkHealth", "Step", "collector_paused"]

log = logging.getLogger("pipeline.step")

T = TypeVar("T")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def owns_every_org(org: str) -> bool:
    return True


def _nothing() -> None:
    pass


class Step(BatchWrites):
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
        cadence: JudgingCadence | None = None,
    ) -> None:
        """`cadence`: when the engine judges (pipeline/runtime/cadence.py); every batch when
        None."""
        self.cadence = cadence or JudgingCadence.every_batch()
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
        self.judging_failures: Counter[JudgingFailure] = Counter()
        """Every organisation whose judgement failed (with the exception's type), how often."""
        self.routes = routes or Routes.none()
        self.routes.bind(self._retrying, self._metrics)
        # Batches prepared and being completed (at most one, in the worker): their accepted
        # event ids, which count as stored for the next batch's duplicate look-ups.
        self._in_flight: dict[int, frozenset[UUID]] = {}
        self._in_flight_changed = threading.Condition()
        self._store_lock = threading.RLock()  # one store call at a time, whatever the thread
        self._waiting: Callable[[], None] = _nothing  # called before a retry's wait
        # ...except a batch's look-ups, when the store runs them on a client of their own
        self._lookup_lock: contextlib.AbstractContextManager[Any] = (
            NO_LOCK if store.lookups_apart else self._store_lock
        )

    # -- state ---------------------------------------------------------------------------

    def restore(self, owns: OwnsOrg | None = None) -> BatchResult:
        """A fresh engine rebuilt from storage for the organisations `owns` accepts (all when
        None); then routes what an earlier run stored but did not route."""
        self.settle()
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
        self.settle()
        self.engine = self._engine_factory()
        self._held = set()
        self._owns = self._held.__contains__
        self._ask_every_new_id = ask_every_new_id
        self.routes.retain(self._owns)

    def _hold(self, messages: Sequence[RawMessage]) -> None:
        """Restore the organisations first seen in `messages`, once no batch is being stored
        (a restore reads and routes what is stored)."""
        if self._held is None:
            return
        new = {org for m in messages if (org := org_of_payload(m.value)) not in self._held}
        new.discard(None)
        if new:
            self.settle()
            orgs = {org for org in new if org is not None}
            self._held.update(orgs)
            self._restore(orgs.__contains__, self._owns)

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
        self._judging_failed(result)
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
        pending = applied - stored  # counted, not stored: never seen (see period_events)
        return RestoredState(
            records,
            [r for r in recent if r.event_id not in pending] if pending else recent,
            latest,
            self._owned_alerts(owns),
            pending,
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
        return self.complete(self.prepare(messages, consumed_by_topic, token))

    def prepare(
        self, messages: Sequence[RawMessage], consumed_by_topic: Mapping[str, int], token: str
    ) -> Prepared:
        """The engine's half of `process`: on the thread that owns the engine. Another batch's
        `complete` may run meanwhile on one other thread (the worker overlaps the two): its
        accepted ids count as stored for this batch's duplicate look-ups."""
        self._hold(messages)
        judge = self.cadence.due(len(messages))
        return self._prepared(
            lambda: self.engine.process(
                messages,
                self._clock(),
                self._known,
                ask_every_new_id=self._ask_every_new_id,
                revisions_of=self._revisions_of,
                judge=judge,
            ),
            consumed_by_topic,
            token,
        )

    def prepare_finish(self, token: str = "finish") -> Prepared:
        """`finish`'s engine half, as `prepare` (the batch before it may be being stored):
        every window that ended is judged; `complete` stores it after that batch."""
        return self._prepared(lambda: self.engine.finish(self._clock()), {}, token)

    def _prepared(
        self, run: Callable[[], BatchResult], consumed_by_topic: Mapping[str, int], token: str
    ) -> Prepared:
        release = pause_collector()
        try:
            result = run()
        except BaseException:
            release()
            raise
        prepared = Prepared(result, consumed_by_topic, token, self.engine.open_windows())
        with self._in_flight_changed:
            # Caught up (nothing being stored) with alerts: the collection this batch's
            # objects call for waits until its alerts are routed (docs/worker.md, latency).
            if not (result.alerts and not self._in_flight):
                release()
            else:
                prepared.release = release
            self._in_flight[id(prepared)] = prepared.ids
        return prepared

    def complete(self, prepared: Prepared) -> BatchResult:
        """The rest of `process`: store (retried), route, count; it never touches the engine,
        so it may run on another thread than `prepare`, one batch at a time, in order."""
        p = prepared
        try:
            return self._complete(p.result, p.consumed, p.token, p.open_windows, p.release)
        finally:
            self.drop(prepared)

    def drop(self, prepared: Prepared) -> None:
        """`prepared` will not be completed (the runtime stops): it is no longer in flight."""
        prepared.release()
        with self._in_flight_changed:
            self._in_flight.pop(id(prepared), None)
            self._in_flight_changed.notify_all()

    def settle(self) -> None:
        """Wait until no prepared batch is being completed (returns at once if none is)."""
        with self._in_flight_changed:
            self._in_flight_changed.wait_for(lambda: not self._in_flight)

    def finish(self, token: str = "finish") -> BatchResult:
        """End of input (embedded runs): judge every window that ended, store and route."""
        self.settle()
        return self.complete(self.prepare_finish(token))

    def judge_pending(self, token: str = "judge") -> BatchResult | None:
        """Judge, store and route what the cadence left unjudged (before a stop or a
        revocation), on the engine's thread; None when nothing was left."""
        self.settle()
        self.cadence.judged()
        if not self.engine.judgement_pending:
            return None
        result = self.engine.judge_pending(self._clock())
        return self._complete(result, {}, token, self.engine.open_windows())

    def _complete(
        self,
        result: BatchResult,
        consumed: Mapping[str, int],
        token: str,
        open_windows: int,
        routed: Callable[[], None] = _nothing,
    ) -> BatchResult:
        """Store, route (then `routed()`), count: all of it in one pause of the collector
        (its collections run between batches, not between one batch's inserts), which ends,
        as does `routed()`'s, before any wait to retry a write."""
        whole = pause_collector()

        def waiting() -> None:
            routed()
            whole()

        def route() -> None:
            self.routes.route(self._store, result)
            routed()

        self._waiting = waiting
        try:
            self._write(result, token, route=route)
        finally:
            self._waiting = _nothing
            whole()
        self._judging_failed(result)
        self._metrics.record_batch(consumed, result)
        self._metrics.open_windows_now(open_windows)
        self._metrics.batch_stored()
        return result

    def _judging_failed(self, result: BatchResult) -> None:
        """Log and count the organisations whose judgement failed (pipeline/core/judging.py:
        the batch is stored without their judgement, and they are judged again later)."""
        for failure in result.judging_failures:
            self.judging_failures[failure] += 1
            log.error(
                "judging organisation %s failed (%s): its alerts and verdicts are held back "
                "until its data next changes, or a restart",
                failure.org_id,
                failure.error,
            )
        if result.judging_failures:
            self._metrics.judging_failed(len(result.judging_failures))

    def _known(self, ids: Collection[UUID]) -> set[UUID]:
        with self._in_flight_changed:
            storing = [batch for batch in self._in_flight.values() if batch]
        found = {i for i in ids if any(i in batch for batch in storing)} if storing else set()
        rest = [i for i in ids if i not in found]
        if rest:
            found |= self._retrying(
                "look up event ids",
                lambda: self._store.known_event_ids(rest),
                lock=self._lookup_lock,
            )
        return found

    def _revisions_of(self, refs: Collection[tuple[str, str]]) -> list[RevisionInForce]:
        return self._retrying(
            "look up revisions", lambda: self._store.revisions_of(refs), lock=self._lookup_lock
        )

    def flush_background_deliveries(self) -> None:
        """Record what background routes (Alertmanager) took (also called when idle)."""
        self.routes.flush(self._store)


@dataclass(slots=True)
class Prepared:
    """A batch the engine has processed (`Step.prepare`), to be stored and routed
    (`Step.complete`). Its `result` is read-only from here on."""

    result: BatchResult
    consumed: Mapping[str, int]
    token: str
    open_windows: int
    ids: frozenset[UUID] = field(init=False)
    release: Callable[[], None] = field(default=_nothing, init=False)
    """Ends the collector's pause held for this batch (`Step.prepare`), if any."""

    def __post_init__(self) -> None:
        self.ids = frozenset(s.event.event_id for s in self.result.accepted)
