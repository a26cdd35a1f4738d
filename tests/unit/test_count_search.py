"""The limits' count search (`count_numerics.first_count`): the same count as stepping one at a
time, in a number of tail sums that does not grow with the width of the distribution."""

from __future__ import annotations

import random
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


def test_a_big_unit_s_limits_take_few_tail_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    # 600,000 responses a week (a large trust's monthly return spread over weeks): stepping
    # one count at a time from the normal guess took thousands of tail sums of thousands of
    # terms each, minutes per window.
    n = 600_000
    mean, extra = 0.12 * n, (0.03 * n) ** 2
    sums = 0

    def counted(*args: object) -> float:
        nonlocal sums
        sums += 1
        return upper_tail(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(predictive, "upper_tail", counted)
    predictive._highest_usual_count.cache_clear()
    highest = Predictive(mean, extra, n).highest_usual_count(5.0)
    assert sums <= 64
    alpha = NormalDist().cdf(-5.0)
    assert upper_tail(highest, mean, extra, n) > alpha >= upper_tail(highest + 1, mean, extra, n)


def test_the_lowest_usual_count_is_where_the_lower_tail_passes_the_limit() -> None:
    n = 600_000
    mean, extra = 0.12 * n, (0.03 * n) ** 2
    lowest = Predictive(mean, extra, n).lowest_usual_count(5.0)
    alpha = NormalDist().cdf(-5.0)
    assert lower_tail(lowest - 1, mean, extra, n) <= alpha < lower_tail(lowest, mean, extra, n)
