"""The four Making Data Count rules for special cause variation, as NHSRplotthedots applies them.

Pure: standard library only. `spc.xmr` calls `special_causes` once per chart segment.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from enum import StrEnum

# Points in a run (one side of the mean) or a trend (rising or falling) that make a signal.
RUN_LENGTH = 7


class SpecialCauseRule(StrEnum):
    """The rule that made a point special cause, in the reference's order of precedence."""

    OUTSIDE_LIMITS = "outside_limits"
    TREND = "trend"
    TWO_OF_THREE = "two_of_three"
    SHIFT = "shift"


def special_causes(
    values: Sequence[float], relative: list[int], near: list[bool], outside: list[bool]
) -> list[tuple[SpecialCauseRule, int] | None]:
    """The first rule each point breaks, in the reference's precedence, with its direction."""
    in_trend = _part_of_run(_trend_ends(values))
    in_two_of_three = _two_of_three(near, relative)
    in_shift = _part_of_run(_shift_ends(relative))
    causes: list[tuple[SpecialCauseRule, int] | None] = []
    for i, side in enumerate(relative):
        if outside[i]:
            causes.append((SpecialCauseRule.OUTSIDE_LIMITS, side))
        elif in_trend[i]:
            causes.append((SpecialCauseRule.TREND, _trend_direction(values, in_trend, i)))
        elif in_two_of_three[i]:
            causes.append((SpecialCauseRule.TWO_OF_THREE, 1 if side > 0 else -1))
        elif in_shift[i]:
            causes.append((SpecialCauseRule.SHIFT, side))
        else:
            causes.append(None)
    return causes


def _trend_ends(values: Sequence[float]) -> list[int]:
    """1 (or -1) at each point ending seven strictly rising (or falling) points, else 0."""
    steps = [0, *(sign(after - before) for before, after in itertools.pairwise(values))]
    ends = [0] * len(values)
    for i in range(RUN_LENGTH - 1, len(values)):
        window = set(steps[i - RUN_LENGTH + 2 : i + 1])
        if window in ({1}, {-1}):
            ends[i] = steps[i]
    return ends


def _shift_ends(relative: list[int]) -> list[int]:
    """The side at each point ending seven points on the same side of the mean, else 0."""
    ends = [0] * len(relative)
    for i in range(RUN_LENGTH - 1, len(relative)):
        window = set(relative[i - RUN_LENGTH + 1 : i + 1])
        if window in ({1}, {-1}):
            ends[i] = relative[i]
    return ends


def _part_of_run(ends: list[int]) -> list[bool]:
    """Whether each point is one of the seven points that end at a non-zero entry of `ends`."""
    return [any(ends[i : i + RUN_LENGTH]) for i in range(len(ends))]


def _two_of_three(near: list[bool], relative: list[int]) -> list[bool]:
    """Near-limit points in a window of three consecutive points, all on one side of the mean,
    of which at least two are near a limit (beyond the 2-sigma line but inside the limits)."""
    flagged = [False] * len(near)
    for start in range(len(near) - 2):
        window = range(start, start + 3)
        same_side = abs(sum(relative[i] for i in window)) == 3
        if same_side and sum(near[i] for i in window) >= 2:
            for i in window:
                flagged[i] = flagged[i] or near[i]
    return flagged


def _trend_direction(values: Sequence[float], in_trend: list[bool], i: int) -> int:
    # Where two trends meet, a point takes the direction of the step to its right (the
    # reference's fix for issue #167); the last point of a trend takes the step to its left.
    if i + 1 < len(values) and in_trend[i + 1]:
        step = sign(values[i + 1] - values[i])
    else:
        step = sign(values[i] - values[i - 1]) if i > 0 else 0
    return 1 if step == 1 else -1


def sign(number: float) -> int:
    """-1, 0 or 1."""
    return (number > 0) - (number < 0)
