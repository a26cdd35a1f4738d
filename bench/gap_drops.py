"""Where the gap between the oracle and our detector on the family's drops comes from.

`bench.oracle_drops` puts an ideal CUSUM (the unit's true weekly mean and variance known) at
0.996 of the family's detectable drops; ours, through the engine, finds about 0.83. This bench
replays each drop's unit **alone** from its first week (the family's own draws: responses,
"don't know", the week's logit noise, season, drift, the planted shift) and feeds one CUSUM of
reference 0.9 (our sustained-shift design) with the week's z computed ten ways, from the oracle
down to ours:

| design | level | spread | tail |
|---|---|---|---|
| `true_normal` | true | true | normal (the oracle bench's z) |
| `true_exact` | true | true | exact beta-binomial P(X >= x) (ours) |
| `true_midp` | true | true | mid-p: P(X > x) + P(X = x) / 2 |
| `lagged_exact` | true, averaged over the latest 26 weeks outside the episode | true | exact |
| `ours_level` | ours (`stats.monitor`) | true | exact |
| `ours_spread` | true | ours | exact |
| `ours` | ours | ours | exact: what our monitor computes |
| `ours_midp` | ours | ours | mid-p |
| `ours_lagfree` | ours, less the true drift and season since the baseline's weeks | ours | exact |
| `ours_seasonfree` | ours, less the true season alone since the baseline's weeks | ours | exact |

Ours is `stats.monitor` with the default rules (`DetectionConfig().rules`), so its baseline
keeps flagged windows out exactly as in the engine; the CUSUM here is run on its z separately
so that every design is judged alike. What this leaves out is the engine's organisation:
the common movement taken out of the CUSUM, the target (a week whose target was missed is not
judged for divergence), the run rules and the large-shift CUSUM.

Each design's limit is set two ways: at the nominal 5.15 (Siegmund's 53,000 windows for a
standard normal z), with its measured quiet rate shown, and **recalibrated** so that its quiet
signals per judged window equal ours at 5.15 (the same units with no drop, drawn alike): the
recall each design would get at our own in-control run length. Found: a signal in the episode
or the 2 weeks after; delay from its first week.

`--baseline N` sets our level's `max_baseline_windows` (26 by default).

Run: `python -m bench.gap_drops [--first 1001 --last 1060] [--replicates 20] [--jobs 2]
[--baseline 26]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from statistics import NormalDist

from bench.oracle_drops import Drop, drops, moments
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.predictive import log_pmf, upper_tail
from pipeline.core.detection.stats import monitor
from pipeline.simulation.family_events import poisson
from pipeline.simulation.family_plan import DONT_KNOW, expit, logit

TOLERANCE = 2
REFERENCE = 0.9
NOMINAL_LIMIT = 5.15
LAG_WINDOWS = 26
_NORMAL = NormalDist()
DESIGNS = (
    "true_normal", "true_exact", "true_midp", "lagged_exact", "ours_level", "ours_spread",
    "ours", "ours_midp", "ours_lagfree", "ours_seasonfree",
)  # fmt: skip
BASELINE = [26]  # max_baseline_windows of `ours` (set by --baseline)


def _z_of_tail(tail: float) -> float:
    return -_NORMAL.inv_cdf(min(max(tail, 1e-300), 1.0 - 1e-12))


def exact(count: int, mean: float, extra: float, n: int) -> float:
    return _z_of_tail(upper_tail(count, mean, extra, n))


def midp(count: int, mean: float, extra: float, n: int) -> float:
    tail = upper_tail(count + 1, mean, extra, n) + 0.5 * math.exp(log_pmf(count, mean, extra, n))
    return _z_of_tail(tail)


def series(drop: Drop, rng: random.Random, shifted: bool) -> dict[str, list[float]]:
    """One draw of the unit's weeks 0 to the episode's end plus the tolerance: each design's z
    (NaN where ours is not judged yet)."""
    unit, season = drop.unit, drop.season
    end = drop.first + drop.length + TOLERANCE
    weeks = range(min(end, len(season.level)))
    usual = [season.positive(unit, w) for w in weeks]
    truth = [moments(u, unit.spread) for u in usual]
    # The season alone (no drift): what the organisation's common movement takes out in the
    # engine.
    seasonal = [
        moments(expit(logit(unit.positive) - season.experience * season.level[w]), unit.spread)[0]
        for w in weeks
    ]
    counts: list[int] = []
    views_of: list[int] = []
    for w in weeks:
        responses = poisson(rng, unit.responses * unit.size(w) * rng.gammavariate(100, 0.01))
        views = sum(rng.random() >= DONT_KNOW for _ in range(responses))
        inside = shifted and drop.first <= w < drop.first + drop.length
        shift = unit.feedback_shift[w] if inside else 0.0
        positive = expit(logit(usual[w]) + rng.gauss(0.0, unit.spread)) + shift
        positive = min(max(positive, 0.02), 0.98)
        counts.append(sum(rng.random() >= positive for _ in range(views)))
        views_of.append(views)
    scales = [float(v) for v in views_of]
    rules = dataclasses.replace(DetectionConfig(), max_baseline_windows=BASELINE[0]).rules
    trace = monitor(counts, scales, views_of, None, rules)
    out: dict[str, list[float]] = {name: [] for name in DESIGNS}
    episode = range(drop.first, drop.first + drop.length) if shifted else range(0)
    for w in weeks:
        n, count = views_of[w], counts[w]
        if math.isnan(trace.z[w]) or n == 0:
            for name in DESIGNS:
                out[name].append(math.nan)
            continue
        mean, between = truth[w]
        t_mean, t_extra = n * mean, n * n * between
        o_mean, o_extra = trace.mean[w], trace.extra_variance[w]
        sd = math.sqrt(n * mean * (1 - mean) + n * (n - 1) * between)
        lag_weeks = [v for v in range(w) if v not in episode][-LAG_WINDOWS:]
        lag_mean = statistics.fmean(truth[v][0] for v in lag_weeks)
        # The level ours learnt, moved by the true change of level since its baseline's weeks.
        base = trace.baseline_windows(w)
        moved = mean - statistics.fmean(truth[v][0] for v in base) if base else 0.0
        lagfree = min(max(o_mean + n * moved, 1e-9), n * (1 - 1e-9))
        moved = seasonal[w] - statistics.fmean(seasonal[v] for v in base) if base else 0.0
        seasonfree = min(max(o_mean + n * moved, 1e-9), n * (1 - 1e-9))
        out["true_normal"].append((count - t_mean) / sd if sd > 0 else 0.0)
        out["true_exact"].append(exact(count, t_mean, t_extra, n))
        out["true_midp"].append(midp(count, t_mean, t_extra, n))
        out["lagged_exact"].append(exact(count, n * lag_mean, t_extra, n))
        out["ours_level"].append(exact(count, min(o_mean, n * (1 - 1e-9)), t_extra, n))
        out["ours_spread"].append(exact(count, t_mean, o_extra, n))
        out["ours"].append(exact(count, o_mean, o_extra, n))
        out["ours_midp"].append(midp(count, o_mean, o_extra, n))
        out["ours_lagfree"].append(exact(count, lagfree, o_extra, n))
        out["ours_seasonfree"].append(exact(count, seasonfree, o_extra, n))
    return out


def cusum_signals(zs: list[float], limit: float) -> list[int]:
    statistic, signals = 0.0, []
    for index, z in enumerate(zs):
        if math.isnan(z):
            continue
        statistic = max(0.0, statistic + min(max(z, -3.0), 4.0) - REFERENCE)
        if statistic >= limit:
            signals.append(index)
            statistic = 0.0
    return signals


@dataclass(frozen=True, slots=True)
class DropResult:
    """One drop's draws: per replicate, each design's z per week, with and without the drop."""

    first: int
    length: int
    shifted: list[dict[str, list[float]]]
    quiet: list[dict[str, list[float]]]
    mean_z_inside: dict[str, float]


def one_drop(job: tuple[Drop, int, int]) -> DropResult:
    drop, replicates, BASELINE[0] = job
    rng = random.Random(f"gap-{drop.seed}-{drop.unit.org_id}-{drop.unit.unit_id}")
    shifted = [series(drop, rng, True) for _ in range(replicates)]
    quiet = [series(drop, rng, False) for _ in range(replicates)]
    inside: dict[str, list[float]] = {name: [] for name in DESIGNS}
    for s in shifted:
        for name in DESIGNS:
            inside[name].extend(
                z for z in s[name][drop.first : drop.first + drop.length] if not math.isnan(z)
            )
    means = {n: statistics.fmean(v) if v else math.nan for n, v in inside.items()}
    return DropResult(drop.first, drop.length, shifted, quiet, means)


def delays(result: DropResult, name: str, limit: float) -> list[int | None]:
    """Per replicate, the delay of the first signal in the drop or its tolerance (None: none)."""
    out: list[int | None] = []
    for s in result.shifted:
        statistic, delay = 0.0, None
        for index, z in enumerate(s[name]):
            if math.isnan(z):
                continue
            statistic = max(0.0, statistic + min(max(z, -3.0), 4.0) - REFERENCE)
            if statistic >= limit:
                if index >= result.first:
                    delay = index - result.first
                    break
                statistic = 0.0
        out.append(delay if delay is not None and delay < result.length + TOLERANCE else None)
    return out


def quiet_rate(results: list[DropResult], name: str, limit: float) -> tuple[int, int]:
    signals = windows = 0
    for result in results:
        for s in result.quiet:
            zs = s[name]
            windows += sum(1 for z in zs if not math.isnan(z))
            signals += len(cusum_signals(zs, limit))
    return signals, windows


def calibrated(results: list[DropResult], name: str, rate: float) -> float:
    """The limit at which `name` signals `rate` times per quiet window (bisection)."""
    low, high = 2.0, 12.0
    for _ in range(16):
        middle = (low + high) / 2.0
        signals, windows = quiet_rate(results, name, middle)
        low, high = (middle, high) if signals / windows > rate else (low, middle)
    return high


def summary(results: list[DropResult], name: str, limit: float) -> dict[str, object]:
    found = [d for r in results for d in delays(r, name, limit)]
    hits = sorted(d for d in found if d is not None)
    signals, windows = quiet_rate(results, name, limit)
    return {
        "limit": round(limit, 3),
        "found": round(len(hits) / len(found), 3),
        "median_delay": statistics.median(hits) if hits else None,
        "by_week_1": round(sum(d <= 1 for d in hits) / len(found), 3),
        "quiet_signals_per_1000": round(1000 * signals / windows, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first", type=int, default=1001)
    parser.add_argument("--last", type=int, default=1060)
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--baseline", type=int, default=26)
    args = parser.parse_args()
    all_drops = [d for s in range(args.first, args.last + 1) for d in drops(s)]
    jobs = [(d, args.replicates, args.baseline) for d in all_drops]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one_drop, jobs, chunksize=4))
    signals, windows = quiet_rate(results, "ours", NOMINAL_LIMIT)
    rate = signals / windows
    table = {
        name: {
            "nominal": summary(results, name, NOMINAL_LIMIT),
            "at_our_rate": summary(results, name, calibrated(results, name, rate)),
            "mean_z_in_drop_weeks": round(
                statistics.fmean(r.mean_z_inside[name] for r in results), 3
            ),
        }
        for name in DESIGNS
    }
    quiet_z = {
        name: [z for r in results for s in r.quiet for z in s[name] if not math.isnan(z)]
        for name in DESIGNS
    }
    print(json.dumps({
        "seeds": [args.first, args.last], "drops": len(all_drops),
        "replicates": args.replicates, "baseline": args.baseline,
        "our_quiet_rate_per_1000": round(1000 * rate, 3),
        "quiet_z_mean_sd": {n: [round(statistics.fmean(v), 3), round(statistics.pstdev(v), 3)]
                            for n, v in quiet_z.items()},
        "designs": table,
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
