"""Replay throughput: how much slower than merely parsing the same file is the whole pipeline?

Writes a simulated trust of a few hundred thousand events to a JSON Lines file, then times, in
the same run and on the same file:

1. `json.loads` of every line (the floor: any pipeline must at least parse its input);
2. the engine alone (decode, validate, deduplicate, redact, aggregate, detect), no storage;
3. the embedded runtime as `pipeline replay` runs it, into a fresh chDB database.

Run: `python -m bench.replay_throughput [--scale 2.0] [--weeks 104] [--repeat 3]`. The figure
that matters is the ratio of (3) to (1); the issue's aim is 2.5 or less.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pipeline.bootstrap.embedded import build_embedded, build_engine, load_settings
from pipeline.core.decode import RawMessage
from pipeline.simulation import SimulationConfig, simulate_trust


def write_events(path: Path, scale: float, weeks: int) -> int:
    trust = simulate_trust(
        SimulationConfig(orgs=3, units_per_org=6, weeks=weeks, feedback_scale=scale, seed=7)
    )
    with path.open("w") as handle:
        for event in trust.events:
            handle.write(json.dumps(event) + "\n")
    return len(trust.events)


def parse_only(path: Path) -> None:
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)


def engine_only(path: Path) -> None:
    engine = build_engine(load_settings())
    now = datetime.now(UTC)
    with path.open("rb") as handle:
        batch: list[RawMessage] = []
        for number, line in enumerate(handle):
            batch.append(RawMessage(line.strip(), f"bench:{number}"))
            if len(batch) == 20_000:
                engine.process(batch, now)
                batch = []
        engine.process(batch, now)
    engine.finish(now)


def full_replay(path: Path) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        runner, sink = build_embedded(load_settings(), dsn=f"chdb://{directory}")
        runner.run([str(path)])
        sink.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def best_of(repeat: int, work: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times) if repeat < 3 else statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="feedback volume multiplier")
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-events-") as folder:
        path = Path(folder) / "events.jsonl"
        events = write_events(path, args.scale, args.weeks)
        size_mb = path.stat().st_size / 1e6
        parse = best_of(args.repeat, lambda: parse_only(path))
        engine = best_of(args.repeat, lambda: engine_only(path))
        replay = best_of(args.repeat, lambda: full_replay(path))
    print(f"events: {events:,} ({size_mb:.1f} MB of JSON Lines), median of {args.repeat} runs")
    print(f"{'stage':<34}{'seconds':>9}{'events/s':>12}{'x json.loads':>14}")
    for name, seconds in (
        ("json.loads of every line", parse),
        ("engine (no storage)", engine),
        ("pipeline replay (chDB sink)", replay),
    ):
        print(f"{name:<34}{seconds:>9.2f}{events / seconds:>12,.0f}{seconds / parse:>14.2f}")


if __name__ == "__main__":
    main()
