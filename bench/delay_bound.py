"""How early the family's planted episodes can be raised at all, from the planner's own truth.

The scoring (`pipeline.simulation.score`) counts an episode's delay from its **first planted
week** (0: raised when that week's window closed). The family plants sustained episodes that
no single week shows: a drop of the positive share of 0.06 to 0.25 for 5 to 10 weeks, detectable
when its pooled shift over the whole episode reaches 5.5 sd (`family_plan.DETECTABLE_SD`), and
a reporting silence to 0 to 20% for 4 to 8 weeks, detectable at a pooled shortfall of 3 sd.
Each record also holds the week it became **evident** (its pooled shift first reached that
line). A median delay of 1 needs half of the detectable episodes raised by the close of their
second week, on the evidence of those two weeks alone.

Per kind, over every detectable record of seeds `--first` to `--last` (default 1001 to 1100,
which nobody scores; only the planner runs, no events):

- the median week it became evident, and the share evident by delay 0 and by delay 1;
- the pooled shift of its first two weeks, in sd of their pooled count: the whole episode's
  shift times sqrt(2 / length) (a planted episode's weekly shift and variance are nearly
  constant: same unit, same drop or fall);
- what an **ideal two-week test** would raise by delay 1: one that knows each unit's true
  weekly distribution and tests every pair of weeks at a per-window risk of 1 in `arl` (3,000:
  a third of the whole false-alarm budget of 1 in 1,000 quiet unit-weeks, spent on this one
  measure; 1,000: all of it), seeing a first-two-weeks shift of d sd with probability
  Φ(d − Φ⁻¹(1 − 1/arl)). It knows what no detector knows (the true level and spread), so it
  bounds the share from above.

Run: `python -m bench.delay_bound [--first 1001 --last 1100]`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

from pipeline.simulation.family import FamilyConfig
from pipeline.simulation.family_events import plan_family
from pipeline.simulation.trust import TruthEpisode

ARLS = (3_000.0, 1_000.0)
_NORMAL = NormalDist()
_POOLED = re.compile(r"for (\d+) weeks \(([\d.]+) sd")


@dataclass(frozen=True, slots=True)
class Planted:
    """One detectable record: its kind, length in weeks, pooled shift over the whole episode
    (sd) and the week it became evident, counted from its first week."""

    kind: str
    length: int
    pooled_sd: float
    evident: int

    @property
    def first_two_weeks_sd(self) -> float:
        """The pooled shift of the episode's first two weeks, in sd of their pooled count."""
        return self.pooled_sd * math.sqrt(min(2, self.length) / self.length)


def planted(truth: Iterable[TruthEpisode]) -> list[Planted]:
    """The detectable, non-decoy records that hold a pooled shift and an evident week."""
    found = []
    for record in truth:
        match = _POOLED.search(record.description)
        if record.decoy or not record.detectable or match is None or record.evident is None:
            continue
        found.append(Planted(
            record.kind.value, int(match.group(1)), float(match.group(2)),
            (record.evident - record.start).days // 7,
        ))  # fmt: skip
    return found


def ideal_share(records: list[Planted], arl: float) -> float:
    """The expected share of `records` an ideal two-week test at a per-window risk of 1 in
    `arl` raises by delay 1 (see the module docstring)."""
    line = _NORMAL.inv_cdf(1.0 - 1.0 / arl)
    return statistics.fmean(_NORMAL.cdf(r.first_two_weeks_sd - line) for r in records)


def summary(records: list[Planted]) -> dict[str, object]:
    evident = [r.evident for r in records]
    return {
        "episodes": len(records),
        "evident_week_median": statistics.median(evident),
        "evident_by_delay_0": round(sum(e <= 0 for e in evident) / len(evident), 3),
        "evident_by_delay_1": round(sum(e <= 1 for e in evident) / len(evident), 3),
        "first_two_weeks_sd_median": round(
            statistics.median(r.first_two_weeks_sd for r in records), 2
        ),
        "ideal_two_week_test_by_delay_1": {
            f"arl {arl:.0f}": round(ideal_share(records, arl), 3) for arl in ARLS
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first", type=int, default=1001)
    parser.add_argument("--last", type=int, default=1100)
    args = parser.parse_args()
    records: list[Planted] = []
    for seed in range(args.first, args.last + 1):
        truth, _, _ = plan_family(FamilyConfig(seed=seed), random.Random(f"family-{seed}"))
        records.extend(planted(truth))
    kinds = sorted({r.kind for r in records})
    report = {kind: summary([r for r in records if r.kind == kind]) for kind in kinds}
    report["all"] = summary(records)
    print(json.dumps({"seeds": [args.first, args.last], **report}, indent=2))


if __name__ == "__main__":
    main()
