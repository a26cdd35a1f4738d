"""The worker's batch task and a stop: a fetch that faust's stop ends (its consumer thread's
loop closed under it) is not a failure (exit status 0), while the same error otherwise is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.metrics import PipelineMetrics
from pipeline.core.engine import Engine, EngineConfig
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
