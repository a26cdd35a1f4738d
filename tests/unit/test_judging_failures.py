"""A failure inside judging stays with its organisation (pipeline/core/judging.py): the other
organisations are judged as if it were not there, nothing of its failed judgement is kept (it
is judged again, whole, on its next change), and both runtimes go on: the batch is stored and
committed, the failure counted, logged (the organisation and the exception's type, never its
message) and shown in the replay's summary."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.metrics import PipelineMetrics
from pipeline.cli.replay import format_summary
from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.batch import BatchResult, JudgingFailure
from pipeline.core.decode import RawMessage
from pipeline.core.detection import Detector, Finding
from pipeline.core.detection.verdicts import VerdictClass
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.verdict_book import VerdictRow
from pipeline.endpoints import ClickHouseDsn
from pipeline.runtime.batch_flow import BatchFlow, TopicPartition
from pipeline.runtime.embedded import EmbeddedRunner
from pipeline.runtime.step import Step
from pipeline.simulation import SimulationConfig, simulate_trust
from tests.support.memory_store import MemoryStore

NOW = datetime(2025, 1, 1, tzinfo=UTC)
KEY = b"judging-failures-key-0123456"
FAILING = "RJ1"  # one of the simulated trust's three organisations, with alerts of its own
SECRET = "the patient in bed 4 said"  # an exception's message may quote an event's text
BATCH = 2_000


class FailingFor:
    """The real detector, raising for the organisations in `failing` (a bug or a numerical
    corner in detection): in `units_findings`, or in `org_findings` after it (`where`)."""

    def __init__(self, *failing: str, where: str = "units") -> None:
        self.failing = set(failing)
        self.where = where
        self._real = Detector()

    def units_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        self._fault(units, "units")
        return self._real.units_findings(units)

    def org_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        self._fault(units, "org")
        return self._real.org_findings(units)

    def _fault(self, units: Mapping[str, Sequence[UnitWindowAggregate]], where: str) -> None:
        orgs = {a.org_id for windows in units.values() for a in windows}
        if where == self.where and orgs & self.failing:
            raise ZeroDivisionError(SECRET)


@cache
def trust_lines() -> tuple[bytes, ...]:
    trust = simulate_trust(SimulationConfig(orgs=3, units_per_org=3, weeks=30, seed=11))
    return tuple(json.dumps(e).encode() for e in trust.events)


def batches() -> list[list[RawMessage]]:
    lines = trust_lines()
    return [
        [RawMessage(line, f"t:{n}") for n, line in enumerate(lines[i : i + BATCH], i)]
        for i in range(0, len(lines), BATCH)
    ]


def engine(detector: FailingFor) -> Engine:
    return Engine(EngineConfig(), KEY, detector=detector)


def others(result: BatchResult) -> dict[str, Any]:
    """What a judgement hands on about every organisation but FAILING (a mark's `judged_at`
    left out: it is the batch's alert stamp when the batch raised alerts, else the clock)."""
    return {
        "alerts": [a for a in result.alerts if a.org_id != FAILING],
        "verdicts": repr([r for r in result.verdicts if r.verdict.org_id != FAILING]),
        "board": repr([r for r in result.board if r.org_id != FAILING]),
        "bright": repr([s for s in result.bright_spots if s.org_id != FAILING]),
        "marks": [(m.org_id, m.mark, m.digest) for m in result.judged if m.org_id != FAILING],
    }


def stored_verdicts(rows: list[VerdictRow]) -> str:
    """What storage's readers see of verdict rows: per key the highest version, later rows
    winning ties, withdrawn ones left out (the verdicts: one handed out a judgement late has
    that judgement's higher version)."""
    kept: dict[tuple[str, str, str, datetime], VerdictRow] = {}
    for row in rows:
        v = row.verdict
        key = (v.org_id, v.unit_id, v.measure, v.window.start)
        if key not in kept or row.version >= kept[key].version:
            kept[key] = row
    shown = [(k, r.verdict) for k, r in kept.items() if r.verdict.verdict != VerdictClass.WITHDRAWN]
    return repr(sorted(shown))


def test_the_other_organisations_are_judged_as_if_the_failing_one_were_not_there() -> None:
    faulty, sound = engine(FailingFor(FAILING)), engine(FailingFor())
    failed = 0
    for batch in [*batches(), None]:
        f = faulty.process(batch, NOW) if batch is not None else faulty.finish(NOW)
        s = sound.process(batch, NOW) if batch is not None else sound.finish(NOW)
        assert others(f) == others(s)
        assert FAILING not in {m.org_id for m in f.judged}
        assert not [r for r in f.verdicts if r.verdict.org_id == FAILING]
        judged = FAILING in {m.org_id for m in s.judged}
        assert f.judging_failures == ([JudgingFailure(FAILING, "ZeroDivisionError")] * judged)
        failed += judged

    assert failed > 1, "the failing organisation was judged, and failed, more than once"
    assert any(a.org_id == FAILING for a in sound.alerts), "it has alerts when it does not fail"
    assert faulty.alerts == [a for a in sound.alerts if a.org_id != FAILING]
    assert len({a.org_id for a in faulty.alerts}) > 0


@pytest.mark.parametrize("where", ["units", "org"])
def test_a_failed_judgement_leaves_nothing_and_its_organisation_is_judged_on_its_next_change(
    where: str,
) -> None:
    """It fails in a batch after it was judged (its verdicts and alerts held), then the fault
    is gone: its next judgement hands out what the failed one would have, so storage ends
    with exactly what a run without the failure stores."""
    detector = FailingFor(where=where)
    faulty, sound = engine(detector), engine(FailingFor())
    rows: dict[str, list[VerdictRow]] = {"faulty": [], "sound": []}
    chunks = batches()
    fails_at = len(chunks) * 2 // 3
    for i, batch in enumerate(chunks):
        detector.failing = {FAILING} if i == fails_at else set()
        f, s = faulty.process(batch, NOW), sound.process(batch, NOW)
        rows["faulty"] += f.verdicts
        rows["sound"] += s.verdicts
        if i == fails_at:
            assert [r for r in s.verdicts if r.verdict.org_id == FAILING], "it had news"
            assert f.judging_failures == [JudgingFailure(FAILING, "ZeroDivisionError")]
            still = faulty.process([], NOW)  # nothing changed: not judged (and failing) again
            assert still.judging_failures == [] and still.judged == []
        if i == fails_at + 1:
            marks = {m.org_id: m.digest for m in f.judged}
            assert marks[FAILING] == {m.org_id: m.digest for m in s.judged}[FAILING]
    rows["faulty"] += faulty.finish(NOW).verdicts
    rows["sound"] += sound.finish(NOW).verdicts

    assert stored_verdicts(rows["faulty"]) == stored_verdicts(rows["sound"])
    latest = {a.alert_id: a for a in sound.alerts}
    assert faulty.alerts and len(faulty.alerts) == len(latest)
    assert all(a.same_finding(latest[a.alert_id]) for a in faulty.alerts)


def failing_step(store: MemoryStore, metrics: PipelineMetrics | None = None) -> Step:
    step = Step(lambda: engine(FailingFor(FAILING)), store, metrics=metrics, clock=lambda: NOW)
    step.restore()
    return step


def test_a_replay_goes_on_and_reports_the_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(trust_lines()) + b"\n")
    store = MemoryStore()
    runner = EmbeddedRunner(failing_step(store), batch_lines=BATCH, progress_stream=io.StringIO())

    with caplog.at_level(logging.ERROR, logger="pipeline.step"):
        summary = runner.run([str(path)])

    assert summary.read == summary.accepted == len(trust_lines())
    assert len(store.events) == len(trust_lines()), "every event stored"
    orgs = {a.org_id for a in store.alerts.values()}
    assert orgs and FAILING not in orgs, "the other organisations' alerts are stored"
    (failure,) = summary.judging_failures
    assert failure == JudgingFailure(FAILING, "ZeroDivisionError")
    times = summary.judging_failures[failure]
    assert times == 1, "a replay judges once, when its input ends"
    assert summary.as_json()["judging_failures"] == [
        {"org_id": FAILING, "error": "ZeroDivisionError", "count": times}
    ]
    text = format_summary(summary, ClickHouseDsn.parse("chdb:///tmp/replay"))
    assert f"judging failed for organisation {FAILING} (ZeroDivisionError), {times} times" in text
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == times, "one line per failure"
    assert all(FAILING in line and "ZeroDivisionError" in line for line in logged)
    assert SECRET not in caplog.text + text


class _Batch:
    def __init__(self, messages: list[RawMessage], offset: int) -> None:
        self._messages = messages
        self._offset = offset

    def messages(self) -> tuple[list[RawMessage], dict[str, int], str]:
        return self._messages, {"q.events": len(self._messages)}, f"q.events/0@{self._offset}"

    def next_offsets(self) -> dict[TopicPartition, int]:
        return {("q.events", 0): self._offset}


class _Consumer:
    """The worker's source as the flow sees it: what was stored, then committed."""

    def __init__(self) -> None:
        self.processed_offsets: list[int] = []
        self.committed: list[int] = []

    def processed(self, batch: _Batch, result: BatchResult) -> None:
        self.processed_offsets.append(batch.next_offsets()[("q.events", 0)])

    async def commit(self) -> bool:
        self.committed = list(self.processed_offsets)
        return True


def test_the_worker_stores_commits_and_counts_a_batch_whose_judging_failed() -> None:
    store, metrics, consumer = MemoryStore(), PipelineMetrics(), _Consumer()
    step = failing_step(store, metrics)
    loop = asyncio.new_event_loop()

    async def fail(what: str, exc: BaseException) -> None:
        raise exc

    async def ready() -> bool:
        return True

    async def feed() -> bool:
        flow = BatchFlow(step, consumer, loop, fail)
        try:
            for n, batch in enumerate(batches()):
                await flow.handle(_Batch(batch, n + 1), ready)
            return await flow.settle()
        finally:
            flow.shutdown()

    try:
        assert loop.run_until_complete(feed())
    finally:
        loop.close()

    assert consumer.committed == list(range(1, len(batches()) + 1)), "every batch committed"
    assert len(store.events) == len(trust_lines())
    counted = metrics.registry.get_sample_value("pipeline_judging_failures_total")
    assert counted == sum(step.judging_failures.values()) > 1


def test_a_restart_judges_the_failed_organisation_again_and_only_it() -> None:
    """Its judgement mark was not stored, so the restore judges it. While the fault lasts the
    restore still completes (the worker starts, no crash loop), the failure counted; once
    fixed, storage holds what a run without the failure stores."""
    detector = FailingFor()
    store, sound_store = MemoryStore(), MemoryStore()
    step = Step(lambda: engine(detector), store, clock=lambda: NOW)
    sound = Step(lambda: engine(FailingFor()), sound_store, clock=lambda: NOW)
    step.restore()
    sound.restore()
    chunks = batches()
    for i, batch in enumerate(chunks):
        detector.failing = {FAILING} if i == len(chunks) - 1 else set()
        result = step.process(batch, {"t": len(batch)}, f"t{i}")
        sound.process(batch, {"t": len(batch)}, f"t{i}")
    assert result.judging_failures == [JudgingFailure(FAILING, "ZeroDivisionError")]
    assert stored(store) != stored(sound_store)

    metrics = PipelineMetrics()
    still = Step(lambda: engine(FailingFor(FAILING)), store, metrics=metrics, clock=lambda: NOW)
    failed = still.restore()
    assert failed.judging_failures == [JudgingFailure(FAILING, "ZeroDivisionError")]
    assert failed.judged == [] and failed.alerts == []
    assert metrics.registry.get_sample_value("pipeline_judging_failures_total") == 1

    restored = Step(lambda: engine(FailingFor()), store, clock=lambda: NOW).restore()

    assert {m.org_id for m in restored.judged} == {FAILING}
    assert restored.judging_failures == []
    assert stored(store) == stored(sound_store)


def stored(store: MemoryStore) -> tuple[list[dict[str, Any]], str]:
    """The latest alerts (their findings) and verdicts a store holds."""
    alerts = sorted(store.alerts.values(), key=lambda a: a.alert_id)
    return [a.model_dump(exclude={"detected_at"}) for a in alerts], stored_verdicts(store.verdicts)
