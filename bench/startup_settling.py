"""Settling and ageing a benchmark's chDB history (bench/startup_state.py, bench.worker_throughput
--history), each step in a fresh process.

Settling: ClickHouse merges freshly inserted parts soon after a process opens them, so the
history is opened in fresh processes, each kept open until no merge is under way and its part
count has been steady for `SETTLE_QUIET` seconds, until one finds nothing to merge.

Ageing, the hour a benchmark cannot wait: migration 0400 has each partitioned table merge a
partition whole once all its parts are an hour old (`min_age_to_force_merge_seconds` with
`..._on_partition_only`), so in a worker's store old quarters (late events only) are one part
each. A benchmark's history is minutes old when measured, so `age_quiet_partitions` does what
those settings would have done by then, with `OPTIMIZE … PARTITION … FINAL`: every partition of
such a table but its latest (the one a running worker still inserts into, left to the usual
merges) is merged into one part. Tables without the settings (a store before 0400) are left as
they are.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

SETTLE_QUIET = 10.0  # seconds without a merge before a process's view counts as settled
SETTLE_ROUNDS = 5
FORCED = "min_age_to_force_merge_on_partition_only = 1"


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


def age(directory: Path) -> int:
    """In this (fresh) process: `age_quiet_partitions` on the directory; partitions merged."""
    from pipeline.bootstrap.embedded import load_settings, open_sink

    sink = open_sink(load_settings(), f"chdb://{directory}")
    merged = age_quiet_partitions(sink)
    sink.close()
    return merged


def settle_and_age(directory: Path) -> int:
    """`settle`, then the hour the store's merge settings wait (`age`); the part count."""
    from bench import startup_state

    parts = settle(directory)
    merged = int(startup_state.in_process("--age", str(directory)))
    print(f"aged {directory.name}: {merged} quiet partitions merged", file=sys.stderr)
    return settle(directory) if merged else parts


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


def age_quiet_partitions(sink: Any) -> int:
    """Merge each quiet partition of the tables that force-merge them; the partitions merged."""
    db = sink.database
    tables = [
        row["name"]
        for row in sink.query_dicts(
            "SELECT name, create_table_query FROM system.tables WHERE database = {db:String}",
            {"db": db},
        )
        if FORCED in row["create_table_query"]
    ]
    merged = 0
    for table in tables:
        rows = sink.query_dicts(
            "SELECT partition_id, count() AS parts FROM system.parts WHERE database = "
            "{db:String} AND table = {table:String} AND active GROUP BY partition_id",
            {"db": db, "table": table},
        )
        if not rows:
            continue
        latest = max(r["partition_id"] for r in rows)
        for row in rows:
            if row["parts"] > 1 and row["partition_id"] != latest:
                sink.command(
                    f"OPTIMIZE TABLE {db}.{table} PARTITION ID '{row['partition_id']}' FINAL"
                )
                merged += 1
    return merged
