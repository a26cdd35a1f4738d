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

State: `restore` and `reset` (runtime/step_state.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from pipeline.core.batch import JudgingFailure
from pipeline.core.engine import BatchResult, Engine, RawMessage
from pipeline.core.revisions import RevisionInForce
from pipeline.core.stored import StoredEvent
from pipeline.runtime.cadence import JudgingCadence
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
from pipeline.runtime.step_state import StepState, owns_every_org

__all__ = ["Abandoned", "Prepared", "RetryPolicy", "SinkHealth", "Step", "collector_paused"]

log = logging.getLogger("pipeline.step")

T = TypeVar("T")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _nothing() -> None:
    pass


class Step(StepState):
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
        self._by_record: set[str] = set()  # restored from their partition's record, unseen since
        self._ask_every_new_id = False
        self.health = SinkHealth()
        self.judging_failures: Counter[JudgingFailure] = Counter()
        """Every organisation whose judgement failed (with the exception's type), how often."""
        self.routes = routes or Routes.none()
        self.routes.bind(self._retrying, self._metrics)
        # Batches prepared and being completed (at most one, in the worker): their accepted
        # event ids count as stored for the next batch's duplicate look-ups.
        self._in_flight: dict[int, Prepared] = {}
        self._in_flight_changed = threading.Condition()
        self._store_lock = threading.RLock()  # one store call at a time, whatever the thread
        self._waiting: Callable[[], None] = _nothing  # called before a retry's wait
        self._storing_batch = False
        # ...except a batch's look-ups, when the store runs them on a client of their own
        self._lookup_lock: contextlib.AbstractContextManager[Any] = (
            NO_LOCK if store.lookups_apart else self._store_lock
        )

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
            self._in_flight[id(prepared)] = prepared
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
            storing = [batch.accepted_ids() for batch in self._in_flight.values()]
        storing = [batch for batch in storing if batch]
        found = {i for i in ids if any(i in batch for batch in storing)} if storing else set()
        rest = [i for i in ids if i not in found]
        if rest:
            found |= self._retrying(
                "look up event ids",
                lambda: self._store.known_event_ids(rest),
                lock=self._lookup_lock,
                read=True,
            )
        return found

    def _revisions_of(self, refs: Collection[tuple[str, str]]) -> list[RevisionInForce]:
        return self._retrying(
            "look up revisions",
            lambda: self._store.revisions_of(refs),
            lock=self._lookup_lock,
            read=True,
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
    release: Callable[[], None] = field(default=_nothing, init=False)
    """Ends the collector's pause held for this batch (`Step.prepare`), if any."""
    _accepted: list[StoredEvent] = field(init=False)
    _ids: frozenset[UUID] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._accepted = self.result.accepted  # as prepared: storing may refuse some later

    def accepted_ids(self) -> frozenset[UUID]:
        """The ids of the events the engine accepted in this batch, made when first asked
        (most batches are stored before the next one asks storage about any id)."""
        if self._ids is None:
            self._ids = frozenset(s.event.event_id for s in self._accepted)
        return self._ids
