"""Which CUSUM design finds the family's sustained drops at a fixed false-alarm rate.

One unit at a time, as `pipeline.simulation.family` plants its drops (the specification, not
its code): 25 to 70 responses a week, a usual positive share of 0.70 to 0.92 whose logit varies
week to week with sd 0.12 to 0.32, and a drop of 0.06 to 0.25 for 5 to 10 weeks after 40 quiet
weeks. Only drops the family would call detectable are kept (at least 5.5 sd of the pooled
count over the episode; `family_plan.DETECTABLE_SD`). A drop is found when a window of the
episode or the 2 weeks after it is flagged by the time those 2 weeks close; the delay runs from
the episode's first week. Quiet units of the same kind, 600 weeks each, give the signals per
1,000 quiet windows (after the first 40). Each design is the default `DetectionConfig` with
`cusum_small_reference` and `cusum_small_limit` replaced (the Shewhart rules and the k 1 CUSUM
stay), judged by `pipeline.core.detection.stats.monitor` alone: no organisation, so no winter
and no common movement (the families through the engine are the figures to hold the detector
to; this compares designs on thousands of episodes instead of tens).

Run: `python -m bench.cusum_designs [--episodes 1000] [--quiet-units 150]` (JSON, one line a
design).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from dataclasses import dataclass, replace

from bench.oc_curves import poisson_draw
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.cusum import in_control_arl
from pipeline.core.detection.rules import Rules
from pipeline.core.detection.stats import monitor

WARMUP = 40
AFTER = 4
TOLERANCE = 2
DETECTABLE_SD = 5.5
DESIGNS = ((0.5, 9.0), (0.75, 6.15), (0.9, 5.15), (1.0, 4.6), (0.9, 4.6), (0.75, 5.5))


@dataclass(frozen=True, slots=True)
class Unit:
    responses: float
    positive: float
    spread: float


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _unit(rng: random.Random) -> Unit:
    return Unit(rng.uniform(25, 70), rng.uniform(0.70, 0.92), rng.uniform(0.12, 0.32))


def _week(rng: random.Random, unit: Unit, drop: float) -> tuple[int, int]:
    """(not-positive responses, responses) of one week."""
    responses = max(1, poisson_draw(rng, unit.responses))
    usual = math.log(unit.positive / (1.0 - unit.positive)) + rng.gauss(0.0, unit.spread)
    positive = min(max(_expit(usual) - drop, 0.02), 0.98)
    return sum(rng.random() >= positive for _ in range(responses)), responses


def _pooled_sd(unit: Unit, drop: float, length: int) -> float:
    """The drop's expected shift of the pooled count, in sd of that count (the family's oracle)."""
    views = unit.responses * 0.97
    usual = 1.0 - unit.positive
    shifted = usual + drop
    between = usual * (1.0 - usual) * unit.spread
    variance = length * (views * shifted * (1.0 - shifted) + (views * between) ** 2)
    return length * views * drop / math.sqrt(variance)


def _trace_signals(weeks: list[tuple[int, int]], rules: Rules) -> list[int]:
    counts = [count for count, _ in weeks]
    trials = [n for _, n in weeks]
    return monitor(counts, [float(n) for n in trials], trials, None, rules).signalled_at


def evaluate(
    reference: float, limit: float, episodes: int, quiet_units: int, seed: int = 1
) -> dict[str, float]:
    """Recall and median delay on detectable drops, signals per 1,000 quiet windows."""
    rules = replace(
        DetectionConfig(), cusum_small_reference=reference, cusum_small_limit=limit
    ).rules
    rng = random.Random(seed)
    found, delays, tried = 0, [], 0
    while tried < episodes:
        unit, length, drop = _unit(rng), rng.randint(5, 10), rng.uniform(0.06, 0.25)
        if _pooled_sd(unit, drop, length) < DETECTABLE_SD:
            continue
        tried += 1
        weeks = [_week(rng, unit, 0.0) for _ in range(WARMUP)]
        weeks += [_week(rng, unit, drop) for _ in range(length)]
        weeks += [_week(rng, unit, 0.0) for _ in range(AFTER)]
        signalled = _trace_signals(weeks, rules)
        end = WARMUP + length + TOLERANCE
        closing = [at for at in signalled[WARMUP:end] if 0 <= at < end]
        if closing:
            found += 1
            delays.append(min(closing) - WARMUP)
    rng = random.Random(seed + 1000)
    signals = windows = 0
    for _ in range(quiet_units):
        unit = _unit(rng)
        signalled = _trace_signals([_week(rng, unit, 0.0) for _ in range(600)], rules)
        signals += sum(1 for t, at in enumerate(signalled) if at == t and t >= WARMUP)
        windows += 600 - WARMUP
    return {
        "reference": reference,
        "limit": limit,
        "in_control_arl": round(in_control_arl(reference, limit)),
        "recall": round(found / episodes, 3),
        "median_delay_windows": statistics.median(delays),
        "signals_per_1000_quiet_windows": round(1000.0 * signals / windows, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--quiet-units", type=int, default=150)
    args = parser.parse_args()
    for reference, limit in DESIGNS:
        result = evaluate(reference, limit, args.episodes, args.quiet_units)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
