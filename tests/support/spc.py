"""Shorthands and hand-made charts for the XmR chart tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.core.spc import (
    Direction,
    PointType,
    SpecialCauseRule,
    XmrChart,
    xmr,
)

INCREASE, DECREASE, NEUTRAL = Direction.INCREASE, Direction.DECREASE, Direction.NEUTRAL

COMMON = PointType.COMMON_CAUSE
IMPROVEMENT = PointType.SPECIAL_CAUSE_IMPROVEMENT
CONCERN = PointType.SPECIAL_CAUSE_CONCERN

AE_DATA = Path("/work/shared/data/ae_attendances_2016-2019.csv")

# set.seed(123); rnorm(20): the series of NHSRplotthedots' tests (test-ptd_spc_standard.R).
RNORM_123 = [
    -0.56047565, -0.23017749, 1.55870831, 0.07050839, 0.12928774,
    1.71506499, 0.46091621, -1.26506123, -0.68685285, -0.44566197,
    1.22408180, 0.35981383, 0.40077145, 0.11068272, -0.55584113,
    1.78691314, 0.49785048, -1.96661716, 0.70135590, -0.47279141,
]  # fmt: skip

# Alternating +1/-1: never a run, a trend or a point near a limit. Twelve of them, with the limits
# fixed on them, give a chart with mean 0, mean moving range 2, process limits at ±5.32 and
# 2-sigma lines at ±3.5467, against which a tail of points can be placed exactly.
BASELINE = [1.0, -1.0] * 6


def fixed_chart(tail: Sequence[float], improvement: Direction = INCREASE) -> XmrChart[int]:
    return xmr([*BASELINE, *tail], improvement=improvement, fix_after_n_points=len(BASELINE))


def tail_types(chart: XmrChart[int]) -> list[PointType]:
    return [point.point_type for point in chart.points[len(BASELINE) :]]


def tail_rules(chart: XmrChart[int]) -> list[SpecialCauseRule | None]:
    return [point.special_cause_rule for point in chart.points[len(BASELINE) :]]


def pattern(chart: XmrChart[object]) -> str:
    """Point types as one character each: '.' common cause, '+' improvement, '-' concern."""
    symbols = {COMMON: ".", IMPROVEMENT: "+", CONCERN: "-"}
    return "".join(symbols[point.point_type] for point in chart.points)
