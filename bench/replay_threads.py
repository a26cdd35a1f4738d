"""Where a replay's engine and store threads spend their wall time, and what each insert costs.

Two passes over the same simulated file (`bench.replay_throughput`'s trust, `--weeks` long),
each into a fresh chDB:

1. `pipeline replay` as it runs (engine on the main thread, batch N stored on the store thread
   beside N+1's engine): the wall time of each `Step.prepare` and `Step.prepare_finish` (the
   engine; a replay judges once, in the latter) and `Step.complete`
   (store) call is split by the kernel's account of its thread (`/proc/self/task/ID/schedstat`,
   Linux) into on a CPU, runnable but waiting for a CPU (other threads and processes), and
   asleep (waiting for the GIL, a lock, another thread or I/O). An engine thread that is
   rarely asleep is not held up by the GIL.
2. The same step one batch at a time with the inserts made one after another, so that the
   process's CPU time around each call is that call's (chDB's threads included): the store's
   CPU by insert (table) and by the Python that builds the bodies.

Run: `python -m bench.replay_threads [--weeks 64] [--batch 20000]`.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.replay_throughput import write_events
from pipeline.adapters.clickhouse import arrow, inserts, writes
from pipeline.adapters.clickhouse import state as clickhouse_state
from pipeline.adapters.jsonlines import read_lines
from pipeline.bootstrap.embedded import build_embedded, load_settings
from pipeline.core.decode import RawMessage
from pipeline.runtime import embedded
from pipeline.runtime.step import Step

Totals = defaultdict[str, list[float]]


def schedstat() -> tuple[float, float]:
    """This thread's seconds on a CPU and runnable waiting for one, so far."""
    with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as stat:
        on_cpu, waiting, _ = stat.read().split()
    return int(on_cpu) / 1e9, int(waiting) / 1e9


@contextmanager
def patched(
    owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, functools.wraps(original)(make(original)))
    try:
        yield
    finally:
        setattr(owner, name, original)


def split_by_thread(
    label: str, totals: Totals
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a call: add its wall, on-CPU, waiting-for-a-CPU and asleep seconds to `totals`."""

    def make(call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, (on_cpu, waiting) = time.perf_counter(), schedstat()
            try:
                return call(*args, **kwargs)
            finally:
                wall = time.perf_counter() - wall
                on_cpu_after, waiting_after = schedstat()
                on_cpu, waiting = on_cpu_after - on_cpu, waiting_after - waiting
                row = totals[label]
                for i, value in enumerate((wall, on_cpu, waiting, wall - on_cpu - waiting)):
                    row[i] += value

        return timed

    return make


def by_process_cpu(
    label: Callable[..., str], totals: Totals
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a call: add the process's CPU seconds during it to `totals[label(*args)]`."""

    def make(call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            cpu = time.process_time()
            try:
                return call(*args, **kwargs)
            finally:
                row = totals[label(*args)]
                row[0] += 1
                row[1] += time.process_time() - cpu

        return timed

    return make


def overlapped(path: Path, batch: int) -> Totals:
    totals: Totals = defaultdict(lambda: [0.0] * 4)
    scratch = Path(tempfile.mkdtemp(prefix="bench-threads-"))
    try:
        runner, sink = build_embedded(load_settings(), dsn=f"chdb://{scratch}")
        runner = embedded.EmbeddedRunner(runner.step, batch_lines=batch)
        with (
            patched(Step, "prepare", split_by_thread("engine (Step.prepare, main thread)", totals)),
            patched(
                Step, "prepare_finish", split_by_thread("engine (the end, main thread)", totals)
            ),
            patched(
                Step, "complete", split_by_thread("store (Step.complete, store thread)", totals)
            ),
        ):
            runner.run([str(path)])
        sink.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return totals


def one_at_a_time(path: Path, batch: int) -> Totals:
    totals: Totals = defaultdict(lambda: [0.0, 0.0])

    def insert_label(sink: Any, table: str, *rest: Any) -> str:
        return f"insert into {table} (chDB, client)"

    def named(label: str) -> Callable[..., str]:
        return lambda *args: label

    def in_turn(sink: Any, actions: Any) -> list[Any]:
        return [action() for action in actions]

    scratch = Path(tempfile.mkdtemp(prefix="bench-threads-"))
    try:
        runner, sink = build_embedded(load_settings(), dsn=f"chdb://{scratch}")
        step = runner.step
        with (
            patched(inserts.Inserts, "_apart", lambda _: in_turn),
            patched(inserts.Inserts, "_insert_body", by_process_cpu(insert_label, totals)),
            patched(Step, "prepare", by_process_cpu(named("engine (Step.prepare)"), totals)),
            patched(Step, "prepare_finish", by_process_cpu(named("engine (the end)"), totals)),
            patched(Step, "complete", by_process_cpu(named("store (Step.complete)"), totals)),
            patched(
                writes, "event_columns", by_process_cpu(named("python: event columns"), totals)
            ),
            patched(arrow, "arrow_batch", by_process_cpu(named("python: Arrow arrays"), totals)),
            patched(
                writes.BatchWrites,
                "_window_columns",
                by_process_cpu(named("python: window rows (with their arrays)"), totals),
            ),
            patched(
                clickhouse_state,
                "encode_state",
                by_process_cpu(named("python: window state (JSON)"), totals),
            ),
        ):
            with path.open("rb") as handle:
                lines: list[RawMessage] = []
                for line in read_lines(handle):
                    lines.append(RawMessage(line.value, f"{path}:{line.number}", line.size))
                    if len(lines) == batch:
                        step.process(lines, {str(path): len(lines)}, token="")
                        lines = []
                step.process(lines, {str(path): len(lines)}, token="")
            step.finish(token="")
        sink.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=64)
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-events-") as folder:
        path = Path(folder) / "events.jsonl"
        events = write_events(path, 1.0, args.weeks)
        print(f"{events:,} events, batches of {args.batch:,}")
        together = overlapped(path, args.batch)
        print(
            f"\n1. overlapped{'wall s':>36}{'on a CPU':>10}{'waiting for a CPU':>19}{'asleep':>8}"
        )
        for label, (wall, on_cpu, waiting, asleep) in together.items():
            print(f"{label:<42}{wall:>6.2f}{on_cpu:>10.2f}{waiting:>19.2f}{asleep:>8.2f}")
        alone = one_at_a_time(path, args.batch)
    insert_rows = [row for label, row in alone.items() if label.startswith("insert into")]
    alone["all inserts"] = [sum(r[0] for r in insert_rows), sum(r[1] for r in insert_rows)]
    print(f"\n2. one at a time (nested rows are inclusive){'calls':>14}{'CPU s':>8}")
    for label, (calls, cpu) in sorted(alone.items(), key=lambda item: -item[1][1]):
        print(f"{label:<52}{calls:>8.0f}{cpu:>8.2f}")


if __name__ == "__main__":
    main()
