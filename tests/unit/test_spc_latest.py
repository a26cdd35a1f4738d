"""The board's latest-point XmR reading equals the full chart's latest point, to the bit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.spc import Direction, xmr
from pipeline.core.spc_latest import latest_point

# Small integers make runs, trends, ties with the mean and two-of-three windows common;
# floats reach the limits' rounding.
values = st.one_of(
    st.lists(st.integers(-4, 4).map(float), min_size=1, max_size=30),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30),
    st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0, 10.0]), min_size=6, max_size=12),
)
targets = st.one_of(st.none(), st.floats(-10, 10, allow_nan=False))


@given(values, st.sampled_from(list(Direction)), targets)
def test_the_latest_point_is_the_charts_latest_point(
    series: list[float], improvement: Direction, target: float | None
) -> None:
    chart = xmr(series, improvement=improvement, target=target)
    point, assurance = latest_point(series, improvement=improvement, target=target)
    assert repr(point) == repr(chart.points[-1])
    assert point.point_type is chart.variation
    assert assurance is chart.assurance


@pytest.mark.parametrize(
    ("series", "rule"),
    [
        ([0.0, 6.0, 0.0, 6.0, 0.0, 6.0, 0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0], "trend"),
        ([3.0, 1.0] * 5 + [3.0] * 7, "shift"),
        ([0.0, 4.0, 4.0, 4.0, 4.0, 0.0, 1.0, 1.0, 0.0, 1.0], "two_of_three"),
        ([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0], "outside_limits"),
    ],
)
def test_each_rule_reaches_the_latest_point(series: list[float], rule: str) -> None:
    point, _ = latest_point(series, improvement=Direction.INCREASE)
    assert point.special_cause_rule is not None and point.special_cause_rule.value == rule
    assert repr(point) == repr(xmr(series, improvement=Direction.INCREASE).points[-1])


def test_no_values_is_refused_as_xmr_refuses_it() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        latest_point([], improvement=Direction.INCREASE)
