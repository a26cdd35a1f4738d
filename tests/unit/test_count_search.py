"""The limits' count search (`count_numerics.first_count`): the same count as stepping one at a
time, in a number of tail sums that does not grow with the width of the distribution."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import partial
from statistics import NormalDist

import pytest

from pipeline.core.detection import predictive
from pipeline.core.detection.count_numerics import first_count
from pipeline.core.detection.predictive import Predictive, lower_tail, upper_tail


def _stepping(threshold: int, limit: int | None) -> int:
    count = 0
    while (limit is None or count < limit) and count < threshold:
        count += 1
    return count


@pytest.mark.parametrize("seed", range(40))
def test_first_count_is_the_first_count_that_holds(seed: int) -> None:
    rng = random.Random(seed)
    threshold = rng.choice([0, 1, 2, rng.randrange(3, 10**6)])
    limit = rng.choice([None, rng.randrange(0, 2 * threshold + 3)])
    guess = rng.randrange(0, 3 * threshold + 5)
    asked: list[int] = []

    def holds(count: int) -> bool:
        asked.append(count)
        return count >= threshold

    assert first_count(holds, guess, limit) == _stepping(threshold, limit)
    assert all(count >= 0 for count in asked)
    # doubling out from the guess, then halving back: logarithmic in the distance
    assert len(asked) <= 2 * max(guess, threshold, 1).bit_length() + 4


def _count_tail_sums(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count the exact upper-tail sums the limits' search makes from now on (its cache
    emptied); the function returned tells how many so far."""
    sums = 0

    def counted(*args: object) -> float:
        nonlocal sums
        sums += 1
        return upper_tail(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(predictive, "upper_tail", counted)
    predictive._highest_usual_count.cache_clear()
    return lambda: sums


def test_a_big_unit_s_limits_take_few_tail_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    # 600,000 responses a week (a large trust's monthly return spread over weeks): stepping
    # one count at a time from the normal guess took thousands of tail sums of thousands of
    # terms each, minutes per window.
    n = 600_000
    mean, extra = 0.12 * n, (0.03 * n) ** 2
    sums = _count_tail_sums(monkeypatch)
    highest = Predictive(mean, extra, n).highest_usual_count(5.0)
    assert sums() <= 64
    alpha = NormalDist().cdf(-5.0)
    assert upper_tail(highest, mean, extra, n) > alpha >= upper_tail(highest + 1, mean, extra, n)


def test_the_lowest_usual_count_is_where_the_lower_tail_passes_the_limit() -> None:
    n = 600_000
    mean, extra = 0.12 * n, (0.03 * n) ** 2
    lowest = Predictive(mean, extra, n).lowest_usual_count(5.0)
    alpha = NormalDist().cdf(-5.0)
    assert lower_tail(lowest - 1, mean, extra, n) <= alpha < lower_tail(lowest, mean, extra, n)


def _ward_predictives(seed: int, size: int) -> list[Predictive]:
    """Ward-sized predictives as a judgement meets them: beta-binomial over 5 to 400
    responses, gamma-Poisson with means of 0.2 to 80, spread from none to wide."""
    rng = random.Random(seed)
    out = []
    for _ in range(size):
        if rng.random() < 0.5:
            n = rng.randrange(5, 400)
            share = rng.uniform(0.01, 0.6)
            extra = rng.choice((0.0, rng.uniform(0.0, 0.5) * share * (1 - share))) * n * n
            out.append(Predictive(share * n, extra, n))
        else:
            mean = rng.uniform(0.2, 80.0)
            out.append(Predictive(mean, rng.choice((0.0, rng.uniform(0.0, 2.0) * mean)), None))
    return out


def test_a_ward_s_limit_takes_about_two_tail_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    # From the normal guess the search took five or six exact sums a limit (skewed counts
    # sit several above it), the most of a cold judgement's time; from the crossing that one
    # walk over the terms finds, two: the count and the one below.
    sums = _count_tail_sums(monkeypatch)
    wards = _ward_predictives(11, 300)
    for ward in wards:
        ward.highest_usual_count(3.0)
    predictive._highest_usual_count.cache_clear()
    assert sums() <= 2.5 * len(wards)


def _unusual(count: int, *, alpha: float, mean: float, extra: float, n: int | None) -> bool:
    return upper_tail(count, mean, extra, n) <= alpha


@pytest.mark.parametrize("sigma", [2.0, 3.0, 3.5])
def test_a_ward_s_limit_is_the_first_count_the_exact_test_holds_at(sigma: float) -> None:
    # The same count as the search from the normal guess gave (the walk only moves where the
    # exact test starts): the limits, and every verdict with them, are unchanged.
    alpha = NormalDist().cdf(-sigma)
    predictive._highest_usual_count.cache_clear()
    for ward in _ward_predictives(12, 300):
        mean, extra, n = ward
        spread = (max(mean + extra, 1e-12)) ** 0.5
        guess = max(0, math.ceil(mean + sigma * spread))
        limit = None if n is None else n + 1
        unusual = partial(_unusual, alpha=alpha, mean=mean, extra=extra, n=n)
        assert ward.highest_usual_count(sigma) == first_count(unusual, guess, limit) - 1
    predictive._highest_usual_count.cache_clear()
