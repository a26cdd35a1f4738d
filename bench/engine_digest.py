"""A digest of everything the engine returns for a JSON Lines file: to show that a change to the
engine leaves its results exactly as they were (run on both trees, compare the digests).

Covered: each accepted event's stored form (payload, origin, late flag, redaction counts and
the event itself), each rejection with its origin, reason, detail, field and kept bytes, the
counts, the changed windows with their small state, alerts, verdicts, board rows, bright
spots, responses, revisions and judgement marks of every batch, then the engine's final alerts,
closed series, remembered ids and watermark. Three modes: batches of 7,000 without storage;
batches of 20,000 with an in-memory store answering `known` (ids forgotten as windows close are
looked up); batches of 5,000 asking about every new id.

Run: `python -m bench.engine_digest FILE`.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from pipeline.core.batch import BatchResult
from pipeline.core.decode import RawMessage
from pipeline.core.engine import Engine, EngineConfig

NOW = datetime(2026, 11, 30, tzinfo=UTC)
KEY = b"k" * 32
MODES = ((7_000, False, False), (20_000, True, False), (5_000, True, True))


def digest(lines: list[bytes], batch: int, use_known: bool, every: bool) -> tuple[str, str]:
    """The digest of one mode, and its accepted/rejected/duplicate/late counts."""
    engine = Engine(EngineConfig(), KEY)
    sha = hashlib.sha256()
    stored: set[UUID] = set()
    counts = [0, 0, 0, 0]

    def known(ids: Collection[UUID]) -> set[UUID]:
        return {i for i in ids if i in stored}

    def feed(result: BatchResult) -> None:
        for s in result.accepted:
            stored.add(s.event.event_id)
            fields = (s.payload, s.origin, s.late, s.free_text_chars, s.nhs_numbers_redacted)
            sha.update(repr((*fields, s.other_identifiers_redacted, s.event)).encode())
        for r in result.rejected:
            sha.update(repr((r.origin, r.rejection)).encode())
        figures = (result.read, result.duplicates, result.late, result.windows)
        states = (result.window_state, result.alerts, result.verdicts, result.board)
        learning = (result.responses, result.revisions, result.bright_spots, result.judged)
        sha.update(repr((figures, states, learning)).encode())
        counts[0] += len(result.accepted)
        counts[1] += len(result.rejected)
        counts[2] += result.duplicates
        counts[3] += result.late

    for start in range(0, len(lines), batch):
        messages = [
            RawMessage(line, f"f:{n}") for n, line in enumerate(lines[start : start + batch], start)
        ]
        feed(engine.process(messages, NOW, known if use_known else None, ask_every_new_id=every))
    feed(engine.finish(NOW))
    final = (engine.alerts, engine.closed_series(), engine.remembered_ids, engine.watermark)
    sha.update(repr(final).encode())
    accepted, rejected, duplicates, late = counts
    return sha.hexdigest()[
        :16
    ], f"{accepted} accepted, {rejected} rejected, {duplicates} dup, {late} late"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    lines = [line.rstrip(b"\n") for line in args.file.open("rb")]
    for batch, use_known, every in MODES:
        value, counts = digest(lines, batch, use_known, every)
        print(f"batch {batch}, known {use_known}, every {every}: {value} ({counts})", flush=True)


if __name__ == "__main__":
    main()
