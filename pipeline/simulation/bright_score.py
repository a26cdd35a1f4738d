"""Bright spots scored on the simulators: false bright spots per 100 quiet unit-weeks.

Neither generator plants improvements, so every bright-spot episode (`bright_episodes`, on the
windows `pipeline replay` closes: `score.closed_series`) that overlaps no truth record of its
unit (with `TOLERANCE_WEEKS` after the record) is a false bright spot; quiet unit-weeks are
counted as `pipeline.simulation.score` counts them (judged weeks outside every record).
Episodes overlapping a record (e.g. the weeks after a planted deterioration) are neither.

`python -m pipeline.simulation.bright_score {simulator,family} FIRST LAST [--jobs N]` prints the
pooled figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.bright import BrightSpot, bright_episodes
from pipeline.simulation.score import TOLERANCE_WEEKS, closed_series
from pipeline.simulation.trust import TruthEpisode

UnitKey = tuple[str, str]


@dataclass(slots=True)
class BrightScore:
    episodes: int = 0
    false_bright_spots: int = 0
    quiet_unit_weeks: int = 0
    found: list[str] = field(default_factory=list)

    def add(self, other: BrightScore) -> None:
        self.episodes += other.episodes
        self.false_bright_spots += other.false_bright_spots
        self.quiet_unit_weeks += other.quiet_unit_weeks
        self.found.extend(other.found)

    @property
    def per_100_quiet_unit_weeks(self) -> float:
        return 100.0 * self.false_bright_spots / self.quiet_unit_weeks

    def summary(self) -> dict[str, Any]:
        return {
            "bright_spot_episodes": self.episodes,
            "false_bright_spots": self.false_bright_spots,
            "quiet_unit_weeks": self.quiet_unit_weeks,
            "false_bright_spots_per_100_quiet_unit_weeks": self.per_100_quiet_unit_weeks,
            "found": self.found,
        }


def score_bright(
    truth: Sequence[TruthEpisode],
    units: Iterable[UnitKey],
    start: datetime,
    weeks: int,
    series: Mapping[UnitKey, Sequence[UnitWindowAggregate]],
    *,
    judged_from: int,
) -> BrightScore:
    """Count the bright-spot episodes of `series` against `truth` (module docstring)."""

    def week(moment: datetime) -> int:
        return (moment - start).days // 7

    busy: dict[UnitKey, set[int]] = {}
    for record in truth:
        busy.setdefault((record.org_id, record.unit_id), set()).update(
            range(week(record.start), week(record.end) + TOLERANCE_WEEKS)
        )
    orgs: dict[str, dict[str, Sequence[UnitWindowAggregate]]] = {}
    for (org, unit), windows in series.items():
        orgs.setdefault(org, {})[unit] = windows
    result = BrightScore()
    config = DetectionConfig()
    for org_units in orgs.values():
        for spot in bright_episodes(org_units, config):
            result.episodes += 1
            assert spot.first_window is not None and spot.last_window is not None
            span = set(range(week(spot.first_window), week(spot.last_window) + 1))
            if not span & busy.get((spot.org_id, spot.unit_id), set()):
                result.false_bright_spots += 1
                result.found.append(_describe(spot))
    result.quiet_unit_weeks = sum(
        len(set(range(judged_from, weeks)) - busy.get(unit, set())) for unit in units
    )
    return result


def _describe(spot: BrightSpot) -> str:
    assert spot.first_window is not None
    return (
        f"{spot.org_id}/{spot.unit_id} {spot.measure} {spot.first_window.date()} "
        f"{spot.windows} windows, {spot.reduction_vs_baseline} vs baseline, "
        f"{spot.reduction_vs_peers} vs peers"
    )


def score_seed(family: str, seed: int) -> BrightScore:
    """Simulate one trust of `family` (`simulator` or `family`), replay it and score it."""
    from pipeline.simulation import SimulationConfig, simulate_trust
    from pipeline.simulation.family import FamilyConfig
    from pipeline.simulation.family_events import simulate_family

    judged_from = DetectionConfig().min_baseline_windows
    if family == "family":
        trust = simulate_family(FamilyConfig(seed=seed))
        return score_bright(trust.truth, trust.units, trust.start, trust.weeks,
                            closed_series(trust.events), judged_from=judged_from)  # fmt: skip
    old = simulate_trust(SimulationConfig(seed=seed))
    return score_bright(old.truth, old.units, old.start, old.config.weeks,
                        closed_series(old.events), judged_from=judged_from)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("family", choices=("simulator", "family"))
    parser.add_argument("first", type=int)
    parser.add_argument("last", type=int)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    total = BrightScore()
    seeds = range(args.first, args.last + 1)
    with ProcessPoolExecutor(args.jobs) as pool:
        for result in pool.map(score_seed, [args.family] * len(seeds), seeds):
            total.add(result)
    sys.stdout.write(json.dumps(total.summary(), indent=2) + "\n")


if __name__ == "__main__":
    main()
