"""Units near their target line: the family's `near_target_per_org` option (off by default).

The family's own divergences sit at units whose expected attainment clears the target by
`family_plan.MET_BUFFER` in every week, so no week of them misses it. Outside evaluations plant
feedback drops at small units whose attainment sits within a point or two of the target, where
single weeks miss it. With the option, each organisation gains `near_target_per_org` units with
a divergence near their line (the first, third, ... small, 12 to 30 responses a week; the others
25 to 70) and one unit (12 to 70) with a "both fall" decoy near its line. None of them changes
size, and no other episode is planted on them.

- **Near-target divergence**: the positive share falls by 0.15 to 0.25 for 6 to 10 weeks (small
  units) or by 0.10 to 0.25 for 5 to 10 weeks. The unit's margin is set so that its expected
  attainment (before the weekly noise, sd 0.008) is at or above the target in every week of
  the episode and 0 to 1.5 points above it in the episode's closest week (the winter moves the
  other weeks up to about 2.5 points further). That is what counts as *hitting the target*
  here: met throughout by expectation, while realised weeks miss it by chance (a week 0.5
  points clear misses about 1 time in 4). Detectable, as every divergence of the family, when
  the pooled shift reaches 5.5 sd (`DETECTABLE_SD`); at 12 to 14 responses a week only the
  largest drops (about 0.25 for 9 or 10 weeks) do.
- **Near-target both fall** (a decoy): the same kind of unit; over the episode's 4 to 6 weeks (a
  monthly return: the whole months it touches) expected attainment falls to 0.5 to 2.5 points
  below the target, and the positive share falls by 0.10 to 0.25 in the same weeks. The target is
  missed by expectation, so no divergence may be raised, although weeks of it meet the target by
  chance (at 0.5 points below, about 1 week in 4).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from pipeline.core.alerts import AlertKind
from pipeline.simulation.family import METRICS, FamilyConfig, Unit

if TYPE_CHECKING:
    from pipeline.simulation.family_plan import _Planner

_NAMES = ("ward-5", "ward-6", "ward-7", "ward-8", "ward-9")
SMALL_RESPONSES = (12.0, 30.0)
MEDIUM_RESPONSES = (25.0, 70.0)
DECOY_RESPONSES = (12.0, 70.0)
CLEAR = (0.0, 0.015)  # expected attainment above the target in an episode's closest week
BELOW = (0.005, 0.025)  # expected attainment below the target in a both-fall decoy


def draw_near_units(rng: random.Random, config: FamilyConfig, org_id: str) -> list[Unit]:
    """An organisation's near-target units: `near_target_per_org` for divergences, then one for
    a both-fall decoy. Their margins are set when their episodes are planted."""
    count = config.near_target_per_org + 1
    units = []
    for index, name in enumerate(_NAMES[:count]):
        if index == count - 1:
            low, high = DECOY_RESPONSES
        else:
            low, high = MEDIUM_RESPONSES if index % 2 else SMALL_RESPONSES
        metric, target = rng.choice(METRICS)
        units.append(
            Unit(
                org_id=org_id,
                unit_id=name,
                responses=low * (high / low) ** rng.random(),  # log-uniform
                positive=rng.uniform(0.70, 0.92),
                neutral=rng.uniform(0.45, 0.70),
                spread=rng.uniform(0.12, 0.32),
                drift=rng.uniform(-0.3, 0.3) / config.weeks,
                metric=metric,
                target=target,
                margin=rng.uniform(*CLEAR),
                monthly=rng.random() < 1 / 3,
                activity=150.0 * 10 ** rng.uniform(0.0, 1.2),
                incidents=rng.uniform(1.0, 8.0),
                resize_week=10**6,
                resize=1.0,
                feedback_shift=[0.0] * config.weeks,
                attainment_shift=[0.0] * config.weeks,
                harm_factor=[1.0] * config.weeks,
                reporting=[1.0] * config.weeks,
                near_target=True,
            )
        )
    return units


def plant_near_target(planner: _Planner, units: list[Unit], detectable_sd: float) -> None:
    """Plant the divergences and the decoy on `units` (from `draw_near_units`, in its order);
    a divergence is detectable when its pooled shift reaches `detectable_sd`."""
    *divergent, decoy = units
    for index, unit in enumerate(divergent):
        _divergence(planner, unit, index % 2 == 0, detectable_sd)
    _both_fall(planner, decoy)


def _weeks(planner: _Planner, length: int) -> int | None:
    """A first week for an episode of `length` weeks, clear of the organisation's dip."""
    config = planner.config
    for _ in range(40):
        first = planner.rng.randint(config.warmup_weeks, config.weeks - length - 3)
        if not set(range(first - 2, first + length + 2)) & planner.blocked:
            return first
    return None


def _dip(planner: _Planner, week: int) -> float:
    """How far the organisation's winter lowers attainment in `week`."""
    return planner.season.attainment * planner.season.level[week]


def _set_margin(planner: _Planner, unit: Unit, weeks: range) -> None:
    """Expected attainment clears the target in every one of `weeks`, by 0 to 1.5 points in the
    closest."""
    unit.margin = max(_dip(planner, w) for w in weeks) + planner.rng.uniform(*CLEAR)


def _drop(planner: _Planner, unit: Unit, weeks: range, size: float) -> None:
    for w in weeks:
        unit.feedback_shift[w] = -min(size, planner.season.positive(unit, w) - 0.15)


def _divergence(planner: _Planner, unit: Unit, small: bool, detectable_sd: float) -> None:
    rng = planner.rng
    length = rng.randint(6, 10) if small else rng.randint(5, 10)
    first = _weeks(planner, length)
    if first is None:
        return
    weeks = range(first, first + length)
    _set_margin(planner, unit, weeks)
    size = rng.uniform(0.15, 0.25) if small else rng.uniform(0.10, 0.25)
    _drop(planner, unit, weeks, size)
    sd = planner.feedback_shift_sd(unit, first, length)
    evident = next(
        (w for w in weeks
         if planner.feedback_shift_sd(unit, first, w - first + 1) >= detectable_sd), None,
    )  # fmt: skip
    clear = min(unit.margin - _dip(planner, w) for w in weeks)
    text = (
        f"near target (+{clear * 100:.1f} points): positive share -{size:.2f} for {length} "
        f"weeks at {unit.responses:.0f} a week ({sd:.1f} sd pooled)"
    )
    planner._record(AlertKind.TARGET_EXPERIENCE_DIVERGENCE, unit, first, length,
                    sd >= detectable_sd, False, text, evident)  # fmt: skip
    planner._record(AlertKind.MASKED_DARK_SPOT, unit, first, length, False, False, "not scored")


def _both_fall(planner: _Planner, unit: Unit) -> None:
    rng = planner.rng
    config = planner.config
    length = rng.randint(4, 6)
    first = _weeks(planner, length)
    if first is None:
        return
    weeks = range(first, first + length)
    # A monthly return averages its month: the fall covers whole months, so that every return
    # the episode touches is missed (as family_plan's both_dip).
    missed = weeks
    if unit.monthly:
        missed = range(max(0, first - 4), min(config.weeks, first + length + 4))
    _set_margin(planner, unit, missed)
    below = rng.uniform(*BELOW)
    for w in missed:
        unit.attainment_shift[w] = -(unit.margin - _dip(planner, w)) - below
    size = rng.uniform(0.10, 0.25)
    _drop(planner, unit, weeks, size)
    text = (
        f"near target: attainment to {below * 100:.1f} points below it and positive share "
        f"-{size:.2f} together for {length} weeks at {unit.responses:.0f} a week"
    )
    planner._record(AlertKind.TARGET_EXPERIENCE_DIVERGENCE, unit, first, length, False, True, text)
