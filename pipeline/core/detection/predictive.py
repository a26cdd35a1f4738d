"""The predictive distribution of a window's count, and its exact tail probabilities.

A count x out of n trials (binomial) or over an exposure (Poisson), whose underlying rate
varies from window to window, is beta-binomial or gamma-Poisson (negative binomial). Given its
mean and its variance beyond pure sampling, this module gives P(X >= x) by summing the exact
terms of its mass function (`count_mass`; integrating them, `count_numerics.smooth_sum`, once
the distribution is thousands of counts wide), its standard-normal quantile (z = 3 is as
unusual as a 3-sigma point), and the highest count still within a sigma limit. Sums start at the
short side of the distribution, so tails of 1e-12 are exact, and results are cached: the engine
re-judges the same windows again and again.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from statistics import NormalDist
from typing import NamedTuple

from pipeline.core.detection.count_mass import (
    MAX_CONCENTRATION,
    beta_concentration,
    term_and_step,
)
from pipeline.core.detection.count_numerics import (
    WIDE_SPREAD,
    first_count,
    newton_count,
    smooth_sum,
)

_NORMAL = NormalDist()
# Tail probabilities are clamped to [_MIN_TAIL, _MAX_TAIL] before the normal quantile.
_MIN_TAIL = 1e-300
_MAX_TAIL = 1.0 - 1e-12
# Relative size at which a further term of a tail sum no longer changes it.
_NEGLIGIBLE = 1e-14
_LOG_UNDERFLOW = -700.0
# The normal approximation overstates how unusual a high count is when the distribution is
# right-skewed, so a window whose normal z is below the warning line less SCREEN_MARGIN cannot
# signal and may skip the exact sum. Right-skewed here: any gamma-Poisson, and a beta-binomial
# with a share of at most one half whose beta part is not extremely wide (concentration of at
# least SCREEN_MIN_CONCENTRATION). Checked on random cases in tests/unit/test_detect_stats.py.
SCREEN_MARGIN = 0.25
SCREEN_MIN_CONCENTRATION = 10.0


# Half an event added to the baseline count, so a unit with no events in its baseline gets a
# small positive rate instead of a zero one that would make any single event infinitely unusual.
PRIOR_COUNT = 0.5


class Predictive(NamedTuple):
    """The distribution expected for a window's count: `mean`, with `extra_variance` beyond
    binomial (`trials` given) or Poisson (`trials` None) sampling."""

    mean: float
    extra_variance: float
    trials: int | None

    def z(self, count: int) -> float:
        """Standard-normal quantile of P(X >= count): 3 means as unusual as 3 sigma."""
        return exact_z(count, self.mean, self.extra_variance, self.trials)

    def highest_usual_count(self, sigma: float) -> int:
        """The largest count whose upper tail is still more likely than `sigma` allows."""
        return _highest_usual_count(sigma, self.mean, self.extra_variance, self.trials)

    def lowest_usual_count(self, sigma: float) -> int:
        """The smallest count whose exact lower tail is still more likely than `sigma` allows
        (0 when even no event at all is not unusual: the rare-event case); at most the mean."""
        return _lowest_usual_count(sigma, self.mean, self.extra_variance, self.trials)


@lru_cache(maxsize=16384)
def exact_z(count: int, mean: float, extra: float, trials: int | None) -> float:
    """Standard-normal quantile of the exact P(X >= count)."""
    tail = upper_tail(count, mean, extra, trials)
    return -_NORMAL.inv_cdf(min(max(tail, _MIN_TAIL), _MAX_TAIL))


@lru_cache(maxsize=16384)
def _highest_usual_count(sigma: float, mean: float, extra: float, trials: int | None) -> int:
    alpha = _NORMAL.cdf(-sigma)
    # The tail falls monotonically above the mean: search from a normal guess for the first
    # count whose tail is within alpha (beyond the trials it is 0).
    spread = math.sqrt(max(mean + extra, 1e-12))
    guess = max(0, math.ceil(mean + sigma * spread))
    limit = None if trials is None else trials + 1

    def tail(count: int) -> float:
        return upper_tail(count, mean, extra, trials)

    if _smooth_spread(mean, extra, trials) is not None:
        top = guess if trials is None else trials
        guess = newton_count(tail, _log_mass(mean, extra, trials), alpha, guess, 0, top, True)
    else:
        guess = _crossing_near(alpha, guess if trials is None else min(guess, trials), mean,
                               extra, trials)  # fmt: skip

    def unusual(count: int) -> bool:
        return tail(count) <= alpha

    return first_count(unusual, guess, limit) - 1


def _crossing_near(alpha: float, start: int, mean: float, extra: float, trials: int | None) -> int:
    """About the first count whose upper tail is within `alpha`, for `first_count` to start
    from: the sum of the terms from `start` gives every count's tail, up by taking terms off
    and down by adding the terms below (rounded differently from `upper_tail`'s own sums, so
    only a guess; the exact test then takes two sums where the normal guess took five or six).
    Nothing is kept per term: a very wide predictive's sum may run over millions of them."""
    if start <= 0:
        return start  # every count's tail is 1 there: nothing to walk (and no trials, maybe)
    log_term, step = term_and_step(start, mean, extra, trials)
    if log_term < _LOG_UNDERFLOW:
        return start
    first = math.exp(log_term)
    tail, end = _sum_upwards(first, start, step, trials)
    count, term = start, first
    if tail > alpha:
        while count < end and tail > alpha:
            tail -= term
            term *= step(count)
            count += 1
        return count + 1 if tail > alpha else count
    while count > 0:
        term /= step(count - 1)
        tail += term
        if tail > alpha:
            break
        count -= 1
    return count


@lru_cache(maxsize=16384)
def _lowest_usual_count(sigma: float, mean: float, extra: float, trials: int | None) -> int:
    alpha = _NORMAL.cdf(-sigma)
    # Search from a normal guess; the lower tail grows monotonically with the count.
    spread = math.sqrt(max(mean + extra, 1e-12))
    guess = max(0, math.floor(mean - sigma * spread))

    def tail(count: int) -> float:
        return lower_tail(count, mean, extra, trials)

    if _smooth_spread(mean, extra, trials) is not None:
        mass = _log_mass(mean, extra, trials)
        guess = newton_count(tail, mass, alpha, guess, 0, math.ceil(mean), False)

    def usual(count: int) -> bool:
        return tail(count) > alpha

    return first_count(usual, guess, math.ceil(mean))


def baseline_predictive(
    counts: Sequence[int],
    scales: Sequence[float],
    trials: Sequence[int] | None,
    baseline: Sequence[int],
    index: int,
    reference_relvar: float,
    max_between_cv: float,
    min_between_logit_sd: float = 0.0,
) -> Predictive:
    """Window `index`'s predictive distribution from the given baseline windows (in time
    order): the formula `pipeline.core.detection.stats.monitor` keeps in running sums, for a
    one-off judgement."""
    total = math.fsum(counts[s] for s in baseline)
    total_scale = math.fsum(scales[s] for s in baseline)
    total_scale2 = math.fsum(scales[s] * scales[s] for s in baseline)
    theta = (total + PRIOR_COUNT) / total_scale
    pair_terms = [
        (
            (counts[after] / scales[after] - counts[before] / scales[before]) ** 2,
            1.0 / scales[after] + 1.0 / scales[before],
            1.0 / trials[after] + 1.0 / trials[before] if trials is not None else 0.0,
        )
        for before, after in itertools.pairwise(baseline)
    ]
    between = 0.0
    if pair_terms:
        d2, inverse, binomial = (math.fsum(column) for column in zip(*pair_terms, strict=True))
        between = (d2 - theta * (inverse - theta * binomial)) / (2 * len(pair_terms))
        between = min(max(between, 0.0), (max_between_cv * theta) ** 2)
    if trials is not None:
        between = max(between, (min_between_logit_sd * theta * (1.0 - theta)) ** 2)
    variance = between * (1.0 + total_scale2 / (total_scale * total_scale))
    variance += theta / total_scale + theta * theta * reference_relvar
    scale = scales[index]
    mean = scale * theta
    n = None
    if trials is not None:
        n = trials[index]
        mean = min(mean, n * (1.0 - 1e-9))
    return Predictive(mean, scale * scale * variance, n)


def log_pmf(count: int, mean: float, extra: float, trials: int | None) -> float:
    """log P(X = count) under the beta-binomial (trials given) or gamma-Poisson predictive."""
    return term_and_step(count, mean, extra, trials)[0]


def upper_tail(count: int, mean: float, extra: float, trials: int | None) -> float:
    """P(X >= count) for the beta-binomial (trials given) or gamma-Poisson predictive."""
    if count <= 0:
        return 1.0
    if trials is not None and count > trials:
        return 0.0
    if count <= mean:
        # At or below the mean the tail is large; summing the short side keeps it exact.
        return 1.0 - lower_tail(count - 1, mean, extra, trials)
    log_term, step = term_and_step(count, mean, extra, trials)
    if log_term < _LOG_UNDERFLOW:
        return 0.0
    if (spread := _smooth_spread(mean, extra, trials)) is not None:
        end = trials if trials is not None else count + math.ceil(64 * spread)
        return min(smooth_sum(_log_mass(mean, extra, trials), count, end, spread), 1.0)
    total, _ = _sum_upwards(math.exp(log_term), count, step, trials)
    return min(total, 1.0)


def _sum_upwards(
    term: float, count: int, step: Callable[[int], float], trials: int | None
) -> tuple[float, int]:
    """The sum of the terms from `count`'s (`term`) upwards, each the last times `step`, until
    one is negligible against the sum or `trials` is reached; and the count after the last
    term added."""
    total = term
    last = trials if trials is not None else math.inf
    while count < last:
        ratio = step(count)
        term *= ratio
        total += term
        count += 1
        if ratio < 1.0 and term <= total * _NEGLIGIBLE:
            break
    return total, count


def lower_tail(count: int, mean: float, extra: float, trials: int | None) -> float:
    """P(X <= count), summed downwards from `count` (at or below the mean)."""
    if count < 0:
        return 0.0
    log_term, step = term_and_step(count, mean, extra, trials)
    if log_term < _LOG_UNDERFLOW:
        return 0.0
    if (spread := _smooth_spread(mean, extra, trials)) is not None:
        return min(smooth_sum(_log_mass(mean, extra, trials), count, 0, spread), 1.0)
    term = total = math.exp(log_term)
    for k in range(count - 1, -1, -1):
        ratio = step(k)
        term /= ratio
        total += term
        if ratio > 1.0 and term <= total * _NEGLIGIBLE:
            break
    return min(total, 1.0)


def _smooth_spread(mean: float, extra: float, trials: int | None) -> float | None:
    """The distribution's spread when it is wide (`WIDE_SPREAD`) and smooth enough for its tails
    to be integrated (binomial and Poisson; beta and gamma mixtures whose shapes are at least
    2, so the mass function has no spike at an end); None: sum the terms."""
    if trials is None:
        variance = mean + extra
        if variance < WIDE_SPREAD * WIDE_SPREAD:
            return None
        if extra > mean / MAX_CONCENTRATION and mean * mean / extra < 2.0:
            return None
        return math.sqrt(variance)
    share = mean / trials
    variance = mean * (1 - share) + extra
    if variance < WIDE_SPREAD * WIDE_SPREAD:
        return None
    concentration = beta_concentration(share, extra, trials)
    if concentration <= MAX_CONCENTRATION and min(share, 1 - share) * concentration < 2.0:
        return None
    return math.sqrt(variance)


def _log_mass(mean: float, extra: float, trials: int | None) -> Callable[[float], float]:
    """log P(X = x) as a function of x, continued between the counts (lgamma is smooth)."""
    return lambda x: term_and_step(x, mean, extra, trials)[0]
