"""What the step waits with: the retry policy, ClickHouse's health, the stop signal's error,
and the cycle collector's pause."""

from __future__ import annotations

import contextlib
import gc
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from pipeline.errors import PipelineError, SinkError, SinkRejected, StateRefused
from pipeline.runtime.ports import Metrics

log = logging.getLogger("pipeline.step")
T = TypeVar("T")


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
    rows (dead-lettered, the stream goes on). `writes_failing`: a write failed during this
    outage, so only a batch stored whole ends it (a read, or one small insert, succeeding
    meanwhile does not: ClickHouse out of disk still answers both); `failures`: the failed
    calls since the outage began."""

    down: bool = False
    writes_failing: bool = False
    failures: int = 0
    refused_rows: int = 0
    last_refusal: str = ""


_pauses = 0
_pauses_lock = threading.Lock()


@dataclass(slots=True)
class _OnResume:
    """What happens when the last pause ends (`freeze_on_resume`)."""

    freeze: bool = False
    every: float = 60.0
    next_full: float = 0.0

    def full_due(self) -> bool:
        now = time.monotonic()
        if now < self.next_full:
            return False
        self.next_full = now + self.every
        return True


_on_resume = _OnResume()


def freeze_on_resume(every: float | None = 60.0) -> None:
    """From now on, when the last pause ends, freeze what the paused work left alive (the
    engine's state, the batch being stored, the next batch) instead of letting the young
    generation's first collection walk it all, and every `every` seconds collect everything
    instead (then freeze again), so cyclic garbage waits at most about that long. `None`:
    back to plain pauses (the collector resumes over whatever is young).

    Without it, each pause's end costs a collection of every object the batch left alive:
    measured on a replay of the benchmark's file, 44-45 such collections took 1.2-1.3 s of
    the engine thread's CPU, and the older generations' 0.7-0.9 s more (docs/worker.md).
    A composition root's choice (process-wide, like the collector); `gc.freeze` and
    `gc.unfreeze` only move lists, whatever their length."""
    _on_resume.freeze = every is not None
    _on_resume.every = every or 0.0
    _on_resume.next_full = time.monotonic() + _on_resume.every


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while the engine works on one batch, or one attempt to
    store or route it runs (never while waiting to retry).

    A batch allocates tens of thousands of objects that live until it is stored (events,
    their storable forms, rows), so the collector would walk them again and again, finding
    no cycles (none of them holds one): about a fifth of the step's time in
    `bench/replay_throughput.py`. Reference counting frees everything as usual meanwhile.
    The collector is one per process, so pauses are counted: the worker's engine thread and
    its storage thread may each be in one, and the collector runs again (on the next
    allocations past its threshold) as soon as the last of them ends. A collector that was
    off before (someone else's choice) is left off.
    """
    release = pause_collector()
    try:
        yield
    finally:
        release()


def pause_collector() -> Callable[[], None]:
    """`collector_paused` as a pause that ends when the returned function is first called,
    from any thread (later calls do nothing): the step holds one from a caught-up batch's
    engine run until its alerts are routed, so the collection the batch's objects call for
    runs after the alerts left, not before they are stored. The last pause's end does what
    `freeze_on_resume` asked for."""
    global _pauses
    with _pauses_lock:
        if _pauses == 0 and not gc.isenabled():
            return _nothing
        _pauses += 1
        gc.disable()
    ended = threading.Event()

    def release() -> None:
        global _pauses
        full = False
        with _pauses_lock:
            if ended.is_set():
                return
            ended.set()
            _pauses -= 1
            if _pauses == 0:
                if _on_resume.freeze:
                    full = _on_resume.full_due()
                    if not full:
                        gc.freeze()
                gc.enable()
        if full:  # outside the lock: a finalizer run by the collection may pause too
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    return release


def _nothing() -> None:
    pass


class RetryingCalls:
    """`_retrying`, the step's one retry loop, for `Step` and the classes mixed into it; what
    it reads of the step is declared here and set by `Step.__init__`."""

    stop: threading.Event
    health: SinkHealth
    _retry: RetryPolicy
    _metrics: Metrics
    _on_outage: Callable[[bool], None]
    _waiting: Callable[[], None]  # called before a retry's wait
    _store_lock: threading.RLock
    _storing_batch: bool  # within `BatchWrites._write`

    def _retrying(
        self,
        what: str,
        action: Callable[[], T],
        *,
        errors: tuple[type[Exception], ...] = (SinkError,),
        route: str | None = None,
        refusals: bool = False,
        lock: contextlib.AbstractContextManager[Any] | None = None,
        read: bool = False,
    ) -> T:
        """`action()` until it succeeds; failures of `errors` are waited out with backoff.
        A `SinkRejected` is never retried (the same rows fail the same way): raised as it is
        with `refusals` (the caller dead-letters the rows at fault), otherwise as
        `StateRefused` (the pipeline's own rows: the runtime stops). After a stop:
        `Abandoned`. Store calls hold the store lock (`lock`, when given, instead); routes
        hold none. ClickHouse is down from a store call's failure until a batch is stored
        whole, or, if no write failed meanwhile, until any store call (`read` or not)
        succeeds (`_sink_answered`)."""
        delays = self._retry.delays()
        attempts = 0
        while True:
            if self.stop.is_set():
                raise Abandoned(f"stopped before it could {what}")
            try:
                held = lock or (self._store_lock if route is None else NO_LOCK)
                with collector_paused(), held:
                    value = action()
            except errors as exc:
                if isinstance(exc, SinkRejected):
                    if refusals:
                        raise
                    raise StateRefused(
                        f"cannot {what}: {exc}. Retrying cannot store these rows and going on "
                        "without them would lose state, so the batch is not acknowledged"
                    ) from None  # ClickHouse's own error may quote the rows
                attempts += 1
                delay = next(delays)
                if route is None:
                    self._sink_failed(read=read)
                else:
                    self._metrics.routing_failed(route)
                log.warning(
                    "%s failed (attempt %d), retrying in %.1fs: %s", what, attempts, delay, exc
                )
                self._waiting()
                if self.stop.wait(delay):
                    raise Abandoned(f"stopped while waiting to {what}") from exc
                continue
            if route is None:
                self._sink_answered(what, read=read)
            return value

    def _sink_failed(self, *, read: bool) -> None:
        health = self.health
        health.failures += 1
        if not read:
            health.writes_failing = True
        began = not health.down
        health.down = True  # before the gauge: a look-up answered meanwhile sees it
        self._metrics.sink_retried()
        self._metrics.sink_state(False)
        if began:
            self._on_outage(True)

    def _sink_answered(self, what: str, *, read: bool) -> None:
        """A store call succeeded: ClickHouse is back, unless a write failed in this outage
        and this is a read or one write of a batch (`_sink_back` at the batch's end)."""
        health = self.health
        if health.down and health.writes_failing and (read or self._storing_batch):
            return
        self._sink_back(what)

    def _sink_back(self, what: str) -> None:
        self._metrics.sink_state(True)
        health = self.health
        if health.down:
            log.info("%s succeeded after %d failed calls", what, health.failures)
            health.down = health.writes_failing = False
            health.failures = 0
            self._on_outage(False)


NO_LOCK = contextlib.nullcontext()
