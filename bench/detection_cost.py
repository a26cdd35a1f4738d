"""What judging one unit costs, against drawing a plain Making Data Count chart of it.

The engine re-judges a unit over its whole history each time one of its windows closes, so the
detector's cost per call matters. Measured on a simulated trust's real aggregates (the longest
unit history, 104 weekly windows) and, for scale, compared in the same run with `spc.xmr` over
the same series of positive shares.

Run: `python -m bench.detection_cost [--weeks 104] [--calls 200]`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pipeline.core.decode import RawMessage
from pipeline.core.detection import Detector
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.spc import Direction, xmr
from pipeline.simulation import SimulationConfig, simulate_trust


def per_call(calls: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        work()
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    trust = simulate_trust(SimulationConfig(orgs=1, units_per_org=6, weeks=args.weeks, seed=3))
    engine = Engine(EngineConfig(), b"bench-key-0123456789")
    now = datetime.now(UTC)
    engine.process([RawMessage(json.dumps(e).encode(), "bench") for e in trust.events], now)
    engine.finish(now)
    units = engine.closed_series()
    unit_id, series = max(units.items(), key=lambda item: len(item[1]))
    shares = [w.positive_share or 0.0 for w in series]
    detector = Detector()
    by_unit = {unit: windows for (_, unit), windows in units.items()}

    chart = per_call(args.calls, lambda: xmr(shares, improvement=Direction.INCREASE))
    unit = per_call(args.calls, lambda: detector.unit_findings(series))
    org = per_call(max(args.calls // 10, 1), lambda: detector.org_findings(by_unit))
    print(f"unit {unit_id[1]}: {len(series)} closed windows; organisation of {len(by_unit)} units")
    print(f"{'call':<40}{'ms':>9}{'x xmr':>9}")
    for name, seconds in (
        ("spc.xmr (positive share)", chart),
        ("Detector.unit_findings", unit),
        ("Detector.org_findings (whole org)", org),
    ):
        print(f"{name:<40}{seconds * 1000:>9.2f}{seconds / chart:>9.1f}")


if __name__ == "__main__":
    main()
