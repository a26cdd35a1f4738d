"""The worker's batch loop (`_consume`), its failure and revocation paths, and the engine's
state when the assignment changes: mixed into `WorkerRuntime` (pipeline/runtime/worker.py),
which sets what is declared here and owns the faust app, publishing, housekeeping and the
worker's start and stop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline.adapters.metrics import PipelineMetrics
from pipeline.errors import StateRefused
from pipeline.runtime.batch_flow import BatchFlow
from pipeline.runtime.consumer_batches import Batch, BatchSource
from pipeline.runtime.step import Step
from pipeline.settings import Settings

log = logging.getLogger("pipeline.worker")

TopicPartition = tuple[str, int]
MOVED_CHECK_SECONDS = 30.0
"""How often a worker holding organisations restored from their recorded partitions, silent
since, checks that they are still recorded on its partitions (`Step.moved_away`)."""


class WorkerBatches:
    """`WorkerRuntime`'s batch task, revocation and state; what they read of the worker is
    declared here."""

    settings: Settings
    metrics: PipelineMetrics
    app: Any
    step: Step
    inputs: list[str]
    exit_code: int
    _source: BatchSource
    _flow: BatchFlow
    _lock: asyncio.Lock
    _stopping: bool
    _backlog: bool
    _restored_for: frozenset[TopicPartition] | None
    _next_moved_check: float
    loop: asyncio.AbstractEventLoop
    _declare_outputs: Callable[[], Awaitable[None]]

    # -- batches ---------------------------------------------------------------------------

    async def _consume(self) -> None:
        """faust task: fetch a batch, run the engine on it while the previous one is stored
        (and, under a backlog, the next one is fetched), then commit the previous one and
        store this one (pipeline/runtime/batch_flow.py); until a stop. A batch is whatever has
        been fetched (up to BATCH_MAX_EVENTS): never held back to fill up, so under load
        batches grow by themselves while the previous one is processed. Caught up, the next
        fetch waits for the engine: it takes everything that arrived meanwhile, as one batch."""
        await self._declare_outputs()
        ahead: asyncio.Future[Batch | None] | None = None  # the next batch's fetch
        try:
            while not self._stopping:
                if ahead is None:
                    if self._flow.stored:
                        async with self._lock:
                            await self._flow.settle()
                    ahead = self._fetch()
                fetching, ahead = ahead, None
                try:
                    batch = await fetching
                except Exception as exc:  # faust would end this task silently: stop instead
                    if self._stopping:  # faust's stop closed the consumer under this fetch
                        log.debug("fetch ended by the stop: %r", exc)
                        return
                    await self._fail("fetching from Kafka failed", exc)
                    return
                async with self._lock:
                    if self._stopping:
                        return  # not processed, not committed: the next run takes them again
                    if batch is None:
                        await self._flow.settle()
                    elif not self._source.current(batch):
                        await self._source.drop(batch)  # no fetch under way meanwhile
                    else:
                        self._backlog = batch.behind
                        if batch.behind:  # the next batch waits: fetched while this one runs
                            ahead = self._fetch()
                        await self._flow.handle(batch, self._ensure_state)
        finally:
            if ahead is not None:  # a stop: what it fetches is read again after a restart
                ahead.cancel()

    def _fetch(self) -> asyncio.Future[Batch | None]:
        return asyncio.ensure_future(self._source.fetch(self.settings.batch_within_seconds))

    def _batch_behind(self) -> bool:
        """Whether the batch being prepared had a backlog behind it (the judging cadence)."""
        return self._backlog

    async def _fail(self, what: str, exc: BaseException) -> None:
        """A bug or a fatal error: stop (exit status 1) without committing anything more.
        A refusal is told without its traceback (the error at its root may quote the rows)."""
        if isinstance(exc, StateRefused):
            log.critical("%s; stopping the worker: %s", what, exc)
        else:
            log.critical("%s; stopping the worker: %r", what, exc, exc_info=exc)
        self._stopping = True
        self.exit_code = 1
        await self.app.crash(exc)

    async def _on_revoked(self, app: Any, /, *revoked: Any, **kwargs: Any) -> None:
        """faust's revoke (flow already stopped): the batch in flight finishes (or, on a stop,
        is abandoned), its offsets are committed, and whatever was fetched before is stale."""
        async with self._lock:
            if await self._flow.settle():
                await self._flow.judge_pending()
            await self._source.commit()
            self._source.revoked()

    # -- state: restore on start-up and when the assignment changes ----------------------

    async def _ensure_state(self) -> bool:
        """On start-up and whenever the assignment changes: forget the engine's state and
        restore from ClickHouse at once the organisations whose latest event came on a
        partition now assigned (their open alerts are posted to Alertmanager again); any other
        is restored when its first event arrives, so a worker holds the organisations its
        partitions bring (docs/worker.md, "Per organisation").
        False when the batch being stored could not be finished (the worker stops)."""
        assigned = self._source.assigned()
        self.metrics.assigned_partitions.set(len(assigned))
        if not assigned or assigned == self._restored_for:
            return True
        if not await self._flow.settle():
            return False
        owned = sorted({partition for _, partition in assigned})
        every = all(set(owned) >= set(range(self._partition_count(t))) for t in self.inputs)
        log.info(
            "partitions %s assigned: %s",
            owned,
            "every organisation is restored now"
            if every
            else "the organisations recorded on them are restored now, others as they arrive",
        )
        reset = functools.partial(self.step.reset, ask_every_new_id=not every, owned=assigned)
        await self._flow.in_engine_thread(reset)
        self._restored_for = assigned
        offsets = self._flow.next_offset
        self._flow.next_offset = {tp: n for tp, n in offsets.items() if tp in assigned}
        return True

    async def _check_moved_away(self) -> None:
        """At most every `MOVED_CHECK_SECONDS`: if an organisation restored from its recorded
        partition at the last assignment, and silent here since, is now recorded on a partition
        this worker does not own, the state is restored again by the next `_ensure_state`
        (`Step.moved_away`)."""
        now = self.loop.time()
        if self._restored_for is None or now < self._next_moved_check:
            return
        self._next_moved_check = now + MOVED_CHECK_SECONDS
        moved = functools.partial(self.step.moved_away, self._restored_for)
        if await self._flow.in_engine_thread(moved):
            log.info(
                "an organisation restored from its recorded partition now arrives on another "
                "worker's: restoring the state again"
            )
            self._restored_for = None

    def _partition_count(self, topic: str) -> int:
        try:
            count = self.app.consumer.topic_partitions(topic)
        except Exception:
            count = None
        return int(count) if count else self.settings.topic_partitions
