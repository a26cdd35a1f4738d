"""The latest point of an XmR chart alone, for summaries that show only that (the board).

`spc.xmr` colours every point; a summary reads only the latest one, its segment's lines and
the chart's assurance. Every rule reaches back a bounded distance from the point it colours
(a trend or shift the last `RUN_LENGTH` points, two-out-of-three the last three), so the
latest point's type is computed from the last `RUN_LENGTH` values and the single segment's
lines: what `xmr(values, improvement=..., target=...).points[-1]` (one segment, limits on
every point, outliers screened) gives, to the bit, without building the other points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

from pipeline.core.spc import (
    LIMIT_WIDTH,
    NEAR_LIMIT_WIDTH,
    Assurance,
    Direction,
    SpecialCauseRule,
    XmrPoint,
    assurance_of,
    check_series,
    mean_moving_range,
    point_type,
)
from pipeline.core.spc_rules import RUN_LENGTH, sign


def latest_point(
    values: Sequence[float], *, improvement: Direction, target: float | None = None
) -> tuple[XmrPoint[int], Assurance | None]:
    """`(chart.points[-1], chart.assurance)` of `xmr(values, improvement=improvement,
    target=target)`; raises ValueError as `xmr` does for no values or a non-finite one."""
    check_series(values, target)
    mean = math.fsum(values) / len(values)
    mr_bar = mean_moving_range(values)
    lines = None if mr_bar is None else [mean + w * mr_bar for w in _WIDTHS]
    tail = list(values[-RUN_LENGTH:])
    relative = [sign(value - mean) for value in tail]
    value, side = tail[-1], relative[-1]
    cause: tuple[SpecialCauseRule, int] | None = None
    if lines is not None and (value > lines[1] or value < lines[0]):
        cause = (SpecialCauseRule.OUTSIDE_LIMITS, side)
    elif len(tail) == RUN_LENGTH and _trend(tail):
        cause = (SpecialCauseRule.TREND, 1 if sign(tail[-1] - tail[-2]) == 1 else -1)
    elif lines is not None and _two_of_three(tail, relative, lines):
        cause = (SpecialCauseRule.TWO_OF_THREE, 1 if side > 0 else -1)
    elif len(tail) == RUN_LENGTH and set(relative) in ({1}, {-1}):
        cause = (SpecialCauseRule.SHIFT, side)
    lpl, upl, lpl_2sigma, upl_2sigma = (None,) * 4 if lines is None else lines
    point = XmrPoint(
        x=len(values) - 1,
        y=value,
        segment=0,
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
    return point, assurance_of(point, target, improvement)


_WIDTHS = (-LIMIT_WIDTH, LIMIT_WIDTH, -NEAR_LIMIT_WIDTH, NEAR_LIMIT_WIDTH)


def _trend(tail: Sequence[float]) -> bool:
    """Whether the last point ends `RUN_LENGTH` strictly rising or falling points (the only
    trend it can belong to: no later point ends one)."""
    steps = {sign(after - before) for before, after in pairwise(tail)}
    return steps in ({1}, {-1})


def _two_of_three(tail: Sequence[float], relative: Sequence[int], lines: Sequence[float]) -> bool:
    """Whether the last point is near a limit in the last three points, all on one side of
    the mean, at least two of them near a limit (the only window of three holding it)."""
    if len(tail) < 3 or abs(sum(relative[-3:])) != 3:
        return False
    lpl, upl, lpl_2sigma, upl_2sigma = lines
    near = [not (v > upl or v < lpl) and (v < lpl_2sigma or v > upl_2sigma) for v in tail[-3:]]
    return near[-1] and sum(near) >= 2
