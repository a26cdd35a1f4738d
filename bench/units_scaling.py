"""How judging grows with the units of an organisation: the same organisations at two sizes.

QA's 10,000-unit replay (20 organisations of 500 units, 30 weekly windows, a monthly target
return, one unit falling in its last weeks) at `--orgs` organisations of `--small` and `--large`
units: each unit's events in a row, as QA wrote them, so nearly all of them arrive after their
window closed and are judged once at the end, as `pipeline replay` judges. Times the engine alone
(batches of 20,000 without judging, then `finish`) by process CPU, sizes alternating for
`--rounds`, each in a fresh process (judging's stores would otherwise answer a round from the
last), and prints the large over the small (linear work: their units' ratio). The same
`--seed` gives the same events, so two trees can be compared by the printed digest of alerts.

Run: `python -m bench.units_scaling [--orgs 2] [--small 100] [--large 500] [--rounds 2]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from pipeline.core.decode import RawMessage
from pipeline.core.engine import Engine, EngineConfig

NOW = datetime(2026, 11, 30, tzinfo=UTC)
START = datetime(2025, 6, 2, tzinfo=UTC)
WEEKS = 30


def events(orgs: int, units: int, seed: int) -> list[bytes]:
    """Weekly feedback counts and monthly target returns, unit by unit."""
    rng = random.Random(seed)
    lines = []

    def add(event: dict[str, object]) -> None:
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        lines.append(json.dumps({"schema_version": 1, "event_id": event_id, **event}).encode())

    for o in range(orgs):
        for u in range(units):
            where = {"org_id": f"RZ{o:02d}", "unit_id": f"unit-{u:03d}"}
            for week in range(WEEKS):
                start = START + timedelta(weeks=week)
                low = 30 if u == 7 and week >= WEEKS - 4 else 1  # unit 7 falls at the end
                counts = {"1": rng.randint(20, 40), "2": 10, "3": 2, "4": low, "5": low, "6": 0}
                add({
                    "event_type": "patient_feedback", **where, "source": "fft",
                    "occurred_at": (start + timedelta(days=6)).isoformat(),
                    "period_start": start.isoformat(),
                    "period_end": (start + timedelta(days=7)).isoformat(), "counts": counts,
                })  # fmt: skip
            for month in range(6, 13):
                first = datetime(2025, month, 1, tzinfo=UTC)
                end = datetime(2025 + month // 12, month % 12 + 1, 1, tzinfo=UTC)
                add({
                    "event_type": "target_metric", **where, "source": "returns",
                    "occurred_at": end.isoformat(), "period_start": first.isoformat(),
                    "period_end": end.isoformat(), "metric": "ae_4h", "numerator": 96,
                    "denominator": 100, "target": 0.95, "higher_is_better": True,
                })  # fmt: skip
    return lines


def judged_cpu(orgs: int, units: int, seed: int) -> tuple[float, str]:
    """Process CPU seconds of one engine over `events`, and a digest of its final alerts."""
    lines = events(orgs, units, seed)
    engine = Engine(EngineConfig(), b"k" * 32)
    start = time.process_time()
    for first in range(0, len(lines), 20_000):
        batch = lines[first : first + 20_000]
        messages = [RawMessage(line, f"f:{n}") for n, line in enumerate(batch, first)]
        engine.process(messages, NOW, None, judge=False)
    engine.finish(NOW)
    cpu = time.process_time() - start
    return cpu, hashlib.sha256(repr(engine.alerts).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=2)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    sizes = (args.small, args.large)
    cpu: dict[int, list[float]] = {size: [] for size in sizes}
    fresh = multiprocessing.get_context("spawn")
    for round_ in range(1, args.rounds + 1):
        for size in sizes:
            with fresh.Pool(1) as pool:
                seconds, alerts = pool.apply(judged_cpu, (args.orgs, size, args.seed))
            cpu[size].append(seconds)
            print(f"round {round_}, {args.orgs} x {size} units: {seconds:.2f} s, alerts {alerts}")
    small, large = (statistics.median(cpu[size]) for size in sizes)
    linear = args.large / args.small
    print(f"{args.large} / {args.small} units: {large / small:.1f}x (linear: {linear:.1f}x)")


if __name__ == "__main__":
    main()
