"""XmR charts with NHS England "Making Data Count" rules, as NHSRplotthedots 0.2.2 computes them.

An XmR chart puts a centre line at the mean and process limits at the mean ± 2.66 times the mean
moving range; points that break one of four rules are special cause variation, coloured as
improvement or concern by the direction that counts as better. The chart can be split at rebase
points (each segment gets its own limits) and its limits can be fixed on the first N points of each
segment. docs/spc.md lists the reference version and every choice made where guidance differs.

Pure: standard library only, no I/O, no clock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar, overload

from pipeline.core.spc_rules import SpecialCauseRule as SpecialCauseRule  # part of a point
from pipeline.core.spc_rules import sign, special_causes

# 3 / d2, with d2 = 1.128 the bias constant for moving ranges of two points.
LIMIT_WIDTH = 2.66
# The "2 sigma" line of the two-out-of-three rule: two thirds of the way to the process limit.
NEAR_LIMIT_WIDTH = 2 * LIMIT_WIDTH / 3
# D4 for ranges of two points: a moving range above D4 × the mean moving range is screened out.
MOVING_RANGE_SCREEN = 3.267
# NHSRplotthedots refuses to fix limits on fewer points than this.
MIN_FIX_AFTER_N_POINTS = 12

X = TypeVar("X")
# Charts and points are immutable, so a chart of dates is also a chart of objects.
X_co = TypeVar("X_co", covariant=True)


class Direction(StrEnum):
    """Which way is better for the measure; `neutral` when neither is."""

    INCREASE = "increase"
    DECREASE = "decrease"
    NEUTRAL = "neutral"


class PointType(StrEnum):
    """How one point is coloured; the neutral types only occur with `Direction.NEUTRAL`."""

    COMMON_CAUSE = "common_cause"
    SPECIAL_CAUSE_IMPROVEMENT = "special_cause_improvement"
    SPECIAL_CAUSE_CONCERN = "special_cause_concern"
    SPECIAL_CAUSE_NEUTRAL_HIGH = "special_cause_neutral_high"
    SPECIAL_CAUSE_NEUTRAL_LOW = "special_cause_neutral_low"


class Assurance(StrEnum):
    """Whether the process, as its latest limits describe it, will meet a target."""

    CONSISTENT_PASS = "consistent_pass"
    CONSISTENT_FAIL = "consistent_fail"
    INCONSISTENT = "inconsistent"


@dataclass(frozen=True, slots=True)
class XmrPoint(Generic[X_co]):
    """One point of an XmR chart with the lines of its segment.

    `x` is the label the caller gave (a date, a window, an index). The limits are None only in a
    segment of a single point, where there is no moving range. `relative_to_mean` is -1, 0 or 1;
    `direction` is the side a special cause points to (1 high, -1 low) and 0 for common cause.
    """

    x: X_co
    y: float
    segment: int
    mean: float
    mean_moving_range: float | None
    lpl: float | None
    upl: float | None
    lpl_2sigma: float | None
    upl_2sigma: float | None
    relative_to_mean: int
    special_cause_rule: SpecialCauseRule | None
    direction: int
    point_type: PointType


@dataclass(frozen=True, slots=True)
class XmrChart(Generic[X_co]):
    """An XmR chart: its points in order, with the verdicts the Making Data Count icons show.

    `variation` is the type of the latest point; `assurance` compares the target with the latest
    point's process limits, and is None without a target or when the direction is neutral.
    """

    points: tuple[XmrPoint[X_co], ...]
    improvement: Direction
    target: float | None
    variation: PointType
    assurance: Assurance | None


def check_series(values: Sequence[float], target: float | None) -> None:
    """Raise ValueError for no values, or a value or target that is not finite (what every
    XmR chart refuses)."""
    if not values:
        raise ValueError("an XmR chart needs at least one value")
    if not all(math.isfinite(value) for value in values):
        raise ValueError("every value of an XmR chart must be a finite number")
    if target is not None and not math.isfinite(target):
        raise ValueError("the target must be a finite number")


def mean_moving_range(values: Sequence[float], *, screen_outliers: bool = True) -> float | None:
    """Mean of the moving ranges |v[i] - v[i-1]|; None for fewer than two values.

    With `screen_outliers` (the reference's default), moving ranges not below 3.267 times the
    mean are dropped and the mean is taken again over the rest. When every moving range is zero
    the result is 0.0, so a flat series gets limits on its mean.
    """
    moving_ranges = [abs(after - before) for before, after in itertools.pairwise(values)]
    if not moving_ranges:
        return None
    mean = math.fsum(moving_ranges) / len(moving_ranges)
    if screen_outliers:
        kept = [mr for mr in moving_ranges if mr < MOVING_RANGE_SCREEN * mean]
        mean = math.fsum(kept) / len(kept) if kept else 0.0
    return mean


@overload
def xmr(
    values: Sequence[float],
    *,
    improvement: Direction,
    x: None = None,
    target: float | None = None,
    fix_after_n_points: int | None = None,
    rebase_at: Sequence[int] = (),
    screen_outliers: bool = True,
) -> XmrChart[int]: ...


@overload
def xmr(
    values: Sequence[float],
    *,
    improvement: Direction,
    x: Sequence[X],
    target: float | None = None,
    fix_after_n_points: int | None = None,
    rebase_at: Sequence[int] = (),
    screen_outliers: bool = True,
) -> XmrChart[X]: ...


def xmr(
    values: Sequence[float],
    *,
    improvement: Direction,
    x: Sequence[X] | None = None,
    target: float | None = None,
    fix_after_n_points: int | None = None,
    rebase_at: Sequence[int] = (),
    screen_outliers: bool = True,
) -> XmrChart[X] | XmrChart[int]:
    """Build the XmR chart of `values`, taken in the order given.

    `x` labels the points (default: their indices). `improvement` decides whether a high signal
    is improvement or concern. `rebase_at` holds indices where a new segment starts; each segment
    gets its own mean and limits and the rules never look across a boundary. With
    `fix_after_n_points` (at least 12) each segment's mean and limits come from its first N
    points only and are extended over the rest. `screen_outliers` is as in `mean_moving_range`.
    Raises ValueError for no values, a value or target that is not finite, labels of the wrong
    length, a `fix_after_n_points` below 12, or a rebase index out of range.
    """
    check_series(values, target)
    if fix_after_n_points is not None and fix_after_n_points < MIN_FIX_AFTER_N_POINTS:
        raise ValueError(f"fix_after_n_points must be at least {MIN_FIX_AFTER_N_POINTS}")
    labels: Sequence[Any] = range(len(values)) if x is None else x
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels for {len(values)} values")
    for index in rebase_at:
        if not 0 <= index < len(values):
            raise ValueError(f"rebase index {index} is outside 0..{len(values) - 1}")

    starts = sorted({0, *rebase_at})
    ends = [*starts[1:], len(values)]
    points: list[XmrPoint[X]] = []
    for segment, (start, end) in enumerate(zip(starts, ends, strict=True)):
        points.extend(
            _segment_points(
                labels[start:end],
                values[start:end],
                segment=segment,
                improvement=improvement,
                fix_after_n_points=fix_after_n_points,
                screen_outliers=screen_outliers,
            )
        )
    latest = points[-1]
    return XmrChart(
        points=tuple(points),
        improvement=improvement,
        target=target,
        variation=latest.point_type,
        assurance=assurance_of(latest, target, improvement),
    )


def _segment_points(
    labels: Sequence[X],
    values: Sequence[float],
    *,
    segment: int,
    improvement: Direction,
    fix_after_n_points: int | None,
    screen_outliers: bool,
) -> list[XmrPoint[X]]:
    baseline = values[:fix_after_n_points] if fix_after_n_points is not None else values
    mean = math.fsum(baseline) / len(baseline)
    mr_bar = mean_moving_range(baseline, screen_outliers=screen_outliers)

    def line(width: float) -> float | None:
        return None if mr_bar is None else mean + width * mr_bar

    lpl, upl = line(-LIMIT_WIDTH), line(LIMIT_WIDTH)
    lpl_2sigma, upl_2sigma = line(-NEAR_LIMIT_WIDTH), line(NEAR_LIMIT_WIDTH)
    relative = [sign(value - mean) for value in values]
    outside = [
        lpl is not None and upl is not None and (value > upl or value < lpl) for value in values
    ]
    near = [
        not is_outside
        and lpl_2sigma is not None
        and upl_2sigma is not None
        and (value < lpl_2sigma or value > upl_2sigma)
        for value, is_outside in zip(values, outside, strict=True)
    ]
    causes = special_causes(values, relative, near, outside)
    return [
        XmrPoint(
            x=label,
            y=value,
            segment=segment,
            mean=mean,
            mean_moving_range=mr_bar,
            lpl=lpl,
            upl=upl,
            lpl_2sigma=lpl_2sigma,
            upl_2sigma=upl_2sigma,
            relative_to_mean=side,
            special_cause_rule=None if cause is None else cause[0],
            direction=0 if cause is None else cause[1],
            point_type=point_type(cause, improvement),
        )
        for label, value, side, cause in zip(labels, values, relative, causes, strict=True)
    ]


def point_type(cause: tuple[SpecialCauseRule, int] | None, improvement: Direction) -> PointType:
    """A point's type from its special cause (rule, side), or common cause when none."""
    if cause is None:
        return PointType.COMMON_CAUSE
    high = cause[1] > 0
    if improvement is Direction.NEUTRAL:
        return PointType.SPECIAL_CAUSE_NEUTRAL_HIGH if high else PointType.SPECIAL_CAUSE_NEUTRAL_LOW
    if high == (improvement is Direction.INCREASE):
        return PointType.SPECIAL_CAUSE_IMPROVEMENT
    return PointType.SPECIAL_CAUSE_CONCERN


def assurance_of(
    latest: XmrPoint[X], target: float | None, improvement: Direction
) -> Assurance | None:
    """The assurance of `target` against the latest point's limits (None without a target
    or a direction)."""
    if target is None or improvement is Direction.NEUTRAL:
        return None
    increase = improvement is Direction.INCREASE
    if latest.upl is not None and target > latest.upl:
        return Assurance.CONSISTENT_FAIL if increase else Assurance.CONSISTENT_PASS
    if latest.lpl is not None and target < latest.lpl:
        return Assurance.CONSISTENT_PASS if increase else Assurance.CONSISTENT_FAIL
    return Assurance.INCONSISTENT
