"""What an ideal detector could do on the family's sustained drops, against what ours does.

The family (`pipeline.simulation.family`) calls a drop of the positive share *detectable* when
its expected shift, pooled over the whole episode, is at least 5.5 sd of the pooled count: a
test that knows when the episode starts **and ends** would see it 9 times in 10 at a 1-in-100,000
risk. A detector does not know the start. This bench asks what a sequential detector could do
if it knew everything else: each unit's true weekly distribution (its season, drift and
week-to-week spread, so its true in-control mean and variance of a week's count that is not
positive, given the week's responses) and, for the best case, the size of the shift too.

- **oracle, known shift**: a one-sided CUSUM of the week's true standardised count with
  reference k = δ/2 (δ: the episode's mean expected shift in sd a week), the optimal CUSUM for
  that shift (Moustakides);
- **oracle, our design**: the same true z into a CUSUM with the sustained-shift CUSUM's
  reference (0.9): what we lose to not knowing the shift, but not to estimating the baseline.

Each limit is set for an in-control average run length (ARL): **nominal 53,000** windows
(Siegmund's approximation for a standard normal z, `cusum.in_control_arl`, exactly as our
sustained-shift CUSUM's limit is stated), and **measured 3,000 and 1,000** (the limit found by
bisection on `--quiet` windows of the drops' own units with no drop: the true z of a count has
a heavier upper tail than a normal one, so Siegmund's limits run shorter than stated). 1,000
is the whole false-alarm budget (1 per 1,000 unit-weeks over every measure and kind) spent on
this one measure, 3,000 a third of it (one measure of three).

An episode is found when the CUSUM signals in one of its weeks or the 2 after it (the scoring's
tolerance); the delay runs from the episode's first week (0: the first week's closing). The
CUSUM starts 20 in-control weeks before the episode (a signal there resets it, as ours does).

Episodes: every detectable drop the family plants (its own planner, so its own units, seasons and
shifts) on seeds `--first` to `--last` (default 1001 to 1100, seeds nobody scores), `--replicates`
weekly draws each. `--ours SEED...` replays those family seeds through the engine (as
`pipeline.simulation.score` does, minutes a seed) and prints, per detectable drop, the oracle's
detection probability and median delay beside whether ours found it and when.

Run: `python -m bench.oracle_drops [--first 1001 --last 1100] [--replicates 300] [--ours 1 2]`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.core.alerts import AlertKind
from pipeline.core.detection.cusum import in_control_arl
from pipeline.simulation.family import FamilyConfig, Unit
from pipeline.simulation.family_events import plan_family, poisson
from pipeline.simulation.family_plan import DONT_KNOW, Season, expit, logit
from pipeline.simulation.trust import TruthEpisode

WARMUP = 20
TOLERANCE = 2
OUR_REFERENCE = 0.9
NOMINAL_ARL = 53_000.0
MEASURED_ARLS = (3_000.0, 1_000.0)
_GRID = [i / 10.0 for i in range(-60, 61)]  # the week's logit noise, in sd, for the moments
_WEIGHTS = [math.exp(-0.5 * g * g) for g in _GRID]


@dataclass(frozen=True, slots=True)
class Drop:
    """One detectable drop as the family planted it."""

    seed: int
    record: TruthEpisode
    unit: Unit
    season: Season
    first: int
    length: int


def planned(seed: int) -> tuple[list[TruthEpisode], list[Unit], dict[str, Season]]:
    """The family's planning of one seed, exactly as `simulate_family` draws it (no events)."""
    return plan_family(FamilyConfig(seed=seed), random.Random(f"family-{seed}"))


def drops(seed: int) -> Iterator[Drop]:
    """The detectable sustained drops of the positive share planted on one seed."""
    truth, units, seasons = planned(seed)
    start = datetime.combine(FamilyConfig(seed=seed).start, datetime.min.time(), UTC)
    by_key = {(u.org_id, u.unit_id): u for u in units}
    for record in truth:
        if (
            record.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE
            and record.detectable
            and not record.decoy
            and record.description.startswith("positive share")
        ):
            first = (record.start - start).days // 7
            length = (record.end - record.start).days // 7
            unit = by_key[(record.org_id, record.unit_id)]
            yield Drop(seed, record, unit, seasons[unit.org_id], first, length)


def moments(usual: float, spread: float) -> tuple[float, float]:
    """E and Var over the week's logit noise of the share that is not positive."""
    total = mean = square = 0.0
    base = logit(usual)
    for g, weight in zip(_GRID, _WEIGHTS, strict=True):
        share = 1.0 - expit(base + g * spread)
        total += weight
        mean += weight * share
        square += weight * share * share
    mean /= total
    return mean, max(square / total - mean * mean, 0.0)


def limit_for(reference: float, arl: float) -> float:
    """The CUSUM limit whose Siegmund in-control ARL is `arl`."""
    low, high = 0.0, 60.0
    for _ in range(60):
        middle = (low + high) / 2.0
        low, high = (middle, high) if in_control_arl(reference, middle) < arl else (low, middle)
    return high


class Weeks:
    """Draws one unit's weeks as the family does, and their true z."""

    def __init__(self, drop: Drop) -> None:
        self.drop = drop
        first = drop.first
        self.weeks = [max(0, first + w) for w in range(-WARMUP, drop.length + TOLERANCE)]
        self.usual = [drop.season.positive(drop.unit, w) for w in self.weeks]
        self.moments = [moments(u, drop.unit.spread) for u in self.usual]

    def shift(self, index: int) -> float:
        w = self.weeks[index]
        inside = WARMUP <= index < WARMUP + self.drop.length
        return self.drop.unit.feedback_shift[w] if inside else 0.0

    def z(self, rng: random.Random, index: int) -> float:
        unit, w = self.drop.unit, self.weeks[index]
        responses = poisson(rng, unit.responses * unit.size(w) * rng.gammavariate(100, 0.01))
        views = sum(rng.random() >= DONT_KNOW for _ in range(responses))
        noise = rng.gauss(0.0, unit.spread)
        positive = min(max(expit(logit(self.usual[index]) + noise) + self.shift(index), 0.02), 0.98)
        count = sum(rng.random() >= positive for _ in range(views))
        mean, between = self.moments[index]
        variance = views * mean * (1.0 - mean) + views * max(views - 1, 0) * between
        return (count - views * mean) / math.sqrt(variance) if variance > 0 else 0.0

    def shift_sd(self) -> float:
        """The episode's mean expected shift in sd of a week's count."""
        unit, out = self.drop.unit, []
        for index in range(WARMUP, WARMUP + self.drop.length):
            views = unit.responses * unit.size(self.weeks[index]) * (1.0 - DONT_KNOW)
            mean, between = self.moments[index]
            sd = math.sqrt(views * mean * (1.0 - mean) + views * views * between)
            out.append(-views * self.shift(index) / sd)
        return statistics.fmean(out)


def run_cusum(zs: list[float], reference: float, limit: float) -> int | None:
    """The episode-relative week of the first signal inside the episode or its tolerance."""
    statistic = 0.0
    for index, z in enumerate(zs):
        statistic = max(0.0, statistic + min(max(z, -3.0), 4.0) - reference)
        if statistic >= limit:
            if index >= WARMUP:
                return index - WARMUP
            statistic = 0.0
    return None


@dataclass(slots=True)
class Tally:
    found: int = 0
    tried: int = 0
    delays: list[int] | None = None

    def add(self, delay: int | None) -> None:
        self.tried += 1
        if delay is not None:
            self.found += 1
            if self.delays is None:
                self.delays = []
            self.delays.append(delay)

    def summary(self) -> dict[str, float | None]:
        delays = sorted(self.delays or [])
        return {
            "recall": round(self.found / self.tried, 3) if self.tried else None,
            "median_delay": statistics.median(delays) if delays else None,
            "p75_delay": delays[(3 * len(delays)) // 4] if delays else None,
            "delay_le_1": round(sum(d <= 1 for d in delays) / self.tried, 3)
            if self.tried
            else None,
        }


class Limits:
    """CUSUM limits for a reference and an in-control run length, nominal or measured on a pool
    of quiet true z."""

    def __init__(self, pool: list[float]) -> None:
        self.pool = [min(max(z, -3.0), 4.0) for z in pool]
        self.cache: dict[tuple[float, float], float] = {}

    def signals(self, reference: float, limit: float) -> int:
        statistic, count = 0.0, 0
        for z in self.pool:
            statistic = statistic + z - reference
            if statistic < 0.0:
                statistic = 0.0
            elif statistic >= limit:
                count += 1
                statistic = 0.0
        return count

    def measured(self, reference: float, arl: float) -> float:
        key = (round(reference, 2), arl)
        if key not in self.cache:
            low, high = 0.0, 25.0
            for _ in range(14):
                middle = (low + high) / 2.0
                if len(self.pool) / max(self.signals(key[0], middle), 1) < arl:
                    low = middle
                else:
                    high = middle
            self.cache[key] = high
        return self.cache[key]

    def designs(self, delta: float) -> list[tuple[str, float, float]]:
        known = round(delta / 2.0 / 0.05) * 0.05
        out = [
            (f"known_shift_nominal_{NOMINAL_ARL:.0f}", known, limit_for(known, NOMINAL_ARL)),
            (f"k0.9_nominal_{NOMINAL_ARL:.0f}", OUR_REFERENCE,
             limit_for(OUR_REFERENCE, NOMINAL_ARL)),
        ]  # fmt: skip
        for arl in MEASURED_ARLS:
            out.append((f"known_shift_measured_{arl:.0f}", known, self.measured(known, arl)))
            out.append((f"k0.9_measured_{arl:.0f}", OUR_REFERENCE,
                        self.measured(OUR_REFERENCE, arl)))  # fmt: skip
        return out


def quiet_pool(drop_list: list[Drop], size: int, rng: random.Random) -> list[float]:
    """`size` true z of the drops' own units with no drop (their warm-up weeks, cycled)."""
    weeks = [Weeks(drop) for drop in drop_list]
    return [weeks[i % len(weeks)].z(rng, (i // len(weeks)) % WARMUP) for i in range(size)]


def oracle(drop: Drop, replicates: int, rng: random.Random, limits: Limits) -> dict[str, Tally]:
    weeks = Weeks(drop)
    tallies: dict[str, Tally] = {}
    chosen = limits.designs(weeks.shift_sd())
    for _ in range(replicates):
        zs = [weeks.z(rng, i) for i in range(len(weeks.weeks))]
        for name, reference, limit in chosen:
            tallies.setdefault(name, Tally()).add(run_cusum(zs, reference, limit))
    return tallies


def ours(seed: int) -> dict[tuple[str, str], int | None]:
    """Our detector through the engine on one family seed: per detectable drop, its delay from
    the episode's start (None: missed), matched as `pipeline.simulation.score` matches."""
    from pipeline.simulation.family_events import simulate_family
    from pipeline.simulation.score import replay, score

    trust = simulate_family(FamilyConfig(seed=seed))
    alerts = replay(trust.events)
    out: dict[tuple[str, str], int | None] = {}
    for drop in drops(seed):
        result = score([drop.record], trust.units, trust.start, trust.weeks, alerts,
                       judged_from=10)  # fmt: skip
        delays = result.overall.delays
        out[(drop.unit.org_id, drop.unit.unit_id)] = delays[0] if delays else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first", type=int, default=1001)
    parser.add_argument("--last", type=int, default=1100)
    parser.add_argument("--replicates", type=int, default=300)
    parser.add_argument("--quiet", type=int, default=300_000)
    parser.add_argument("--ours", type=int, nargs="*", default=[])
    args = parser.parse_args()
    rng = random.Random(13)
    pooled: dict[str, Tally] = {}
    evident: list[int] = []
    all_drops = [d for s in range(args.first, args.last + 1) for d in drops(s)]
    limits = Limits(quiet_pool(all_drops, args.quiet, rng))
    for drop in all_drops:
        for name, tally in oracle(drop, args.replicates, rng, limits).items():
            into = pooled.setdefault(name, Tally())
            into.found += tally.found
            into.tried += tally.tried
            into.delays = (into.delays or []) + (tally.delays or [])
        if drop.record.evident is not None:
            evident.append((drop.record.evident - drop.record.start).days // 7)
    evident.sort()
    print(json.dumps({
        "seeds": [args.first, args.last],
        "detectable_drops": len(all_drops),
        "evident_week_median": statistics.median(evident),
        "evident_week_p75": evident[(3 * len(evident)) // 4],
        "evident_by_week_1": round(sum(e <= 1 for e in evident) / len(evident), 3),
        "oracles": {name: tally.summary() for name, tally in sorted(pooled.items())},
        "limits": {f"{k}@{a:.0f}": round(h, 2) for (k, a), h in sorted(limits.cache.items())},
    }, indent=2), flush=True)  # fmt: skip
    for seed in args.ours:
        found = ours(seed)
        for drop in drops(seed):
            tallies = oracle(drop, args.replicates, rng, limits)
            print(json.dumps({
                "seed": seed, "unit": f"{drop.unit.org_id}/{drop.unit.unit_id}",
                "description": drop.record.description,
                "evident_week": (drop.record.evident - drop.record.start).days // 7
                if drop.record.evident else None,
                "ours_delay": found[(drop.unit.org_id, drop.unit.unit_id)],
                **{name: t.summary() for name, t in tallies.items() if "k0.9" in name},
            }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
