"""Replay throughput: how much slower than merely parsing the same file is the whole pipeline?

Writes a simulated trust of a few hundred thousand events to a JSON Lines file, then times, in
the same run and on the same file:

1. `json.loads` of every line (the floor: any pipeline must at least parse its input);
2. the engine alone (decode, validate, deduplicate, redact, aggregate, detect), no storage,
   judging as a replay does: once, when the input ends;
3. the embedded runtime as `pipeline replay` runs it, into a fresh chDB database (the worker's
   batch flow: batch N stored on one thread while the engine runs on N+1 on another); the
   database is made before and deleted after the timing (a user's replay keeps it);
4. the same step and batches driven one batch after another (engine, then storage), as the
   embedded runner did before it shared the worker's flow: the overlap's gain is (4) - (3) by
   wall clock (by CPU time the two do the same work);
5. and 6. the engine alone and `pipeline replay` again, each in a fresh process (timed there,
   after its imports): as a user's `pipeline replay` runs. Stages 2-4 run in this process, so
   from the second on detection's caches are warm (they hold the same file's figures), and the
   end's judgement costs a fraction of what a real replay pays for it.

Run: `python -m bench.replay_throughput [--scale 2.0] [--weeks 104] [--repeat 3]`. The figure
that matters is the ratio of (6) to (1), a replay as a user runs it; the issue's aim is 2.5 or
less. Each round times the
three one after another and its ratios are taken within the round; medians over rounds are
printed, by wall clock and by CPU time (the latter less disturbed by other work on the
machine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pipeline.adapters.jsonlines import read_lines
from pipeline.bootstrap.embedded import build_embedded, build_engine, load_settings
from pipeline.core.decode import RawMessage
from pipeline.runtime.step import collector_paused
from pipeline.simulation import SimulationConfig, simulate_trust


def write_events(path: Path, scale: float, weeks: int) -> int:
    trust = simulate_trust(
        SimulationConfig(orgs=3, units_per_org=6, weeks=weeks, feedback_scale=scale, seed=7)
    )
    with path.open("w") as handle:
        for event in trust.events:
            handle.write(json.dumps(event) + "\n")
    return len(trust.events)


def parse_only(path: Path, scratch: Path) -> None:
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)


def engine_only(path: Path, scratch: Path) -> None:
    engine = build_engine(load_settings())
    now = datetime.now(UTC)
    with path.open("rb") as handle:
        batch: list[RawMessage] = []
        for number, line in enumerate(handle):
            batch.append(RawMessage(line.strip(), f"bench:{number}"))
            if len(batch) == 20_000:
                with collector_paused():  # as the step runs the engine
                    engine.process(batch, now, judge=False)
                batch = []
        with collector_paused():
            engine.process(batch, now, judge=False)
            engine.finish(now)


def full_replay(path: Path, scratch: Path) -> None:
    runner, sink = build_embedded(load_settings(), dsn=f"chdb://{scratch}")
    runner.run([str(path)])
    sink.close()


def serial_replay(path: Path, scratch: Path) -> None:
    runner, sink = build_embedded(load_settings(), dsn=f"chdb://{scratch}")
    step = runner.step
    with path.open("rb") as handle:
        batch: list[RawMessage] = []
        for line in read_lines(handle):
            batch.append(RawMessage(line.value, f"{path}:{line.number}", line.size))
            if len(batch) == 20_000:
                step.process(batch, {str(path): len(batch)}, token="")
                batch = []
        step.process(batch, {str(path): len(batch)}, token="")
    step.finish(token="")
    sink.close()


def timed(work: Stage, path: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process, all its threads: chDB's included) of
    `work(path, scratch)`, `scratch` an empty directory made before and deleted after the
    timing (a replay's database stays; deleting it is no part of `pipeline replay`); or the
    seconds `work` returns, when it timed itself in another process."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        measured = work(path, scratch)
        if measured is not None:
            return measured
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


IN_PROCESS: dict[str, Callable[[Path, Path], None]] = {
    "engine": engine_only,
    "replay": full_replay,
}


def in_fresh_process(stage: str) -> Callable[[Path, Path], tuple[float, float]]:
    """`stage` timed in a new interpreter (`--child`), as a command-line run meets it: every
    cache empty. Its wall-clock and CPU seconds, as that process measured them."""

    def run(path: Path, scratch: Path) -> tuple[float, float]:
        command = [sys.executable, "-m", "bench.replay_throughput", "--child", stage, str(path)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        wall, cpu = json.loads(output.splitlines()[-1])
        return float(wall), float(cpu)

    return run


def child(stage: str, path: Path) -> None:
    """The `--child` side of `in_fresh_process`: prints `[wall, cpu]` as its last line."""
    print(json.dumps(timed(IN_PROCESS[stage], path)))


Stage = Callable[[Path, Path], None] | Callable[[Path, Path], tuple[float, float]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="feedback volume multiplier")
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("STAGE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    stages: tuple[tuple[str, Stage], ...] = (
        ("json.loads of every line", parse_only),
        ("engine (no storage)", engine_only),
        ("pipeline replay (chDB sink)", full_replay),
        ("replay, no overlap", serial_replay),
        ("engine, fresh process", in_fresh_process("engine")),
        ("pipeline replay, fresh process", in_fresh_process("replay")),
    )
    walls: dict[str, list[float]] = {name: [] for name, _ in stages}
    cpus: dict[str, list[float]] = {name: [] for name, _ in stages}
    with tempfile.TemporaryDirectory(prefix="bench-events-") as folder:
        path = Path(folder) / "events.jsonl"
        events = write_events(path, args.scale, args.weeks)
        size_mb = path.stat().st_size / 1e6
        # Rounds interleave the stages, so each round's ratios share the machine's load of
        # the moment (this machine is shared); the medians are over rounds.
        for _ in range(args.repeat):
            for name, work in stages:
                wall, cpu = timed(work, path)
                walls[name].append(wall)
                cpus[name].append(cpu)
    floor = stages[0][0]
    print(f"events: {events:,} ({size_mb:.1f} MB of JSON Lines), medians of {args.repeat} rounds")
    header = f"{'stage':<32}{'wall s':>8}{'events/s':>10}{'x json.loads':>14}"
    print(f"{header}{'cpu s':>8}{'x (cpu)':>9}")
    for name, _ in stages:
        wall = statistics.median(walls[name])
        cpu = statistics.median(cpus[name])
        ratio = statistics.median(w / f for w, f in zip(walls[name], walls[floor], strict=True))
        cpu_ratio = statistics.median(c / f for c, f in zip(cpus[name], cpus[floor], strict=True))
        print(
            f"{name:<32}{wall:>8.2f}{events / wall:>10,.0f}{ratio:>14.2f}"
            f"{cpu:>8.2f}{cpu_ratio:>9.2f}"
        )


if __name__ == "__main__":
    main()
