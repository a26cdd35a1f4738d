"""What the step waits with: the retry policy, ClickHouse's health, the stop signal's error,
and the cycle collector's pause."""

from __future__ import annotations

import gc
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline.errors import PipelineError


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


_pauses = 0
_pauses_lock = threading.Lock()


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
    runs after the alerts left, not before they are stored."""
    global _pauses
    with _pauses_lock:
        if _pauses == 0 and not gc.isenabled():
            return _nothing
        _pauses += 1
        gc.disable()
    ended = threading.Event()

    def release() -> None:
        global _pauses
        with _pauses_lock:
            if ended.is_set():
                return
            ended.set()
            _pauses -= 1
            if _pauses == 0:
                gc.enable()

    return release


def _nothing() -> None:
    pass
