"""p, Laney p′ and u charts against hand-worked answers and their defining properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.proportions import (
    AttributeChartKind,
    laney_p_prime_limits,
    laney_sigma_z,
    p_chart_limits,
    u_chart_limits,
)

# 20/100, 30/120 and 12/60: p̄ = 62/280 = 0.2214286; sigma = sqrt(p̄(1 - p̄)/n) for each n.
SUCCESSES = [20, 30, 12]
N = [100, 120, 60]
SIGMAS = [0.04152083322666748, 0.03790316160775965, 0.05360316520251291]
Z_SCORES = [-0.5160920377389857, 0.7538006688492009, -0.3997631734546683]


def test_p_chart_matches_the_hand_calculation() -> None:
    chart = p_chart_limits(SUCCESSES, N)
    assert chart.kind is AttributeChartKind.P
    assert chart.centre == pytest.approx(62 / 280)
    assert chart.sigma_z == 1.0
    assert [p.sigma for p in chart.points] == pytest.approx(SIGMAS)
    assert [p.lcl for p in chart.points] == pytest.approx(
        [0.09686607174856897, 0.10771908660529246, 0.06061907582103268]
    )
    assert [p.ucl for p in chart.points] == pytest.approx(
        [0.34599107110857386, 0.3351380562518504, 0.3822380670361102]
    )
    assert [p.value for p in chart.points] == pytest.approx([0.2, 0.25, 0.2])
    assert [p.z for p in chart.points] == pytest.approx(Z_SCORES)
    assert not any(p.outside_limits for p in chart.points)


def test_p_chart_limits_are_clipped_to_zero_and_one() -> None:
    chart = p_chart_limits([9, 1, 10], [10, 10, 10])
    assert chart.centre == pytest.approx(2 / 3)
    first = chart.points[0]
    assert first.ucl == 1.0
    assert first.lcl == pytest.approx(2 / 3 - 3 * math.sqrt(2 / 9 / 10))
    low = p_chart_limits([0, 1, 0], [50, 50, 50]).points[0]
    assert low.lcl == 0.0


def test_a_period_outside_the_limits_is_flagged_with_its_z_score() -> None:
    chart = p_chart_limits([50, 50, 50, 95], [100, 100, 100, 100])
    flags = [p.outside_limits for p in chart.points]
    assert flags == [False, False, False, True]
    assert chart.points[3].z > 3


def test_p_chart_of_all_failures_has_zero_width_and_no_signal() -> None:
    chart = p_chart_limits([0, 0], [40, 80])
    assert [(p.lcl, p.ucl, p.z) for p in chart.points] == [(0.0, 0.0, 0.0)] * 2
    assert not any(p.outside_limits for p in chart.points)


def test_laney_sigma_z_is_the_mean_moving_range_of_the_z_scores_over_1_128() -> None:
    expected = (abs(Z_SCORES[1] - Z_SCORES[0]) + abs(Z_SCORES[2] - Z_SCORES[1])) / 2 / 1.128
    assert expected == pytest.approx(1.0742271936578265)
    assert laney_sigma_z(Z_SCORES) == pytest.approx(expected)
    chart = laney_p_prime_limits(SUCCESSES, N)
    assert chart.kind is AttributeChartKind.P_PRIME
    assert chart.sigma_z == pytest.approx(expected)
    assert [p.ucl for p in chart.points] == pytest.approx(
        [0.3552369958948244, 0.3435783922025596, 0.3941745046085883]
    )
    assert [p.sigma for p in chart.points] == pytest.approx([s * expected for s in SIGMAS])


def test_laney_with_sigma_z_one_is_the_p_chart() -> None:
    p_chart = p_chart_limits(SUCCESSES, N)
    p_prime = laney_p_prime_limits(SUCCESSES, N, sigma_z=1.0)
    assert p_prime.points == p_chart.points
    assert p_prime.centre == p_chart.centre


def test_laney_widens_the_limits_of_overdispersed_large_samples() -> None:
    # Monthly shares of about 90% on 20,000 cases: binomial limits are ±0.6 points wide, far
    # narrower than the month-to-month wobble, so a p-chart flags nearly every month.
    shares = [0.88, 0.91, 0.89, 0.92, 0.90, 0.87, 0.91, 0.90, 0.89, 0.92]
    n = [20_000] * len(shares)
    successes = [round(share * 20_000) for share in shares]
    p_chart = p_chart_limits(successes, n)
    p_prime = laney_p_prime_limits(successes, n)
    assert p_prime.sigma_z > 5
    assert sum(p.outside_limits for p in p_chart.points) >= 6
    assert sum(p.outside_limits for p in p_prime.points) == 0


def test_laney_needs_two_periods_to_estimate_sigma_z() -> None:
    with pytest.raises(ValueError, match="two periods"):
        laney_p_prime_limits([5], [10])
    assert laney_p_prime_limits([5], [10], sigma_z=1.0).points == p_chart_limits([5], [10]).points
    with pytest.raises(ValueError, match="sigma_z"):
        laney_p_prime_limits([5], [10], sigma_z=-1.0)


def test_u_chart_matches_the_hand_calculation() -> None:
    # 3 incidents in 100 bed days, 5 in 200, 2 in 50: ū = 10/350; sigma = sqrt(ū / exposure).
    chart = u_chart_limits([3, 5, 2], [100, 200, 50])
    assert chart.kind is AttributeChartKind.U
    assert chart.centre == pytest.approx(10 / 350)
    assert [p.sigma for p in chart.points] == pytest.approx(
        [0.01690308509457033, 0.011952286093343936, 0.023904572186687872]
    )
    assert [p.ucl for p in chart.points] == pytest.approx(
        [0.07928068385513956, 0.06442828685146038, 0.10028514513149218]
    )
    assert [p.lcl for p in chart.points] == [0.0, 0.0, 0.0]


def test_u_chart_upper_limit_is_not_capped_at_one() -> None:
    chart = u_chart_limits([30, 50], [10, 10])
    assert chart.centre == 4.0
    assert chart.points[0].ucl == pytest.approx(4 + 3 * math.sqrt(0.4))


@pytest.mark.parametrize(
    ("numerators", "denominators", "message"),
    [
        ([], [], "at least one period"),
        ([1, 2], [10], "2 numerators for 1 denominators"),
        ([1], [0], "above 0"),
        ([1], [-5], "above 0"),
        ([11], [10], "between 0 and n"),
        ([-1], [10], "between 0 and n"),
        ([math.nan], [10], "between 0 and n"),
    ],
)
def test_p_chart_refuses_unusable_input(
    numerators: list[float], denominators: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        p_chart_limits(numerators, denominators)


def test_u_chart_refuses_unusable_input() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        u_chart_limits([-1], [10])
    with pytest.raises(ValueError, match="above 0"):
        u_chart_limits([1], [0])


periods = st.lists(
    st.tuples(st.integers(min_value=1, max_value=5000), st.floats(min_value=0, max_value=1)),
    min_size=2,
    max_size=30,
).map(lambda rows: ([round(n * share) for n, share in rows], [n for n, _ in rows]))


@given(periods)
def test_unclipped_p_limits_are_symmetric_about_the_centre(
    data: tuple[list[int], list[int]],
) -> None:
    chart = p_chart_limits(*data)
    for point in chart.points:
        if point.lcl > 0.0 and point.ucl < 1.0:
            assert point.ucl - chart.centre == pytest.approx(chart.centre - point.lcl)
        assert point.lcl <= chart.centre <= point.ucl


@given(periods, st.integers(min_value=2, max_value=50))
def test_more_cases_narrow_p_limits_but_not_laney_limits(
    data: tuple[list[int], list[int]], factor: int
) -> None:
    successes, n = data
    bigger = ([s * factor for s in successes], [k * factor for k in n])
    plain, plain_bigger = p_chart_limits(successes, n), p_chart_limits(*bigger)
    assert plain_bigger.centre == pytest.approx(plain.centre)
    for small, large in zip(plain.points, plain_bigger.points, strict=True):
        assert large.sigma == pytest.approx(small.sigma / math.sqrt(factor))
    # Laney's point: z-scores grow with √factor, so sigma_z does too and the limits stay put.
    laney, laney_bigger = laney_p_prime_limits(successes, n), laney_p_prime_limits(*bigger)
    for small, large in zip(laney.points, laney_bigger.points, strict=True):
        assert large.sigma == pytest.approx(small.sigma, abs=1e-12)
