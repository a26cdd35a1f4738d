"""The engine's CPU while catching up, judging every batch against judging once per N events.

Feeds the simulated trust of `bench.replay_throughput` (same file, in file order) to one engine
in batches of `--batch` events (the worker's 5,000 by default), judging every batch or only
once `--every` events have come since the last judgement (the worker's cadence under a backlog,
pipeline/runtime/cadence.py), then `finish`. Each run is a fresh process (detection keeps
module-level caches), the two cadences alternating `--repeat` times; the figure is the ratio
of their CPU (this thread) within the run. Checks that the final standing alerts (all but the
withdrawn) are the same.

Run: `python -m bench.judging_cadence [--batch 5000] [--every 20000] [--weeks 104] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.replay_throughput import write_events
from pipeline.bootstrap.embedded import build_engine, load_settings
from pipeline.core.alerts import AlertStatus
from pipeline.core.decode import RawMessage
from pipeline.runtime.cadence import JudgingCadence
from pipeline.runtime.step import collector_paused


def engine_cpu(path: Path, batch_size: int, every: int) -> tuple[float, int, str]:
    """CPU seconds of the whole run, judgements made, and a digest of the final alerts
    standing (all but withdrawn: an alert raised on an early view of a window and withdrawn
    once late events came may not be raised at all when judged later), `+` how many were
    withdrawn."""
    engine = build_engine(load_settings())
    cadence = JudgingCadence(batch_size, every)
    now = datetime.now(UTC)
    lines = path.read_bytes().splitlines()
    judgements = 0
    start = time.thread_time()
    for first in range(0, len(lines), batch_size):
        chunk = lines[first : first + batch_size]
        batch = [RawMessage(line, f"bench:{first + n}") for n, line in enumerate(chunk)]
        judge = cadence.due(len(batch))
        judgements += judge
        with collector_paused():  # as the step runs the engine
            engine.process(batch, now, judge=judge)
    engine.finish(now)
    cpu = time.thread_time() - start
    standing = sorted(
        repr((a.alert_id, a.status, a.window_end, a.severity, a.summary, a.evidence))
        for a in engine.alerts
        if a.status is not AlertStatus.WITHDRAWN
    )
    withdrawn = len(engine.alerts) - len(standing)
    digest = hashlib.sha256("\n".join(standing).encode()).hexdigest()[:16]
    return cpu, judgements + 1, f"{digest}+{withdrawn}"


def _child(path: Path, batch: int, every: int) -> tuple[float, int, str]:
    command = ["-m", "bench.judging_cadence", "--child", str(path), "--batch", str(batch)]
    out = subprocess.run(
        [sys.executable, *command, "--every", str(every)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), int(out[1]), out[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--every", type=int, default=20_000)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        cpu, judgements, final = engine_cpu(args.child, args.batch, args.every)
        print(f"{cpu:.4f} {judgements} {final}")
        return
    with tempfile.TemporaryDirectory(prefix="bench-cadence-") as folder:
        path = Path(folder) / "events.jsonl"
        events = write_events(path, args.scale, args.weeks)
        print(f"events: {events:,} in batches of {args.batch:,}", flush=True)
        runs: dict[int, list[float]] = {args.batch: [], args.every: []}
        finals: set[str] = set()  # the standing alerts' digests
        for n in range(args.repeat):
            for every in (args.batch, args.every):
                cpu, judgements, final = _child(path, args.batch, every)
                runs[every].append(cpu)
                finals.add(final.split("+")[0])
                print(
                    f"run {n + 1}, judging every {every:,} events: {cpu:.2f} s CPU, "
                    f"{judgements} judgements, standing alerts {final.split('+')[0]}, "
                    f"{final.split('+')[1]} withdrawn",
                    flush=True,
                )
    each, cadenced = (statistics.median(runs[k]) for k in (args.batch, args.every))
    print(
        f"median CPU: every batch {each:.2f} s, every {args.every:,} events {cadenced:.2f} s "
        f"({cadenced / each:.2f}x); standing alerts "
        f"{'identical' if len(finals) == 1 else 'DIFFER'}"
    )


if __name__ == "__main__":
    main()
