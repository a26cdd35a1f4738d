"""The statistics under detection: exact predictive tails, the screen that skips them, and the
monitor that judges a series window by window against its own rolling baseline."""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest

from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.predictive import (
    SCREEN_MARGIN,
    SCREEN_MIN_CONCENTRATION,
    Predictive,
    baseline_predictive,
    exact_z,
    upper_tail,
)
from pipeline.core.detection.rules import BEYOND_LIMIT
from pipeline.core.detection.stats import monitor

RULES = DetectionConfig().rules


def test_binomial_and_poisson_tails_match_a_direct_sum() -> None:
    for n, share, count in ((5, 0.05, 3), (25, 0.05, 7), (300, 0.12, 60), (8, 0.3, 0)):
        direct = sum(
            math.comb(n, k) * share**k * (1 - share) ** (n - k) for k in range(count, n + 1)
        )
        assert upper_tail(count, n * share, 0.0, n) == pytest.approx(direct, rel=1e-9)
    for mean, count in ((3.0, 5), (0.2, 3), (40.0, 70), (5.0, 1)):
        below = sum(math.exp(-mean) * mean**k / math.factorial(k) for k in range(count))
        assert upper_tail(count, mean, 0.0, None) == pytest.approx(1 - below, rel=1e-9)


def test_overdispersed_tails_are_proper_distributions_with_the_given_variance() -> None:
    # Beta-binomial: 40 trials, mean share 10%, share variance 0.002 (beyond binomial).
    n, mean, extra = 40, 4.0, 0.002 * 40 * 40
    pmf = [upper_tail(k, mean, extra, n) - upper_tail(k + 1, mean, extra, n) for k in range(n + 1)]
    assert sum(pmf) == pytest.approx(1.0, abs=1e-12)
    assert sum(k * p for k, p in enumerate(pmf)) == pytest.approx(mean, rel=1e-9)
    variance = sum((k - mean) ** 2 * p for k, p in enumerate(pmf))
    assert variance == pytest.approx(mean * (1 - mean / n) + extra * (n - 1) / n, rel=1e-9)
    # Gamma-Poisson: mean 3, variance 3 + 2.
    pmf = [upper_tail(k, 3.0, 2.0, None) - upper_tail(k + 1, 3.0, 2.0, None) for k in range(200)]
    assert sum(pmf) == pytest.approx(1.0, abs=1e-12)
    assert sum((k - 3.0) ** 2 * p for k, p in enumerate(pmf)) == pytest.approx(5.0, rel=1e-9)


def test_tiny_tails_stay_exact() -> None:
    # P(X >= 20 | Bin(20, 0.05)) = 0.05^20.
    assert upper_tail(20, 1.0, 0.0, 20) == pytest.approx(0.05**20, rel=1e-9)
    assert exact_z(20, 1.0, 0.0, 20) == pytest.approx(-NormalDist().inv_cdf(0.05**20), rel=1e-6)


def test_the_highest_usual_count_sits_on_the_limit() -> None:
    for predictive in (
        Predictive(2.0, 0.0, 40),
        Predictive(35.0, 60.0, 300),
        Predictive(1.2, 0.3, None),
    ):
        for sigma in (2.5, 3.0, 4.0):
            alpha = 0.5 * math.erfc(sigma / math.sqrt(2))
            highest = predictive.highest_usual_count(sigma)
            tail = upper_tail(highest, *predictive)
            assert tail > alpha >= upper_tail(highest + 1, *predictive)


def test_the_screen_never_hides_a_window_that_could_signal() -> None:
    """Where the normal z is below the lowest rule line less the margin, so is the exact z
    (random sizes, shares and dispersions; the property `monitor` relies on)."""
    lowest = min(sigma for _, sigma in RULES.runs)
    rng = random.Random(7)
    for _ in range(20000):
        if rng.random() < 0.6:
            n = rng.choice((1, 3, 8, 20, 40, 200, 600, 2000))
            share = math.exp(rng.uniform(math.log(0.002), math.log(0.5)))
            extra = rng.choice((0.0, rng.uniform(0, 0.3) * share * (1 - share))) * n * n
            mean, trials = n * share, n
            binomial = mean * (1 - share)
            if extra * SCREEN_MIN_CONCENTRATION > binomial * n:
                continue  # not screened
            spread = binomial + extra * (n - 1) / n
        else:
            mean = math.exp(rng.uniform(math.log(0.01), math.log(300)))
            extra, trials = rng.choice((0.0, rng.uniform(0, 2) * mean * mean)), None
            spread = mean + extra
        count = max(0, round(mean + rng.uniform(0, 3.5) * math.sqrt(spread)))
        if trials is not None:
            count = min(count, trials)
        if (count - mean) / math.sqrt(spread) < lowest - SCREEN_MARGIN:
            assert exact_z(count, mean, extra, trials) < lowest


def stable(
    weeks: int, seed: int = 3, n: int = 40, share: float = 0.05
) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    sizes = [n + rng.randint(-8, 8) for _ in range(weeks)]
    return [sum(rng.random() < share for _ in range(size)) for size in sizes], sizes


def test_a_stable_series_does_not_signal_and_is_judged_after_its_baseline() -> None:
    counts, sizes = stable(104)

    trace = monitor(counts, sizes, sizes, None, RULES)

    # The learning period is exactly `min_baseline_windows` windows: a window not judged joins
    # the baseline at once (no run can flag it); a judged one once no run can still flag it.
    first_judged = RULES.min_baseline_windows
    assert all(math.isnan(z) for z in trace.z[:first_judged])
    assert not any(math.isnan(z) for z in trace.z[first_judged:])
    assert not any(trace.flagged(t) for t in range(104))


def test_a_run_flags_all_its_windows_when_its_last_one_closes() -> None:
    counts, sizes = stable(40, n=40)
    counts[30:32] = [11, 11]  # 3.8 and 3.5 sigma: neither alone is beyond the 4-sigma limit

    trace = monitor(counts, sizes, sizes, None, RULES)

    assert [trace.signalled_at[t] for t in (29, 30, 31, 32)] == [-1, 31, 31, -1]
    assert trace.rule[30] == trace.rule[31] == "run_of_2_beyond_3_sigma"


def test_signalled_windows_never_enter_a_later_baseline() -> None:
    counts, sizes = stable(60)
    counts[30:40] = [20] * 10

    trace = monitor(counts, sizes, sizes, None, RULES)

    assert all(trace.flagged(t) and trace.rule[t] == BEYOND_LIMIT for t in range(30, 40))
    assert not set(trace.baseline_windows(45)) & set(range(30, 40))
    assert trace.baseline(45)[2] == RULES.max_baseline_windows


def test_each_window_is_judged_on_earlier_windows_only() -> None:
    counts, sizes = stable(60)
    counts[50] = 25

    full = monitor(counts, sizes, sizes, None, RULES)
    prefix = monitor(counts[:45], sizes[:45], sizes[:45], None, RULES)

    assert full.z[:45] == prefix.z
    assert full.signalled_at[:43] == prefix.signalled_at[:43]


def test_the_running_sums_agree_with_a_one_off_judgement() -> None:
    counts, sizes = stable(80, n=200, share=0.12)
    rules = DetectionConfig(dispersion_windows=26).rules

    trace = monitor(counts, sizes, sizes, None, rules)

    for t in (20, 40, 79):
        predictive = trace.predictive(t)
        assert predictive is not None
        one_off = baseline_predictive(
            counts,
            sizes,
            sizes,
            trace.baseline_windows(t),
            t,
            0.0,
            rules.max_between_cv,
            rules.min_between_logit_sd,
        )
        assert one_off.mean == pytest.approx(predictive.mean, rel=1e-9)
        assert one_off.extra_variance == pytest.approx(predictive.extra_variance, rel=1e-6)


def test_a_noisy_small_baseline_cannot_hide_a_tenfold_rise() -> None:
    # A few lumpy weeks inflate the successive differences; the cap on between-window
    # variation (half the level) keeps the limits honest.
    sizes = [20] * 30
    counts = [
        0,
        4,
        0,
        3,
        0,
        0,
        4,
        0,
        1,
        0,
        3,
        0,
        0,
        1,
        0,
        4,
        0,
        0,
        1,
        0,
        0,
        3,
        0,
        1,
        0,
        0,
        1,
        0,
        0,
        10,
    ]

    trace = monitor(counts, sizes, sizes, None, RULES)
    uncapped = monitor(counts, sizes, sizes, None, DetectionConfig(max_between_cv=100.0).rules)

    # z 4.4 with the cap (a run of two beyond 3 sigma would flag it with one more such week),
    # 2.6 without: the lumpy weeks alone would hide it.
    assert trace.z[29] >= 4.0 > 3.0 > uncapped.z[29]


def test_a_baseline_without_visible_variation_still_allows_the_least_spread() -> None:
    # Identical weeks make the successive-difference estimate of the between-window variation
    # 0; wards still have good and bad weeks, so the rules' predictive keeps at least
    # `min_between_logit_sd` on the logit, and two weeks at 3.2 binomial sigma are no run.
    counts, sizes = [20] * 30 + [34, 34], [100] * 32
    assert exact_z(34, 20.0, 0.0, 100) > 3.0

    trace = monitor(counts, sizes, sizes, None, RULES)
    unfloored = monitor(counts, sizes, sizes, None, DetectionConfig(min_between_logit_sd=0.0).rules)

    assert RULES.min_between_logit_sd > 0.0
    assert trace.signalled_at[-2:] == [-1, -1]
    assert unfloored.rule[-2:] == ["run_of_2_beyond_3_sigma"] * 2
    # The CUSUMs' own z reads the estimate itself: the floor only widens the rules' predictive.
    assert trace.cusum[-2:] == unfloored.cusum[-2:]


def test_an_estimated_spread_above_the_floor_is_used_as_it_is() -> None:
    counts, sizes = stable(60, n=200, share=0.12)
    noisy = [c + (9 if i % 2 else -9) for i, c in enumerate(counts)]

    trace = monitor(noisy, sizes, sizes, None, RULES)
    unfloored = monitor(noisy, sizes, sizes, None, DetectionConfig(min_between_logit_sd=0.0).rules)

    assert trace.extra_variance[20:] == unfloored.extra_variance[20:]
