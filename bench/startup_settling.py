"""Settling a benchmark's chDB history (bench/startup_state.py, bench.worker_throughput
--history), each step in a fresh process.

Settling: ClickHouse merges freshly inserted parts soon after a process opens them, so the
history is opened in fresh processes, each kept open until no merge is under way and its part
count has been steady for `SETTLE_QUIET` seconds, until one finds nothing to merge.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

SETTLE_QUIET = 10.0  # seconds without a merge before a process's view counts as settled
SETTLE_ROUNDS = 5


def merge_state(sink: Any) -> tuple[int, int]:
    """(active parts, merges under way) of the pipeline's tables."""
    parts = sink._scalar("SELECT count() FROM system.parts WHERE database = 'quality' AND active")
    merges = sink._scalar("SELECT count() FROM system.merges WHERE database = 'quality'")
    return parts, merges


def watch_merges(directory: Path, quiet_for: float = SETTLE_QUIET) -> tuple[int, int]:
    """In this (fresh) process: open the directory and keep it open until no merge is under way
    and the part count has not changed for `quiet_for` seconds; (parts at open, parts at end)."""
    from pipeline.bootstrap.embedded import load_settings, open_sink

    sink = open_sink(load_settings(), f"chdb://{directory}")
    first = last = merge_state(sink)
    last_change = time.monotonic()
    while time.monotonic() - last_change < quiet_for:
        time.sleep(0.5)
        state = merge_state(sink)
        if state != last or state[1]:
            last, last_change = state, time.monotonic()
    sink.close()
    return first[0], last[0]


def settle(directory: Path, rounds: int = SETTLE_ROUNDS) -> int:
    """Open the directory in fresh processes until one finds nothing to merge: a worker's months
    of history were merged long before a deploy. (ClickHouse merges freshly inserted parts soon
    after a process opens them, not in the process that inserted them: without this the first
    measuring processes merge while they are timed.) Returns the part count."""
    from bench import startup_state

    for _ in range(rounds):
        opened, ended = json.loads(startup_state.in_process("--watch-merges", str(directory)))
        print(f"settling {directory.name}: {opened} parts at open, {ended} after", file=sys.stderr)
        if opened == ended:
            return int(ended)
    raise RuntimeError(f"{directory} still merging after {rounds} rounds")
