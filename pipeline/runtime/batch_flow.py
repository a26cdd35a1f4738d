"""How batches go through the step, in both runtimes: the engine on one thread, storage on another.

Batch N is stored and routed (`Step.complete`, on the store thread) while batch N+1 is fetched
and run through the engine (`Step.prepare`, on the engine thread, the only one that touches
the engine). At most one batch is being stored; N+1 starts being stored only after N is
stored, routed and its offsets committed, so commits stay in order and nothing is committed
that is not stored. A stop or a failure leaves the batch being stored, and the one prepared
after it, uncommitted (they come again after a restart; the sink is idempotent).

chDB runs its inserts in C++ without Python's lock, so the store thread's ClickHouse work runs
beside the engine's Python work on a second core (docs/worker.md, "Measured").

One flow, two transports: the worker's source is faust's consumer
(pipeline/runtime/consumer_batches.py), the embedded runner's is the lines of its files
(pipeline/runtime/embedded.py). A source only has to say what a batch holds (`FlowBatch`) and
take the batches once they are stored (`FlowSource`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pipeline.core.engine import BatchResult, RawMessage
from pipeline.errors import StateRefused
from pipeline.runtime.step import Abandoned, Step

log = logging.getLogger("pipeline.worker")

T = TypeVar("T")
TopicPartition = tuple[str, int]
Fail = Callable[[str, BaseException], Awaitable[None]]


class FlowBatch(Protocol):
    """A batch a source hands over."""

    def messages(self) -> tuple[list[RawMessage], dict[str, int], str]:
        """The step's input: raw messages, their count per input (topic or file), and the
        deduplication token of the batch (empty: none)."""
        ...

    def next_offsets(self) -> dict[TopicPartition, int]:
        """Kafka's offsets to commit once stored (empty for a source without offsets)."""
        ...


class FlowSource(Protocol):
    """Where batches come from, told in order of every batch stored (and routed)."""

    def processed(self, batch: Any, result: BatchResult) -> None:
        """`batch` is stored and routed; `result` is what the step made of it."""

    async def commit(self) -> bool:
        """Acknowledge every batch `processed` so far (True when done or nothing to do)."""
        ...


async def _ready() -> bool:
    return True


def failure_of(exc: BaseException) -> str:
    """What stopped the flow, as the log line that stops a runtime says it."""
    if isinstance(exc, StateRefused):
        return "ClickHouse refused the pipeline's own rows for good"
    return "processing failed"


@dataclass(slots=True)
class _Storing:
    """A batch the engine processed, being stored and routed on the store thread."""

    batch: FlowBatch
    done: asyncio.Future[BatchResult]
    started: float


class BatchFlow:
    """The engine and store threads, the batch being stored, and the commits after it.

    `lock` is held by whoever moves batches (the consuming task, a revocation, the drain on a
    stop, housekeeping); `fail` stops the worker after an unexpected error.
    """

    def __init__(
        self,
        step: Step,
        source: FlowSource,
        loop: asyncio.AbstractEventLoop,
        fail: Fail,
        *,
        engine_inline: bool = False,
    ) -> None:
        """`engine_inline`: the engine runs on the loop's own thread (the embedded runner's
        main thread, where Ctrl-C interrupts it at once) instead of an engine thread; the loop
        then waits for it, which only a runtime with nothing else on its loop can afford."""
        self.step = step
        self.lock = asyncio.Lock()
        self.next_offset: dict[TopicPartition, int] = {}  # per partition, after the last stored
        self._source = source
        self._loop = loop
        self._fail = fail
        self._engine_inline = engine_inline
        self._engine_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-step")
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-store")
        self._storing: _Storing | None = None

    async def in_engine_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._engine_inline:
            return fn(*args)
        return await self._loop.run_in_executor(self._engine_thread, fn, *args)

    async def in_store_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._loop.run_in_executor(self._store_thread, fn, *args)

    @property
    def storing(self) -> bool:
        """True while a batch is being stored or waits to be committed."""
        return self._storing is not None

    @property
    def stored(self) -> bool:
        """True when a batch was being stored and is done (settle it to commit it)."""
        return self._storing is not None and self._storing.done.done()

    async def handle(self, batch: FlowBatch, ready: Callable[[], Awaitable[bool]]) -> None:
        """`ready()` (the state for the current assignment), the engine on `batch` while the
        previous batch is stored, then the previous batch committed, then `batch` stored."""
        await self._handle(batch, ready, end=False)

    async def finish(self, batch: FlowBatch) -> None:
        """End of input (embedded runs): the engine's last judgement (`Step.prepare_finish`)
        while the last batch is stored, then stored after it as `batch` (no messages)."""
        await self._handle(batch, _ready, end=True)

    async def _handle(
        self, batch: FlowBatch, ready: Callable[[], Awaitable[bool]], *, end: bool
    ) -> None:
        started = time.perf_counter()
        try:
            if not await ready():
                return
            messages, consumed, token = batch.messages()
            if end:
                prepared = await self.in_engine_thread(self.step.prepare_finish, token)
            else:
                step = self.step
                prepared = await self.in_engine_thread(step.prepare, messages, consumed, token)
        except Abandoned as exc:
            log.warning("batch not finished, not acknowledged (%s)", exc)
            return
        except Exception as exc:  # a bug: stop without acknowledging anything more
            await self._fail(failure_of(exc), exc)
            return
        if not await self.settle():
            self.step.drop(prepared)
            return
        done = self._loop.run_in_executor(self._store_thread, self.step.complete, prepared)
        self._storing = _Storing(batch, done, started)

    async def settle(self) -> bool:
        """Wait for the batch being stored, if any, and commit it (False: it was abandoned on
        a stop, or failed and the worker stops; nothing of it is committed)."""
        storing, self._storing = self._storing, None
        if storing is None:
            return True
        batch = storing.batch
        try:
            result = await storing.done
        except Abandoned as exc:
            log.warning("batch not finished, not acknowledged (%s)", exc)
            return False
        except Exception as exc:  # a bug: stop without acknowledging anything more
            await self._fail(failure_of(exc), exc)
            return False
        offsets = batch.next_offsets()
        log.debug(
            "batch of %d messages from %d partitions: %d accepted, %d rejected, %d duplicates, "
            "%d alert versions, in %.3fs",
            result.read,
            len(offsets),
            len(result.accepted),
            len(result.rejected),
            result.duplicates,
            len(result.alerts),
            time.perf_counter() - storing.started,
        )
        self.next_offset.update(offsets)
        self._source.processed(batch, result)
        await self._source.commit()
        return True

    async def drain(self, grace: float, abandon: Callable[[], None]) -> None:
        """On a stop (the lock held): wait up to `grace` seconds for the batch being stored,
        then `abandon()` it; commit what was stored."""
        deadline = self._loop.time() + grace
        storing = self._storing
        if storing is not None and not self.step.stop.is_set():
            try:
                await asyncio.wait_for(asyncio.shield(storing.done), max(0.0, grace))
            except TimeoutError:
                abandon()
            except Exception:
                pass  # `settle` says what it was
        if await self.settle():
            await self.judge_pending(deadline - self._loop.time(), abandon)
        await self._source.commit()

    async def judge_pending(
        self, grace: float | None = None, abandon: Callable[[], None] = lambda: None
    ) -> None:
        """Judge and store what the step's cadence left unjudged (before the partitions go
        to another worker, or a stop: then `abandon()` after `grace` seconds). Should that
        not finish, nothing is lost: a restore judges again every organisation whose stored
        judgement does not cover its windows."""
        if self.step.stop.is_set():
            return
        judging = asyncio.ensure_future(self.in_engine_thread(self.step.judge_pending))
        try:
            if grace is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(judging), max(0.0, grace))
                except TimeoutError:
                    abandon()
            await judging
        except Abandoned as exc:
            log.warning("pending judgement not stored (%s): a restore judges it", exc)
        except Exception as exc:
            log.error("pending judgement failed (%r): a restore judges it", exc)

    def shutdown(self) -> None:
        self._engine_thread.shutdown(wait=True)
        self._store_thread.shutdown(wait=True)
