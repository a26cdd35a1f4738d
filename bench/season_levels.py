"""How far each unit's learnt level of the positive share sits from its truth, by season.

A unit's usual level is learnt over its last 26 baseline weeks (`max_baseline_windows`). The
family's organisations dip every winter (`family_plan.Season`), so in spring a baseline that
still holds the winter reads high: a drop then only brings the unit to the level it learnt.
The organisation-relative term of the CUSUM (`detection.common`) is meant to take that out.
This bench measures both, on the family's own truth:

- **levels**: for every unit and judged week outside its planted records (and their scoring
  tolerance), the learnt not-positive share of the unit's CUSUM monitor (its predictive mean
  over the week's responses) divided by the true usual not-positive share of that week
  (`Season.positive`: season and drift, before the week's noise), and the common offset taken
  out of the unit's CUSUM that week (in z; negative: the others read better than they usually
  do), grouped by how much more winter the 26 weeks before held (`winter_band`); and, over
  the weeks the unit met its targets (those its CUSUM reads), the mean z of the week and the
  mean z less the offset: what a quiet week adds to the CUSUM, about 0 where the offset takes
  the season out;
- **drops**: for every detectable drop of the positive share, whether `Detector` found it
  (a finding of its kind at its unit overlapping its weeks or the 2 after, as
  `pipeline.simulation.score` matches), with the unit's learnt level over its truth at the
  drop's first week beside the median of the same ratio over the organisation's other units.

Each seed is replayed through the engine once (`score.closed_series`, a minute or so a seed).
Run: `python -m bench.season_levels SEED... [--json]` (never the blind seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from pipeline.core.alerts import AlertKind
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.common import org_figures_and_offsets
from pipeline.core.detection.detector import Detector
from pipeline.core.detection.measures import Measure
from pipeline.core.detection.unit import measure_traces
from pipeline.simulation.family import FamilyConfig
from pipeline.simulation.family_events import plan_family, simulate_family
from pipeline.simulation.family_plan import Season
from pipeline.simulation.score import TOLERANCE_WEEKS, closed_series

BANDS = ((-1.01, 0.1, "as wintry"), (0.1, 0.3, "more winter"), (0.3, 1.01, "winter past"))
"""Bands of how much more winter (`Season.level`, 0 to 1) the 26 weeks before a week held, on
average, than the week itself: "winter past" is the spring after it."""
Row = tuple[str, float, float, float]  # (band, learnt level / true level, offset, z or NaN)
FIRST_WEEK = 12  # the first judged weeks have baselines of a few windows only


def winter_band(levels: Sequence[float], week: int, span: int = 26) -> str:
    """The band (`BANDS`) of the mean winter weight over the `span` weeks before `week` less
    the weight of `week` itself."""
    before = levels[max(0, week - span) : week]
    excess = (statistics.fmean(before) if before else 0.0) - levels[week]
    return next(name for low, high, name in BANDS if low <= excess < high)


@dataclass(frozen=True, slots=True)
class BandSummary:
    band: str
    weeks: int
    median_ratio: float
    mean_ratio: float
    mean_offset: float
    met_weeks: int
    mean_z: float
    mean_z_less_offset: float


def summarise(rows: Iterable[Row]) -> list[BandSummary]:
    """Per band, in `BANDS` order, from (band, ratio, offset, z) rows (z NaN where the target
    was missed): the unit-weeks, the median and mean learnt-over-true level, the mean offset,
    and over the rows with a z, their count, mean z and mean z less the offset. Bands without
    rows are left out."""
    grouped: dict[str, list[tuple[float, float, float]]] = {}
    for band, ratio, offset, z in rows:
        grouped.setdefault(band, []).append((ratio, offset, z))
    summaries = []
    for _, _, name in BANDS:
        if name not in grouped:
            continue
        group = grouped[name]
        judged = [(z, offset) for _, offset, z in group if z == z]  # not NaN
        summaries.append(BandSummary(
            name,
            len(group),
            round(statistics.median(r for r, _, _ in group), 3),
            round(statistics.fmean(r for r, _, _ in group), 3),
            round(statistics.fmean(o for _, o, _ in group), 3),
            len(judged),
            round(statistics.fmean(z for z, _ in judged), 3) if judged else math.nan,
            round(statistics.fmean(z - o for z, o in judged), 3) if judged else math.nan,
        ))  # fmt: skip
    return summaries


@dataclass(frozen=True, slots=True)
class Drop:
    seed: int
    unit: str
    first_week: int
    description: str
    found: bool
    own_ratio: float
    others_median_ratio: float
    band: str


def _week(moment: datetime, start: datetime) -> int:
    return (moment - start).days // 7


def measure_seed(seed: int, config: DetectionConfig) -> tuple[list[Row], list[Drop]]:
    """(band, ratio, offset) of every quiet judged unit-week of family seed `seed`, and its
    detectable drops (see the module docstring)."""
    family = FamilyConfig(seed=seed)
    trust = simulate_family(family)
    _, planned, seasons = plan_family(family, random.Random(f"family-{seed}"))
    usual = {(u.org_id, u.unit_id): u for u in planned}
    start = trust.start
    series = closed_series(trust.events)
    busy: dict[tuple[str, str], set[int]] = {}
    for record in trust.truth:
        first, end = _week(record.start, start), _week(record.end, start)
        busy.setdefault((record.org_id, record.unit_id), set()).update(
            range(first, end + TOLERANCE_WEEKS)
        )
    rows: list[Row] = []
    ratios: dict[tuple[str, str], dict[int, float]] = {}
    findings = []
    detector = Detector(config)
    for org in sorted({o for o, _ in series}):
        members = {u: s for (o, u), s in series.items() if o == org}
        findings += detector.units_findings(members) + detector.org_findings(members)
        season: Season = seasons[org]
        figures, offsets = org_figures_and_offsets(members, config)
        for unit, figure in figures.items():
            positive = measure_traces(figure, config, offsets[unit])[1]
            trace = positive.trace
            for i, window in enumerate(figure.windows):
                week = _week(window.start, start)
                predictive = trace.predictive(i)
                if predictive is None or not figure.responses[i] or week < FIRST_WEEK:
                    continue
                truth = 1.0 - season.positive(usual[(org, unit)], week)
                ratio = predictive.mean / figure.responses[i] / truth
                ratios.setdefault((org, unit), {})[week] = ratio
                if week not in busy.get((org, unit), set()):
                    offset = offsets[unit][Measure.POSITIVE_SHARE][i]
                    z = trace.z[i] if figure.targets_met[i] else math.nan
                    rows.append((winter_band(season.level, week), ratio, offset, z))
    drops = []
    for record in trust.truth:
        if record.kind is not AlertKind.TARGET_EXPERIENCE_DIVERGENCE or record.decoy:
            continue
        if not record.detectable or not record.description.startswith("positive share"):
            continue
        first, last = _week(record.start, start), _week(record.end, start) - 1
        found = any(
            (f.kind, f.org_id, f.unit_id) == (record.kind, record.org_id, record.unit_id)
            and _week(f.first_window.start, start) <= last + TOLERANCE_WEEKS
            and _week(f.last_window.start, start) >= first
            for f in findings
        )
        own = ratios.get((record.org_id, record.unit_id), {}).get(first, float("nan"))
        others = [
            r[first]
            for (o, u), r in ratios.items()
            if o == record.org_id and u != record.unit_id and first in r
        ]
        median = round(statistics.median(others), 3) if others else float("nan")
        band = winter_band(seasons[record.org_id].level, first)
        unit = f"{record.org_id}/{record.unit_id}"
        own = round(own, 3)
        drops.append(Drop(seed, unit, first, record.description, found, own, median, band))
    return rows, drops


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=int, nargs="+")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    args = parser.parse_args(argv)
    config = DetectionConfig()
    rows: list[Row] = []
    drops: list[Drop] = []
    for seed in args.seeds:
        seed_rows, seed_drops = measure_seed(seed, config)
        rows += seed_rows
        drops += seed_drops
    bands = summarise(rows)
    missed_by_band: Mapping[str, tuple[int, int]] = {
        name: (sum(not d.found for d in drops if d.band == name),
               sum(d.band == name for d in drops))
        for _, _, name in BANDS
    }  # fmt: skip
    if args.json:
        document = {
            "bands": [asdict(b) for b in bands],
            "drops": [asdict(d) for d in drops],
            "missed_by_band": missed_by_band,
        }
        sys.stdout.write(json.dumps(document, indent=1) + "\n")
        return
    print("baseline band  unit-weeks  learnt/true median  mean  offset  met weeks  z  z-offset")
    for b in bands:
        ratios = f"{b.median_ratio:18.3f} {b.mean_ratio:5.3f} {b.mean_offset:7.3f}"
        judged = f"{b.met_weeks:10d} {b.mean_z:6.3f} {b.mean_z_less_offset:8.3f}"
        print(f"{b.band:14s} {b.weeks:10d}  {ratios} {judged}")
    print("\ndrops missed / detectable by band:", dict(missed_by_band))
    print("\nmissed drops: seed unit week, description, learnt/true own vs others' median, band")
    for d in drops:
        if not d.found:
            print(f"  {d.seed} {d.unit} wk {d.first_week}, {d.description}: "
                  f"{d.own_ratio:.2f} vs {d.others_median_ratio:.2f}, {d.band}")  # fmt: skip


if __name__ == "__main__":
    main()
