"""The worker's batch task and a stop: a fetch that faust's stop ends (its consumer thread's
loop closed under it) is not a failure (exit status 0), while the same error otherwise is; and
the next batch's fetch made while the engine takes one."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.adapters.metrics import PipelineMetrics
from pipeline.core.engine import Engine, EngineConfig
from pipeline.errors import TransportError
from pipeline.runtime.step import Step
from pipeline.runtime.worker import WorkerRuntime
from pipeline.settings import Settings
from tests.support.memory_store import MemoryStore


def runtime(tmp_path: Path) -> WorkerRuntime:
    built = WorkerRuntime(
        Settings(topic_prefix="stop", worker_id="stop-test"),
        lambda kafka, on_outage: Step(lambda: Engine(EngineConfig(), b"k" * 32), MemoryStore()),
        PipelineMetrics(),
        datadir=tmp_path,
    )
    crashes: list[BaseException] = []

    async def outputs() -> None:
        pass

    async def crash(exc: BaseException) -> None:
        crashes.append(exc)

    built._declare_outputs = outputs  # type: ignore[method-assign]
    built.app.crash = crash
    built.crashes = crashes  # type: ignore[attr-defined]
    return built


@pytest.mark.parametrize("stopping", [True, False])
def test_a_fetch_the_stop_ends_is_no_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stopping: bool
) -> None:
    worker = runtime(tmp_path)

    async def fetch(timeout: float) -> Any:
        worker._stopping = stopping  # the stop came while the fetch waited
        raise RuntimeError("Event loop is closed")

    monkeypatch.setattr(worker._source, "fetch", fetch)
    try:
        worker.loop.run_until_complete(worker._consume())
    finally:
        worker.loop.close()
    crashes = worker.crashes  # type: ignore[attr-defined]
    if stopping:
        assert worker.exit_code == 0 and crashes == []
    else:
        assert worker.exit_code == 1 and len(crashes) == 1


def test_the_next_batch_is_fetched_while_the_engine_takes_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a backlog the fetch of batch N+1 runs while batch N is in the engine (it waited
    before, about a tenth of a catch-up cycle), and the judging cadence still reads N's own
    backlog; caught up, the next fetch follows the engine (one batch of what arrived)."""
    worker = runtime(tmp_path)
    said: list[str] = []
    backlogs = iter([True, False, True])

    async def fetch(timeout: float) -> Any:
        n = sum(s.startswith("fetched") for s in said) + 1
        await asyncio.sleep(0.01)
        if n > 3:
            worker._stopping = True
            return None
        said.append(f"fetched {n}")
        return SimpleNamespace(n=n, behind=next(backlogs))

    async def handle(batch: Any, ready: Any) -> None:
        said.append(f"engine {batch.n}")
        await asyncio.sleep(0.05)  # the engine thread at work: the next fetch is done meanwhile
        said.append(f"engine {batch.n} judged as behind={worker.step.cadence.backlog()}")

    monkeypatch.setattr(worker._source, "fetch", fetch)
    monkeypatch.setattr(worker._source, "current", lambda batch: True)
    monkeypatch.setattr(worker._flow, "handle", handle)
    try:
        worker.loop.run_until_complete(worker._consume())
    finally:
        worker.loop.close()
    assert said == [
        "fetched 1",
        "engine 1",
        "fetched 2",  # batch 1 had a backlog behind it
        "engine 1 judged as behind=True",
        "engine 2",
        "engine 2 judged as behind=False",
        "fetched 3",  # caught up: fetched after the engine, whatever arrived meanwhile
        "engine 3",
        "engine 3 judged as behind=True",
    ]
    assert worker.exit_code == 0


def test_a_publish_waiting_on_kafka_ends_once_the_batch_is_abandoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Kafka down a send waits (for metadata) until its timeout: a stop that abandons the
    batch ends the wait, so the worker's stop is not held up by it."""
    worker = runtime(tmp_path)
    monkeypatch.setattr("pipeline.runtime.worker.PUBLISH_TIMEOUT_SECONDS", 3600.0)

    async def never_acknowledged(records: Any) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(worker, "_send_all", never_acknowledged)
    loop = threading.Thread(target=worker.loop.run_forever, daemon=True)
    loop.start()
    outcome: list[BaseException] = []

    def publish() -> None:
        try:
            worker._publish([])
        except BaseException as exc:
            outcome.append(exc)

    publishing = threading.Thread(target=publish, daemon=True)
    try:
        publishing.start()
        worker.step.stop.set()
        publishing.join(60)
        assert not publishing.is_alive(), "the publish went on waiting after the stop"
        assert len(outcome) == 1 and isinstance(outcome[0], TransportError)
    finally:  # a turn of the loop first, for the cancelled send to end
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.01), worker.loop).result(10)
        worker.loop.call_soon_threadsafe(worker.loop.stop)
        loop.join(10)
        worker.loop.close()


def test_a_stop_is_not_held_up_by_a_commit_kafka_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kafka went down just before a batch's commit: aiokafka retries it until the coordinator
    is back, and the stop, waiting for the flow's lock, hung until the worker was killed."""
    worker = runtime(tmp_path)
    monkeypatch.setattr("pipeline.runtime.consumer_batches.COMMIT_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr("pipeline.runtime.worker.SHUTDOWN_GRACE_SECONDS", 1.0)

    async def never_acknowledged(offsets: Any) -> bool:
        await asyncio.Event().wait()
        return True

    consumer = SimpleNamespace(_commit=never_acknowledged, _new_topicpartition=lambda t, p: (t, p))
    monkeypatch.setattr(worker._source, "_app", SimpleNamespace(consumer=consumer))
    monkeypatch.setattr(worker._source, "assigned", lambda: {("stop.patient_feedback", 0)})
    worker._source._uncommitted[("stop.patient_feedback", 0)] = 7  # a batch stored

    async def scenario() -> None:
        async def settle() -> None:  # the consuming task, committing the batch it stored
            async with worker._lock:
                await worker._source.commit()

        committing = asyncio.ensure_future(settle())
        await asyncio.sleep(0.05)
        stopped = asyncio.Event()
        worker.begin_shutdown(stopped.set)
        await asyncio.wait_for(stopped.wait(), 30)  # hung for ever before
        await committing

    try:
        worker.loop.run_until_complete(scenario())
    finally:
        worker.loop.close()
    assert worker._source._uncommitted == {("stop.patient_feedback", 0): 7}
