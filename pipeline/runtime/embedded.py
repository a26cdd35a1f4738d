"""The embedded runtime: a file source driving the same step, through the same batch flow, as
the worker, in-process.

Files may come in any order and hold any mix of types; blank lines are not events. The step
decides and stores everything; this module only reads lines, hands them over in batches to the
worker's flow (pipeline/runtime/batch_flow.py: the engine runs on batch N+1 while batch N is
stored) and keeps the tally of what is stored.

A replay is behind until its input ends, so it judges then, once (the worker's cadence while
it catches up, pushed to the end: `JudgingCadence.at_input_end`): the final aggregates,
verdicts and standing alerts are the same as judging every batch would give; the alert
versions an earlier view of a window would have raised and a later one corrected are not
raised at all (docs/worker.md, "Alerts during catch-up").

The engine runs on the calling thread, the store on the flow's store thread. Stops: an error
(raised as it is) or Ctrl-C (KeyboardInterrupt, the engine interrupted at once) also stops the
batch being stored beside it: no further insert is begun, a wait for ClickHouse ends, and the
error is raised once the insert under way is done (so the store is never closed under one).
What was stored stays stored; running the same files again stores the rest and adds nothing
twice (the sink is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from pipeline.adapters.jsonlines import read_lines
from pipeline.core.alerts import Alert, AlertStatus
from pipeline.core.batch import JudgingFailure
from pipeline.core.engine import BatchResult, RawMessage
from pipeline.errors import InputError
from pipeline.progress import Progress
from pipeline.runtime.batch_flow import BatchFlow, TopicPartition
from pipeline.runtime.cadence import JudgingCadence
from pipeline.runtime.step import Abandoned, Step


@dataclass(slots=True)
class ReplaySummary:
    """The contract's replay summary (`read = accepted + rejected + duplicates`), plus `late`."""

    read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    late: int = 0
    alerts: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    judging_failures: Counter[JudgingFailure] = field(default_factory=Counter)
    """Organisations whose judgement failed (the exception's type), how often (restore
    included): their alerts may be missing (docs/worker.md, Operations)."""

    def add(self, result: BatchResult) -> None:
        self.read += result.read
        self.accepted += len(result.accepted)
        self.rejected += len(result.rejected)
        self.duplicates += result.duplicates
        self.late += result.late
        self.rejected_by_reason.update(r.rejection.reason.value for r in result.rejected)

    def as_json(self) -> dict[str, object]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "alerts": self.alerts,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "late": self.late,
            "judging_failures": [
                {"org_id": f.org_id, "error": f.error, "count": count}
                for f, count in sorted(self.judging_failures.items())
            ],
        }


class EmbeddedRunner:
    """Drives `step` over JSON Lines files (restore it first: `step.restore()`), judging
    once the input ends (it sets the step's cadence)."""

    def __init__(
        self,
        step: Step,
        *,
        batch_lines: int = 20_000,
        progress_stream: TextIO = sys.stderr,
    ) -> None:
        self.step = step
        step.cadence = JudgingCadence.at_input_end()
        self._batch_lines = batch_lines
        self._progress_stream = progress_stream

    def run(self, paths: Sequence[str], stdin: BinaryIO | None = None) -> ReplaySummary:
        """Process every file in `paths` (`-` is `stdin`), then judge what the input closed."""
        files = [_open(p, stdin) for p in paths]
        total = sum(size for _, _, size in files) or None
        summary = ReplaySummary()
        progress = Progress(self._progress_stream, total, "bytes")
        source = _FileSource(summary, progress)
        # A loop of our own, not asyncio.run: Ctrl-C stays Python's KeyboardInterrupt, raised
        # in the engine (on this thread) or in the wait for the batch being stored.
        loop = asyncio.new_event_loop()
        flow = BatchFlow(self.step, source, loop, _raise, engine_inline=True)
        task = loop.create_task(self._feed(flow, files, source))
        try:
            loop.run_until_complete(task)
        except BaseException:
            self.step.stop.set()  # no further insert, no more waiting for ClickHouse
            raise
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(task)
            elif not task.cancelled():
                task.exception()  # retrieved: raised above
            flow.shutdown()  # the batch being stored finishes before the store may be closed
            loop.close()
            progress.close()
            for name, handle, _ in files:
                if name != "-":
                    handle.close()
        summary.alerts = len(self.final_alerts())
        summary.judging_failures = Counter(self.step.judging_failures)
        return summary

    async def _feed(
        self, flow: BatchFlow, files: Sequence[tuple[str, BinaryIO, int]], source: _FileSource
    ) -> None:
        for name, handle, _ in files:
            for batch in _batches(name, handle, self._batch_lines):
                await flow.handle(batch, _always)
        source.judging()
        await flow.finish(_FileBatch("", [], 0))  # judged while the last batch is stored
        if not await flow.settle():
            raise Abandoned("stopped before the last batch was stored")

    def final_alerts(self) -> list[Alert]:
        """The latest version of every alert still standing (withdrawn ones left out)."""
        alerts = [a for a in self.step.engine.alerts if a.status is not AlertStatus.WITHDRAWN]
        return sorted(alerts, key=lambda a: (a.window_start, a.org_id, a.unit_id, a.kind))


def check_readable(paths: Iterable[str]) -> None:
    """Raise InputError naming the first of `paths` that cannot be opened ("-": stdin)."""
    for path in paths:
        if path != "-":
            _open(path, None)[1].close()


def _open(path: str, stdin: BinaryIO | None) -> tuple[str, BinaryIO, int]:
    if path == "-":
        return "-", stdin or sys.stdin.buffer, 0
    file = Path(path)
    try:
        return path, file.open("rb"), file.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


@dataclass(slots=True)
class _FileBatch:
    """Lines of one file (`consumed`: their bytes, line ends and blank lines included)."""

    name: str
    lines: list[RawMessage]
    consumed: int

    def messages(self) -> tuple[list[RawMessage], dict[str, int], str]:
        return self.lines, {self.name: len(self.lines)}, ""

    def next_offsets(self) -> dict[TopicPartition, int]:
        return {}


class _FileSource:
    """The tally and the progress, advanced as batches are stored; nothing to commit."""

    def __init__(self, summary: ReplaySummary, progress: Progress) -> None:
        self._summary = summary
        self._progress = progress
        self._consumed = 0

    def processed(self, batch: _FileBatch, result: BatchResult) -> None:
        self._consumed += batch.consumed
        self._summary.add(result)
        self._progress.advance(self._consumed, self._summary.read)

    def judging(self) -> None:
        """Every line is read: what is left is the one judgement (and the last stores)."""
        self._progress.stage("input read; judging")

    async def commit(self) -> bool:
        return True


async def _always() -> bool:
    return True


async def _raise(what: str, exc: BaseException) -> None:
    raise exc


def _batches(name: str, handle: BinaryIO, size: int) -> Iterator[_FileBatch]:
    batch: list[RawMessage] = []
    batch_bytes = 0
    new = tuple.__new__  # RawMessage's own constructor is a Python call per line
    for number, value, whole_size, consumed in read_lines(handle):
        batch_bytes += consumed
        batch.append(new(RawMessage, (value, f"{name}:{number}", whole_size)))
        if len(batch) >= size:
            yield _FileBatch(name, batch, batch_bytes)
            batch, batch_bytes = [], 0
    if batch or batch_bytes:
        yield _FileBatch(name, batch, batch_bytes)
