"""Tails of distributions thousands of counts wide are integrated (count_numerics), not summed term
by term: as exact as the judgements need, against brute-force sums, and bounded in work at the
contract's largest counts."""

from __future__ import annotations

import math

import pytest

from pipeline.core.detection import predictive
from pipeline.core.detection.count_numerics import WIDE_SPREAD, smooth_sum
from pipeline.core.detection.predictive import Predictive, log_pmf, lower_tail, upper_tail

# (mean, extra variance, trials): Poisson, gamma-Poisson, binomial, beta-binomials (a share of
# 0.8 and of 0.3 with between-window spread) and a binomial near its upper end.
WIDE = [
    (2500.0**2, 0.0, None),
    (5.0e6, 3.0e6, None),
    (0.5 * 2e7, 0.0, 20_000_000),
    (0.8 * 2e5, (0.02 * 2e5) ** 2, 200_000),
    (0.3 * 1e7, (0.0003 * 1e7) ** 2, 10_000_000),
    (0.97 * 3e8, 0.0, 300_000_000),
]


def spread_of(mean: float, extra: float, trials: int | None) -> float:
    sampling = mean if trials is None else mean * (1 - mean / trials)
    return math.sqrt(sampling + extra)


def brute(mean: float, extra: float, trials: int | None, counts: range) -> float:
    return math.fsum(math.exp(log_pmf(k, mean, extra, trials)) for k in counts)


@pytest.mark.parametrize(("mean", "extra", "trials"), WIDE)
@pytest.mark.parametrize("z", [0.3, 1.0, 2.0, 3.5, 5.0, 7.0, 9.0])
def test_wide_tails_match_the_sum_of_their_terms(
    mean: float, extra: float, trials: int | None, z: float
) -> None:
    spread = spread_of(mean, extra, trials)
    assert spread >= WIDE_SPREAD  # so the tails below are integrated
    reach = math.ceil(12 * spread)  # what lies further out is below 1e-30 of the tail
    high = math.ceil(mean + z * spread)
    top = high + reach if trials is None else min(trials, high + reach)
    exact = brute(mean, extra, trials, range(high, top + 1))
    assert upper_tail(high, mean, extra, trials) == pytest.approx(exact, rel=1e-6)
    low = math.floor(mean - z * spread)
    exact = brute(mean, extra, trials, range(max(0, low - reach), low + 1))
    assert lower_tail(low, mean, extra, trials) == pytest.approx(exact, rel=1e-6)


def test_narrow_or_spiky_distributions_keep_the_exact_sum() -> None:
    assert predictive._smooth_spread(400.0, 100.0, 1000) is None  # a ward's week
    assert predictive._smooth_spread(1e9, 1e18, None) is None  # gamma shape 1: a spike at 0
    share, trials = 0.001, 10**9  # beta a = 0.5: a spike at 0
    extra = (share * (1 - share) / 1.5) * trials * trials
    assert predictive._smooth_spread(share * trials, extra, trials) is None
    assert predictive._smooth_spread(0.8 * 2e6, (0.02 * 2e6) ** 2, 2_000_000) is not None


def test_a_geometric_sum_integrates_to_its_closed_form() -> None:
    # sum of r^k from k = 0 to 10^6 for r just below 1: smooth on the scale of 1 / (1 - r).
    rate = 1e-4
    exact = (1 - math.exp(-rate * 1_000_001)) / (1 - math.exp(-rate))
    assert smooth_sum(lambda x: -rate * x, 0, 1_000_000, 1e4) == pytest.approx(exact, rel=1e-7)
    downwards = smooth_sum(lambda x: -rate * (1_000_000 - x), 1_000_000, 0, 1e4)
    assert downwards == pytest.approx(exact, rel=1e-7)


def test_limits_at_the_contracts_largest_counts_keep_their_defining_property() -> None:
    # Six ratings at 2^32 - 1 responses each: summing term by term took minutes a window.
    trials = 6 * (2**32 - 1)
    week = Predictive(0.8 * trials, (0.01 * trials) ** 2, trials)
    alpha = predictive._NORMAL.cdf(-3.0)
    high = week.highest_usual_count(3.0)
    assert upper_tail(high + 1, *week) <= alpha < upper_tail(high, *week)
    low = week.lowest_usual_count(3.0)
    assert lower_tail(low - 1, *week) <= alpha < lower_tail(low, *week)
    assert low < week.mean < high


def test_a_sum_of_one_count_or_up_to_an_end_near_the_start_is_exact() -> None:
    rate = 1e-4
    assert smooth_sum(lambda x: -rate * x, 7, 7, 1e4) == pytest.approx(math.exp(-7 * rate))
    exact = math.fsum(math.exp(-rate * k) for k in range(5, 9))
    assert smooth_sum(lambda x: -rate * x, 5, 8, 1e4) == pytest.approx(exact, rel=1e-9)
    assert smooth_sum(lambda x: rate * x, 8, 5, 1e4) == pytest.approx(
        math.fsum(math.exp(rate * k) for k in range(5, 9)), rel=1e-9
    )
