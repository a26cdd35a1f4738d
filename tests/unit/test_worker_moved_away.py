"""The worker's check that organisations it restored from their recorded partition still
arrive on its partitions (`WorkerBatches._check_moved_away`, `Step.moved_away`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Any

from pipeline.runtime.worker_batches import MOVED_CHECK_SECONDS, WorkerBatches

OWNED = frozenset({("q.feedback", 0)})


class FakeStep:
    def __init__(self, moved: bool) -> None:
        self.moved = moved
        self.asked: list[frozenset[tuple[str, int]]] = []

    def moved_away(self, owned: Collection[tuple[str, int]]) -> bool:
        self.asked.append(frozenset(owned))
        return self.moved


class InlineFlow:
    async def in_engine_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


class Batches(WorkerBatches):
    def __init__(self, step: FakeStep, loop: asyncio.AbstractEventLoop) -> None:
        self.step = step  # type: ignore[assignment]
        self.loop = loop
        self._flow = InlineFlow()  # type: ignore[assignment]
        self._restored_for = OWNED
        self._next_moved_check = 0.0


def test_a_moved_organisation_makes_the_next_ensure_state_restore_again() -> None:
    loop = asyncio.new_event_loop()
    try:
        step = FakeStep(moved=False)
        batches = Batches(step, loop)
        loop.run_until_complete(batches._check_moved_away())
        assert step.asked == [OWNED] and batches._restored_for == OWNED
        step.moved = True
        loop.run_until_complete(batches._check_moved_away())
        assert step.asked == [OWNED], f"asked again within {MOVED_CHECK_SECONDS} s"
        batches._next_moved_check = loop.time()
        loop.run_until_complete(batches._check_moved_away())
        assert step.asked == [OWNED, OWNED]
        assert batches._restored_for is None, "the assignment counts as new: reset again"
        loop.run_until_complete(batches._check_moved_away())
        assert len(step.asked) == 2, "nothing to check before the next restore"
    finally:
        loop.close()
