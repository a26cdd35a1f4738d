"""Judging cost per small batch: what one judgement adds to the worker's event-to-alert latency.

Feeds the simulated trust of `bench.replay_throughput` (same file, in file order) to one engine
in batches of `--batch` events (2,000 by default: two seconds of the worker's 1,000 events/s),
and times each `Judging.judge` call by CPU (this thread) and wall clock. Judging runs once per
batch (the weekly windows that closed, late events, answered alerts), so its slowest calls
bound the latency. `--profile PATH` saves a cProfile of the judging calls alone.

Run: `python -m bench.judging_cost [--batch 2000] [--weeks 104] [--profile /tmp/judging.out]`.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.replay_throughput import write_events
from pipeline.bootstrap.embedded import build_engine, load_settings
from pipeline.core.decode import RawMessage
from pipeline.core.judging import Judging
from pipeline.runtime.step import collector_paused


def measure(path: Path, batch_size: int, profiler: cProfile.Profile | None) -> list[float]:
    """CPU seconds of every judgement (thread time), in order."""
    cpu: list[float] = []
    judge = Judging.judge

    def timed_judge(self: Judging, *args: Any) -> None:
        if profiler is not None:
            profiler.enable()
        start = time.thread_time()
        judge(self, *args)
        cpu.append(time.thread_time() - start)
        if profiler is not None:
            profiler.disable()

    Judging.judge = timed_judge  # type: ignore[method-assign,assignment]
    try:
        engine = build_engine(load_settings())
        now = datetime.now(UTC)
        lines = path.read_bytes().splitlines()
        for start in range(0, len(lines), batch_size):
            batch = [
                RawMessage(line, f"bench:{start + n}")
                for n, line in enumerate(lines[start : start + batch_size])
            ]
            with collector_paused():  # as the step runs the engine
                engine.process(batch, now)
        engine.finish(now)
    finally:
        Judging.judge = judge  # type: ignore[method-assign]
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="bench-judging-") as folder:
        path = Path(folder) / "events.jsonl"
        events = write_events(path, args.scale, args.weeks)
        wall = time.perf_counter()
        cpu = measure(path, args.batch, profiler)
        wall = time.perf_counter() - wall
    if profiler is not None:
        profiler.dump_stats(args.profile)
    ordered = sorted(cpu)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(f"events: {events:,} in batches of {args.batch:,}; judgements: {len(cpu)}")
    print(
        f"Judging.judge CPU s: p50 {statistics.median(cpu):.4f}  p90 "
        f"{ordered[round(0.9 * (len(ordered) - 1))]:.4f}  p99 {p99:.4f}  slowest {ordered[-1]:.4f}"
        f"  total {sum(cpu):.2f}  (whole run {wall:.1f} s wall)"
    )
    quarter = max(1, len(cpu) // 4)
    print(
        "p50 by quarter of the file: "
        + ", ".join(
            f"{statistics.median(cpu[i : i + quarter]):.4f}" for i in range(0, quarter * 4, quarter)
        )
    )


if __name__ == "__main__":
    main()
