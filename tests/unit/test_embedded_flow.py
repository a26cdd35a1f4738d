"""The embedded runner drives the worker's batch flow: the engine on batch N+1 while batch N is
stored, the same tally as one batch after another, errors raised as they are."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.alerts import AlertStatus
from pipeline.core.detection.verdicts import Verdict, VerdictClass
from pipeline.core.engine import Engine, EngineConfig, RawMessage
from pipeline.core.judgements import JudgedMark
from pipeline.core.stored import StoredEvent
from pipeline.runtime.embedded import EmbeddedRunner
from pipeline.runtime.step import Prepared, Step
from pipeline.simulation import SimulationConfig, simulate_trust
from tests.support.events import feedback
from tests.support.memory_store import MemoryStore

NOW = datetime(2024, 6, 1, tzinfo=UTC)
KEY = b"unit-test-key-0123456789"


class SlowFirstStore(MemoryStore):
    """Holds the first events insert until the engine has started on the next batch (or 5 s
    have passed), and notes the threads that stored."""

    def __init__(self, next_prepared: threading.Event) -> None:
        super().__init__()
        self.next_prepared = next_prepared
        self.overlapped: bool | None = None
        self.threads: set[str] = set()

    def write_events(self, accepted: Sequence[StoredEvent], token: str) -> None:
        self.threads.add(threading.current_thread().name)
        if self.overlapped is None:
            self.overlapped = self.next_prepared.wait(5.0)
        super().write_events(accepted, token)


class CountingStep(Step):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepared = 0
        self.second = threading.Event()
        self.threads: set[str] = set()

    def prepare(
        self, messages: Sequence[RawMessage], consumed_by_topic: Mapping[str, int], token: str
    ) -> Prepared:
        self.prepared += 1
        self.threads.add(threading.current_thread().name)
        if self.prepared == 2:
            self.second.set()
        return super().prepare(messages, consumed_by_topic, token)


def events_file(tmp_path: Path, count: int = 12) -> Path:
    start = datetime(2024, 3, 4, 1, tzinfo=UTC)
    lines = [
        json.dumps(feedback(org_id="RXA", occurred_at=(start + timedelta(days=3 * i)).isoformat()))
        for i in range(count)
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([*lines, lines[0], "not json", ""]) + "\n")
    return path


def runner(store: MemoryStore, batch_lines: int) -> tuple[EmbeddedRunner, CountingStep]:
    step = CountingStep(lambda: Engine(EngineConfig(), KEY), store, clock=lambda: NOW)
    step.restore()
    return EmbeddedRunner(step, batch_lines=batch_lines, progress_stream=io.StringIO()), step


def test_storing_a_batch_overlaps_the_engine_on_the_next(tmp_path: Path) -> None:
    path = events_file(tmp_path)
    store = SlowFirstStore(threading.Event())
    run, step = runner(store, batch_lines=4)
    store.next_prepared = step.second

    summary = run.run([str(path)])

    assert store.overlapped is True, "batch 1 was stored only after the engine had batch 2"
    assert step.threads == {threading.current_thread().name}
    assert store.threads == {"pipeline-store_0"}
    assert step.prepared == 4  # 14 lines in batches of 4
    assert (summary.read, summary.accepted, summary.duplicates, summary.rejected) == (14, 12, 1, 1)
    assert len(store.events) == 12


def test_the_tally_is_that_of_one_batch_at_a_time(tmp_path: Path) -> None:
    path = events_file(tmp_path, count=30)
    whole, _ = runner(MemoryStore(), batch_lines=1_000)
    batched, _ = runner(MemoryStore(), batch_lines=3)

    one, many = whole.run([str(path)]), batched.run([str(path)])

    assert one.as_json() == many.as_json()
    alerts = [a.alert_id for a in whole.final_alerts()]
    assert alerts == [a.alert_id for a in batched.final_alerts()]


class FinishingStep(Step):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.finishing = threading.Event()

    def prepare_finish(self, token: str = "finish") -> Prepared:
        self.finishing.set()
        return super().prepare_finish(token)


class SlowLastStore(MemoryStore):
    """Holds the events insert of `last` events until the input's end is being judged (or
    5 s have passed)."""

    def __init__(self, last: int, finishing: threading.Event) -> None:
        super().__init__()
        self.last = last
        self.finishing = finishing
        self.overlapped: bool | None = None

    def write_events(self, accepted: Sequence[StoredEvent], token: str) -> None:
        if len(accepted) == self.last:
            self.overlapped = self.finishing.wait(5.0)
        super().write_events(accepted, token)


def test_the_last_judgement_overlaps_storing_the_last_batch(tmp_path: Path) -> None:
    path = events_file(tmp_path)  # 12 events in 14 lines: the last batch of 5 holds 2
    finishing = threading.Event()
    store = SlowLastStore(2, finishing)
    step = FinishingStep(lambda: Engine(EngineConfig(), KEY), store, clock=lambda: NOW)
    step.finishing = finishing
    step.restore()

    summary = EmbeddedRunner(step, batch_lines=5, progress_stream=io.StringIO()).run([str(path)])

    assert store.overlapped is True, "the last batch was stored before the end was judged"
    assert summary.accepted == len(store.events) == 12
    assert store.writes[-1] == "", "the end's judgement stored after the last batch"


class JudgementsStore(MemoryStore):
    """Counts the writes of judgement marks (one per judgement that judged anything)."""

    def __init__(self) -> None:
        super().__init__()
        self.judgements = 0

    def write_judged(self, marks: Sequence[JudgedMark], token: str) -> None:
        self.judgements += bool(marks)
        super().write_judged(marks, token)


def test_a_replay_judges_once_its_input_ends_and_keeps_what_every_batch_would(
    tmp_path: Path,
) -> None:
    events = simulate_trust(SimulationConfig(seed=9, orgs=2, units_per_org=4, weeks=40)).events
    path = tmp_path / "trust.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    replayed = JudgementsStore()
    run, _ = runner(replayed, batch_lines=500)
    run.run([str(path)])
    each = JudgementsStore()  # the same batches, one after another, each one judged
    step = Step(lambda: Engine(EngineConfig(), KEY), each, clock=lambda: NOW)
    step.restore()
    lines = [RawMessage(json.dumps(e).encode(), f"sim:{i}") for i, e in enumerate(events)]
    for first in range(0, len(lines), 500):
        step.process(lines[first : first + 500], {}, f"t{first}")
    step.finish()

    def standing(store: MemoryStore) -> list[tuple[object, ...]]:
        return sorted(
            (a.alert_id, a.status, a.window_end, a.severity, a.summary, a.evidence)
            for a in store.alerts.values()
            if a.status is not AlertStatus.WITHDRAWN
        )

    def verdicts(store: MemoryStore) -> dict[tuple[object, ...], Verdict]:
        """The latest verdict of each window and measure, withdrawn ones left out (a first
        judgement of an organisation withdraws every window it gives no verdict, which
        storage may hold from before: judged once, those are all of its early windows)."""
        latest = {}
        for row in sorted(store.verdicts, key=lambda r: r.version):
            v = row.verdict
            latest[(v.org_id, v.unit_id, v.measure, v.window)] = v
        return {k: v for k, v in latest.items() if v.verdict is not VerdictClass.WITHDRAWN}

    assert standing(replayed) and standing(replayed) == standing(each)
    assert verdicts(replayed) and verdicts(replayed) == verdicts(each)
    assert replayed.windows == each.windows
    assert replayed.marks.keys() == each.marks.keys()
    assert replayed.judgements == 1 and each.judgements > 1
    assert len(replayed.history) < len(each.history), "no versions of early views"


class FailingStore(MemoryStore):
    def write_events(self, accepted: Sequence[StoredEvent], token: str) -> None:
        if self.writes:
            raise RuntimeError("a bug in the store")
        super().write_events(accepted, token)


def test_an_error_while_storing_is_raised_as_it_is_and_the_threads_end(tmp_path: Path) -> None:
    path = events_file(tmp_path)
    store = FailingStore()
    run, step = runner(store, batch_lines=4)
    before = {t.name for t in threading.enumerate()}

    with pytest.raises(RuntimeError, match="a bug in the store"):
        run.run([str(path)])

    assert step.stop.is_set()
    left = {t.name for t in threading.enumerate()} - before
    assert not {name for name in left if name.startswith("pipeline-")}
