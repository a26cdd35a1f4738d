"""How `reporting_silence` trades planted silences found against chance silences.

Two measurements, each for the default `DetectionConfig` and the same with the silence's usual
level over 26 windows (the setting before issue 13's third round):

- **stationary**: units drawn from the project simulator's own incident model (harmful and
  no-harm reports, each Poisson around the unit's rate times its own weekly gamma multiplier of
  shape 6 to 12; 2.5 to 8 reports a week, a fifth to a half harmful; steady activity and
  feedback), judged by `silence.silence_trace`: its false silences per 100 judged unit-weeks.
  Nothing happens to these units, so every signal is a chance one.
- **planted**: the tuning seeds' trusts (the simulator's 1, 2, 7, 8 and the family's 1 and 2),
  replayed through the engine as `pipeline replay` does (`score.closed_series`); in each unit
  that reports activity, 6 silences planted one at a time: every report of 4 to 8 weeks thinned
  to a share of 0 to 20%. Those short by 3 sd or more of the unit's own weeks count (as the
  family's oracle counts a detectable silence); found when a silence of the unit's findings
  overlaps the planted weeks (or the 2 after). The replays take minutes (`--quick`: the
  simulator's seeds only).

Run: `python -m bench.silence_quality [--units 3000] [--weeks 64] [--quick]` (JSON lines).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import replace

from bench.oc_curves import poisson_draw
from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertKind
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.measures import unit_figures
from pipeline.core.detection.silence import silence_trace
from pipeline.core.detection.unit import unit_findings
from pipeline.simulation import SimulationConfig, simulate_trust
from pipeline.simulation.family import FamilyConfig
from pipeline.simulation.family_events import simulate_family
from pipeline.simulation.score import closed_series
from tests.support.series import aggregate

TUNING = (("simulator", 1), ("simulator", 2), ("simulator", 7), ("simulator", 8),
          ("family", 1), ("family", 2))  # fmt: skip
PLANTS_PER_UNIT = 6
DETECTABLE_SD = 3.0
TOLERANCE = 2


def _with_reports(base: UnitWindowAggregate, no_harm: int, harmful: int) -> UnitWindowAggregate:
    return replace(
        base,
        incidents_by_harm=(no_harm, harmful, 0, 0, 0),
        incidents_by_category=(no_harm + harmful, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    )


def stationary(config: DetectionConfig, units: int, weeks: int, seed: int = 0) -> dict[str, float]:
    """Chance silences on units that never change (see the module docstring)."""
    rng = random.Random(seed)
    signals = judged = 0
    for _ in range(units):
        mean, share, shape = rng.uniform(2.5, 8.0), rng.uniform(0.2, 0.5), rng.uniform(6.0, 12.0)
        series = [
            _with_reports(
                aggregate(i, responses=rng.randint(32, 48), negative=2, harmful=0),
                poisson_draw(rng, mean * (1 - share) * rng.gammavariate(shape, 1 / shape)),
                poisson_draw(rng, mean * share * rng.gammavariate(shape, 1 / shape)),
            )
            for i in range(weeks)
        ]
        trace = silence_trace(series, unit_figures(series), config)
        judged += sum(not math.isnan(z) for z in trace.z)
        signals += len({at for at in trace.signalled_at if at >= 0})
    return {"signals": signals, "judged": judged, "per_100": 100.0 * signals / judged}


def _series(family: str, seed: int) -> dict[tuple[str, str], list[UnitWindowAggregate]]:
    if family == "family":
        return closed_series(simulate_family(FamilyConfig(seed=seed)).events)
    return closed_series(simulate_trust(SimulationConfig(seed=seed)).events)


def _thinned(rng: random.Random, window: UnitWindowAggregate, keep: float) -> UnitWindowAggregate:
    harm = tuple(
        sum(rng.random() < keep for _ in range(count)) for count in window.incidents_by_harm
    )
    return replace(window, incidents_by_harm=harm,
                   incidents_by_category=(sum(harm), 0, 0, 0, 0, 0, 0, 0, 0, 0))  # fmt: skip


def planted(
    configs: dict[str, DetectionConfig], cases: Sequence[tuple[str, int]], seed: int = 0
) -> dict[str, dict[str, float]]:
    """Planted silences found per configuration (see the module docstring)."""
    rng = random.Random(seed)
    found = {name: 0 for name in configs}
    delays: dict[str, list[int]] = {name: [] for name in configs}
    detectable = 0
    for family, trust_seed in cases:
        for _, series in sorted(_series(family, trust_seed).items()):
            counts = [sum(a.incidents_by_harm) for a in series]
            reports_activity = any(t.is_share for a in series for t in a.targets)
            if not reports_activity or len(series) < 40 or statistics.mean(counts) < 0.5:
                continue
            mean, variance = statistics.mean(counts), statistics.pvariance(counts)
            for _ in range(PLANTS_PER_UNIT):
                length = rng.randint(4, 8)
                first = rng.randint(20, len(series) - length - 1)
                keep, thin_seed = rng.uniform(0.0, 0.2), rng.random()
                if (1 - keep) * mean * math.sqrt(length / variance) < DETECTABLE_SD:
                    continue
                detectable += 1
                thin = random.Random(thin_seed)
                silent = list(series)
                for t in range(first, first + length):
                    silent[t] = _thinned(thin, silent[t], keep)
                start = series[0].window.start
                for name, config in configs.items():
                    weeks = [
                        ((f.first_window.start - start).days // 7,
                         (f.last_window.start - start).days // 7,
                         (f.detected_in.start - start).days // 7)
                        for f in unit_findings(silent, config)
                        if f.kind is AlertKind.REPORTING_SILENCE
                    ]  # fmt: skip
                    hits = [
                        d for a, b, d in weeks if a <= first + length - 1 + TOLERANCE and b >= first
                    ]
                    if hits:
                        found[name] += 1
                        delays[name].append(min(hits) - first)
    return {
        name: {"detectable": detectable, "found": found[name],
               "share": found[name] / detectable if detectable else math.nan,
               "median_delay": statistics.median(delays[name]) if delays[name] else math.nan,
               "mean_delay": statistics.fmean(delays[name]) if delays[name] else math.nan}
        for name in configs
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=3000)
    parser.add_argument("--weeks", type=int, default=64)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    configs = {
        "default": DetectionConfig(),
        "usual level over 26 windows": replace(DetectionConfig(), silence_baseline_windows=26),
    }
    for name, config in configs.items():
        result = stationary(config, args.units, args.weeks)
        print(json.dumps({"stationary": name, "weeks": args.weeks, **result}))
    cases = [case for case in TUNING if case[0] == "simulator"] if args.quick else list(TUNING)
    for name, result in planted(configs, cases).items():
        print(json.dumps({"planted": name, "cases": cases, **result}))


if __name__ == "__main__":
    main()
