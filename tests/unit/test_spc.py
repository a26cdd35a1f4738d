"""XmR charts against hand-worked answers and NHSRplotthedots 0.2.2's own expectations."""

from __future__ import annotations

import math

import pytest

from pipeline.core.spc import (
    Assurance,
    Direction,
    PointType,
    SpecialCauseRule,
    mean_moving_range,
    xmr,
)
from tests.support.spc import (
    COMMON,
    CONCERN,
    IMPROVEMENT,
    RNORM_123,
    fixed_chart,
    pattern,
    tail_rules,
    tail_types,
)

INCREASE, DECREASE, NEUTRAL = Direction.INCREASE, Direction.DECREASE, Direction.NEUTRAL

# --- NHSRplotthedots reference expectations ------------------------------------------------------


def test_limits_match_the_reference_snapshot_for_rnorm_123() -> None:
    chart = xmr(RNORM_123, improvement=INCREASE)
    first = chart.points[0]
    # tests/testthat/_snaps/ptd_spc_standard.md: mean_col 0.1416238, lpl -3.01138, upl 3.294627
    assert first.mean == pytest.approx(0.1416238, abs=5e-8)
    assert first.lpl == pytest.approx(-3.01138, abs=5e-6)
    assert first.upl == pytest.approx(3.294627, abs=5e-7)
    assert {point.point_type for point in chart.points} == {COMMON}
    assert [point.relative_to_mean for point in chart.points][:14] == [
        -1, -1, 1, -1, -1, 1, 1, -1, -1, -1, 1, 1, 1, -1,
    ]  # fmt: skip


def test_screening_outlying_moving_ranges_matches_the_reference_snapshot() -> None:
    values = list(RNORM_123)
    values[14] = 10.0
    screened = xmr(values, improvement=INCREASE).points[0]
    unscreened = xmr(values, improvement=INCREASE, screen_outliers=False).points[0]
    assert screened.mean == unscreened.mean == pytest.approx(0.6694159, abs=5e-8)
    assert (screened.lpl, screened.upl) == pytest.approx((-2.383666, 3.722497), abs=5e-7)
    assert (unscreened.lpl, unscreened.upl) == pytest.approx((-4.596625, 5.935457), abs=5e-7)


def test_deviations_vignette_example_screened_and_unscreened() -> None:
    # vignettes/deviations.Rmd: UPL 4.6, mean 1.94, LPL -0.72 screened; 6.95 and -3.06 not.
    values = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
    screened = xmr(values, improvement=INCREASE)
    first = screened.points[0]
    assert (first.upl, first.mean, first.lpl) == pytest.approx((4.6, 1.94, -0.72), abs=0.005)
    assert first.mean_moving_range == 1.0  # the moving ranges 8 and 9 are screened out
    assert pattern(screened) == "....+" + "." * 13
    assert screened.points[4].special_cause_rule is SpecialCauseRule.OUTSIDE_LIMITS
    unscreened = xmr(values, improvement=INCREASE, screen_outliers=False).points[0]
    assert (unscreened.upl, unscreened.lpl) == pytest.approx((6.95, -3.06), abs=0.005)


def test_two_near_limit_points_on_opposite_sides_are_common_cause() -> None:
    # test-ptd_spc_standard.R, the regression test for issue #143.
    values = [1.0, -1.0] * 8
    values[14], values[15] = 5.5, -5.5
    chart = xmr(values, improvement=INCREASE)
    assert [point.point_type for point in chart.points[-2:]] == [COMMON, COMMON]


# --- the seven-point shift (run on one side of the mean) -----------------------------------------


def test_seven_points_above_the_mean_are_all_flagged_and_six_are_not() -> None:
    seven = fixed_chart([0.5] * 7 + [-1.0])
    assert tail_types(seven) == [IMPROVEMENT] * 7 + [COMMON]
    assert tail_rules(seven) == [SpecialCauseRule.SHIFT] * 7 + [None]
    assert tail_types(fixed_chart([0.5] * 6 + [-1.0])) == [COMMON] * 7


def test_a_shift_below_the_mean_is_concern_when_increase_is_better() -> None:
    chart = fixed_chart([1.0, *[-0.5] * 7, 1.0])
    assert tail_types(chart) == [COMMON, *[CONCERN] * 7, COMMON]
    decrease = fixed_chart([1.0, *[-0.5] * 7, 1.0], improvement=DECREASE)
    assert tail_types(decrease) == [COMMON, *[IMPROVEMENT] * 7, COMMON]


def test_a_point_on_the_mean_breaks_a_run() -> None:
    assert tail_types(fixed_chart([0.5, 0.5, 0.5, 0.0, 0.5, 0.5, 0.5, -1.0])) == [COMMON] * 8


def test_a_longer_run_flags_every_point_of_it() -> None:
    assert tail_types(fixed_chart([0.5] * 10 + [-1.0])) == [IMPROVEMENT] * 10 + [COMMON]


# --- the seven-point trend -----------------------------------------------------------------------


def test_seven_rising_points_are_all_flagged_even_below_the_mean() -> None:
    rising = [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0]
    chart = fixed_chart([*rising, -2.0])
    assert tail_types(chart) == [IMPROVEMENT] * 7 + [COMMON]
    assert tail_rules(chart) == [SpecialCauseRule.TREND] * 7 + [None]


def test_six_rising_points_are_not_a_trend() -> None:
    assert tail_types(fixed_chart([-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, -2.0])) == [COMMON] * 7


def test_a_repeated_value_breaks_a_trend() -> None:
    # ptd_seven_point_trend(c(1:3, 3:6)) is all zero in the reference's tests.
    steps = [-2.0, -1.5, -1.0, -1.0, -0.5, 0.0, 0.5, 1.0, -2.0]
    assert tail_types(fixed_chart(steps)) == [COMMON] * 9


def test_a_falling_trend_is_improvement_when_decrease_is_better() -> None:
    falling = [2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0]
    assert tail_types(fixed_chart([*falling, 2.0], improvement=DECREASE)) == [IMPROVEMENT] * 7 + [
        COMMON
    ]
    assert tail_types(fixed_chart([*falling, 2.0])) == [CONCERN] * 7 + [COMMON]


def test_where_a_rise_meets_a_fall_the_shared_point_takes_the_fall() -> None:
    peak = [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0]
    assert tail_types(fixed_chart(peak)) == [IMPROVEMENT] * 6 + [CONCERN] * 7


# --- points outside the process limits ---------------------------------------------------------


def test_a_point_on_a_limit_is_inside_and_just_beyond_it_is_outside() -> None:
    lines = fixed_chart([]).points[0]
    assert lines.upl == pytest.approx(5.32) and lines.lpl == pytest.approx(-5.32)
    assert lines.upl is not None and lines.lpl is not None
    assert tail_types(fixed_chart([lines.upl, -1.0])) == [COMMON, COMMON]
    above = fixed_chart([math.nextafter(lines.upl, math.inf), -1.0])
    assert tail_types(above) == [IMPROVEMENT, COMMON]
    assert tail_rules(above)[0] is SpecialCauseRule.OUTSIDE_LIMITS
    assert tail_types(fixed_chart([1.0, lines.lpl])) == [COMMON, COMMON]
    assert tail_types(fixed_chart([1.0, math.nextafter(lines.lpl, -math.inf)])) == [
        COMMON,
        CONCERN,
    ]


def test_outside_the_limits_takes_precedence_over_a_trend() -> None:
    chart = fixed_chart([-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 6.0, -2.0])
    assert tail_rules(chart) == [SpecialCauseRule.TREND] * 6 + [
        SpecialCauseRule.OUTSIDE_LIMITS,
        None,
    ]


# --- two out of three beyond the 2-sigma line ----------------------------------------------------


def test_two_of_three_flags_the_two_near_limit_points_only() -> None:
    chart = fixed_chart([4.0, 0.5, 4.0, -1.0])
    assert tail_types(chart) == [IMPROVEMENT, COMMON, IMPROVEMENT, COMMON]
    assert tail_rules(chart)[0] is SpecialCauseRule.TWO_OF_THREE
    assert tail_types(fixed_chart([1.0, -4.0, -4.0, -0.5, 1.0])) == [
        COMMON,
        CONCERN,
        CONCERN,
        COMMON,
        COMMON,
    ]


def test_two_of_three_needs_all_three_points_on_one_side_of_the_mean() -> None:
    assert tail_types(fixed_chart([4.0, -0.5, 4.0, -1.0])) == [COMMON] * 4
    # Two adjacent near-limit points between points on the other side: no window of three lies
    # wholly on one side, so the reference's form of the rule does not fire.
    assert tail_types(fixed_chart([4.0, 4.0, -0.5, -1.0])) == [COMMON] * 4


def test_two_near_limit_points_four_apart_are_not_two_of_three() -> None:
    assert tail_types(fixed_chart([4.0, 0.5, 0.5, 4.0, -1.0])) == [COMMON] * 5


def test_a_point_outside_the_limits_does_not_count_towards_two_of_three() -> None:
    chart = fixed_chart([6.0, 4.0, 0.5, -1.0])
    assert tail_rules(chart) == [SpecialCauseRule.OUTSIDE_LIMITS, None, None, None]


def test_the_two_sigma_line_itself_is_not_beyond_it() -> None:
    line = fixed_chart([]).points[0].upl_2sigma
    assert line == pytest.approx(2 / 3 * 2.66 * 2)
    assert line is not None
    assert tail_types(fixed_chart([line, line, 0.5, -1.0])) == [COMMON] * 4
    beyond = math.nextafter(line, math.inf)
    assert tail_types(fixed_chart([beyond, beyond, 0.5, -1.0])) == [IMPROVEMENT] * 2 + [COMMON] * 2


# --- direction --------------------------------------------------------------------------------


def test_neutral_direction_reports_high_and_low() -> None:
    high = fixed_chart([0.5] * 7 + [-1.0], improvement=NEUTRAL)
    assert tail_types(high)[:7] == [PointType.SPECIAL_CAUSE_NEUTRAL_HIGH] * 7
    low = fixed_chart([1.0, *[-0.5] * 7, 1.0], improvement=NEUTRAL)
    assert tail_types(low)[1:8] == [PointType.SPECIAL_CAUSE_NEUTRAL_LOW] * 7
    assert high.assurance is None


# --- fixing limits, rebasing, labels ------------------------------------------------------------


def test_fixed_limits_come_from_the_first_n_points_and_are_extended() -> None:
    values = [*RNORM_123[:12], 50.0, -50.0, 1.0]
    fixed = xmr(values, improvement=INCREASE, fix_after_n_points=12)
    baseline = xmr(RNORM_123[:12], improvement=INCREASE).points[0]
    for point in fixed.points:
        assert (point.mean, point.lpl, point.upl) == (baseline.mean, baseline.lpl, baseline.upl)
    assert [point.point_type for point in fixed.points[12:]] == [IMPROVEMENT, CONCERN, COMMON]


def test_fixing_on_more_points_than_there_are_uses_them_all() -> None:
    assert xmr(RNORM_123, improvement=INCREASE, fix_after_n_points=50) == xmr(
        RNORM_123, improvement=INCREASE
    )


def test_fix_after_fewer_than_twelve_points_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 12"):
        xmr(RNORM_123, improvement=INCREASE, fix_after_n_points=11)


def test_rebased_segments_are_computed_independently() -> None:
    first, second = RNORM_123[:10], [10 + 3 * value for value in RNORM_123[10:]]
    chart = xmr([*first, *second], improvement=INCREASE, rebase_at=[10])
    alone = [*xmr(first, improvement=INCREASE).points, *xmr(second, improvement=INCREASE).points]
    assert [point.segment for point in chart.points] == [0] * 10 + [1] * 10
    for together, separate in zip(chart.points, alone, strict=True):
        assert (together.mean, together.lpl, together.upl, together.point_type) == (
            separate.mean,
            separate.lpl,
            separate.upl,
            separate.point_type,
        )


def test_rules_do_not_look_across_a_rebase() -> None:
    values = [1.0, -1.0] * 5 + [0.5] * 7 + [-1.0, 1.0] * 5
    assert pattern(xmr(values, improvement=INCREASE)) == "." * 10 + "+" * 7 + "." * 10
    assert pattern(xmr(values, improvement=INCREASE, rebase_at=[14])) == "." * 27


def test_fixed_limits_apply_within_each_segment() -> None:
    values = [*RNORM_123, *(value + 5 for value in RNORM_123)]
    chart = xmr(values, improvement=INCREASE, rebase_at=[20], fix_after_n_points=12)
    assert chart.points[20].mean == pytest.approx(chart.points[0].mean + 5)
    assert chart.points[20].mean_moving_range == pytest.approx(chart.points[0].mean_moving_range)


def test_rebase_at_the_first_point_changes_nothing() -> None:
    assert xmr(RNORM_123, improvement=INCREASE, rebase_at=[0, 0]) == xmr(
        RNORM_123, improvement=INCREASE
    )


def test_rebase_index_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="rebase index 20"):
        xmr(RNORM_123, improvement=INCREASE, rebase_at=[20])


def test_points_carry_the_callers_labels_or_their_indices() -> None:
    labels = [f"week {i}" for i in range(3)]
    assert [point.x for point in xmr([1.0, 2.0, 3.0], x=labels, improvement=INCREASE).points] == (
        labels
    )
    assert [point.x for point in xmr([1.0, 2.0, 3.0], improvement=INCREASE).points] == [0, 1, 2]
    with pytest.raises(ValueError, match="2 labels for 3 values"):
        xmr([1.0, 2.0, 3.0], x=labels[:2], improvement=INCREASE)


# --- verdicts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "improvement", "expected"),
    [
        ("above", INCREASE, Assurance.CONSISTENT_FAIL),
        ("below", INCREASE, Assurance.CONSISTENT_PASS),
        ("between", INCREASE, Assurance.INCONSISTENT),
        ("on_upl", INCREASE, Assurance.INCONSISTENT),
        ("on_lpl", INCREASE, Assurance.INCONSISTENT),
        ("above", DECREASE, Assurance.CONSISTENT_PASS),
        ("below", DECREASE, Assurance.CONSISTENT_FAIL),
        ("between", DECREASE, Assurance.INCONSISTENT),
    ],
)
def test_assurance_compares_the_target_with_the_process_limits(
    where: str, improvement: Direction, expected: Assurance
) -> None:
    # Mirrors test-ptd_calculate_assurance_type.R: target above the upper limit, below the lower
    # one, or between them.
    lines = xmr(RNORM_123, improvement=improvement).points[-1]
    assert lines.lpl is not None and lines.upl is not None
    target = {
        "above": lines.upl + 0.01,
        "below": lines.lpl - 0.01,
        "between": lines.mean,
        "on_upl": lines.upl,
        "on_lpl": lines.lpl,
    }[where]
    assert xmr(RNORM_123, improvement=improvement, target=target).assurance is expected


def test_assurance_is_none_without_a_target() -> None:
    assert xmr(RNORM_123, improvement=INCREASE).assurance is None


def test_assurance_reads_the_latest_segment() -> None:
    values = [*RNORM_123, *(value + 20 for value in RNORM_123)]
    chart = xmr(values, improvement=INCREASE, target=10.0, rebase_at=[20])
    assert chart.assurance is Assurance.CONSISTENT_PASS


def test_variation_is_the_type_of_the_latest_point() -> None:
    assert fixed_chart([0.0, 9.0]).variation is IMPROVEMENT
    assert fixed_chart([9.0, 0.0]).variation is COMMON
    assert fixed_chart([0.0, -9.0]).variation is CONCERN


# --- degenerate series and bad input ------------------------------------------------------------


def test_a_single_point_has_no_limits_and_is_common_cause() -> None:
    chart = xmr([0.93], improvement=INCREASE, target=0.95)
    (point,) = chart.points
    assert (point.mean, point.lpl, point.upl, point.mean_moving_range) == (0.93, None, None, None)
    assert point.point_type is COMMON
    assert chart.assurance is Assurance.INCONSISTENT


def test_a_flat_series_has_limits_on_its_mean() -> None:
    chart = xmr([1.0] * 15, improvement=INCREASE, target=0.95)
    assert {(point.lpl, point.upl) for point in chart.points} == {(1.0, 1.0)}
    assert pattern(chart) == "." * 15
    assert chart.assurance is Assurance.CONSISTENT_PASS


@pytest.mark.parametrize(
    ("values", "target", "message"),
    [
        ([], None, "at least one value"),
        ([1.0, math.nan], None, "finite"),
        ([1.0, math.inf], None, "finite"),
        ([1.0, 2.0], math.nan, "target"),
    ],
)
def test_unusable_input_is_refused(values: list[float], target: float | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        xmr(values, improvement=INCREASE, target=target)


def test_mean_moving_range_screens_ranges_not_below_3_267_times_the_mean() -> None:
    values = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
    assert mean_moving_range(values) == 1.0
    assert mean_moving_range(values, screen_outliers=False) == pytest.approx(32 / 17)
    assert mean_moving_range([5.0]) is None
    assert mean_moving_range([5.0, 5.0, 5.0]) == 0.0
