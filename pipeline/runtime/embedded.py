"""The embedded runtime: JSON Lines in, the same engine and sink as the worker, in-process.

Files may come in any order and hold any mix of types; blank lines are not events. The engine
decides everything; this module only reads lines, hands them over in batches, stores the results
and keeps the tally.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.adapters.jsonlines import read_lines
from pipeline.core.alerts import Alert, AlertStatus
from pipeline.core.engine import BatchResult, Engine, RawMessage
from pipeline.errors import InputError
from pipeline.progress import Progress

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        }


class EmbeddedRunner:
    """Drives `engine` over JSON Lines files and stores every step in `sink`."""

    def __init__(
        self,
        engine: Engine,
        sink: ClickHouseSink,
        *,
        batch_lines: int = 20_000,
        clock: Clock = utc_now,
        progress_stream: TextIO = sys.stderr,
    ) -> None:
        self._engine = engine
        self._sink = sink
        self._batch_lines = batch_lines
        self._clock = clock
        self._progress_stream = progress_stream

    def restore(self) -> BatchResult:
        """Rebuild the engine from what the sink already holds (a re-run adds nothing)."""
        result = self._engine.restore(
            self._sink.stored_payloads(), self._sink.latest_alerts(), self._clock()
        )
        self._sink.write(result, self._clock(), token="restore")
        return result

    def run(self, paths: Sequence[str], stdin: BinaryIO | None = None) -> ReplaySummary:
        """Process every file in `paths` (`-` is `stdin`), then judge what the input closed."""
        files = [_open(p, stdin) for p in paths]
        total = sum(size for _, _, size in files) or None
        summary = ReplaySummary()
        progress = Progress(self._progress_stream, total, "bytes")
        consumed = 0
        try:
            for name, handle, _ in files:
                for batch, batch_bytes in _batches(name, handle, self._batch_lines):
                    self._step(self._engine.process(batch, self._clock()), summary)
                    consumed += batch_bytes
                    progress.advance(consumed, summary.read)
            self._step(self._engine.finish(self._clock()), summary)
        finally:
            progress.close()
            for name, handle, _ in files:
                if name != "-":
                    handle.close()
        summary.alerts = len(self.final_alerts())
        return summary

    def final_alerts(self) -> list[Alert]:
        """The latest version of every alert still standing (withdrawn ones left out)."""
        alerts = [a for a in self._engine.alerts if a.status is not AlertStatus.WITHDRAWN]
        return sorted(alerts, key=lambda a: (a.window_start, a.org_id, a.unit_id, a.kind))

    def _step(self, result: BatchResult, summary: ReplaySummary) -> None:
        self._sink.write(result, self._clock(), token="")
        summary.add(result)


def _open(path: str, stdin: BinaryIO | None) -> tuple[str, BinaryIO, int]:
    if path == "-":
        return "-", stdin or sys.stdin.buffer, 0
    file = Path(path)
    try:
        return path, file.open("rb"), file.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def _batches(name: str, handle: BinaryIO, size: int) -> Iterator[tuple[list[RawMessage], int]]:
    batch: list[RawMessage] = []
    batch_bytes = 0
    for line in read_lines(handle):
        batch_bytes += line.consumed
        batch.append(RawMessage(line.value, f"{name}:{line.number}", line.size))
        if len(batch) >= size:
            yield batch, batch_bytes
            batch, batch_bytes = [], 0
    if batch or batch_bytes:
        yield batch, batch_bytes
