"""The mass function of a count's predictive distribution (`detection.predictive`): log P(X = x)
of the beta-binomial (a count out of n trials) or gamma-Poisson (a count over an exposure) with a
given mean and variance beyond sampling, and the ratio of successive terms that tail sums step by.
"""

from __future__ import annotations

import math
from collections.abc import Callable

# The beta and gamma mixtures stop being distinguishable from binomial or Poisson here, and
# lgamma differences of huge arguments would lose precision.
MAX_CONCENTRATION = 1e7
# Keeps the beta mixture unimodal near its upper end (b >= 1 for shares up to one half).
MIN_CONCENTRATION = 2.0


def beta_concentration(share: float, extra: float, trials: int) -> float:
    """The beta mixture's a + b for a share with `extra` variance of the count beyond binomial
    over `trials` (infinite: no extra variance, a plain binomial)."""
    variance = extra / (trials * trials)
    return share * (1 - share) / variance - 1 if variance > 0 else math.inf


def term_and_step(
    count: float, mean: float, extra: float, trials: int | None
) -> tuple[float, Callable[[int], float]]:
    """log P(X = count), and the ratio P(X = k + 1) / P(X = k) as a function of k (`count` may
    lie between counts: the continuation the smooth sums integrate)."""
    if trials is None:
        if extra <= mean / MAX_CONCENTRATION:
            log_mean = math.log(mean) if mean > 0 else -math.inf
            return count * log_mean - mean - math.lgamma(count + 1), _poisson_step(mean)
        shape = mean * mean / extra
        odds = mean / (shape + mean)
        log_term = (
            math.lgamma(count + shape)
            - math.lgamma(shape)
            - math.lgamma(count + 1)
            + shape * math.log1p(-odds)
            + count * math.log(odds)
        )
        return log_term, _negative_binomial_step(shape, odds)
    n = trials
    share = mean / n
    log_choose = math.lgamma(n + 1) - math.lgamma(count + 1) - math.lgamma(n - count + 1)
    concentration = beta_concentration(share, extra, n)
    if concentration > MAX_CONCENTRATION:
        log_term = log_choose + (count * math.log(share) if share > 0 else -math.inf)
        log_term += (n - count) * math.log1p(-share)
        return log_term, _binomial_step(n, share)
    concentration = max(concentration, MIN_CONCENTRATION)
    a, b = share * concentration, (1 - share) * concentration
    log_term = (
        log_choose
        + math.lgamma(count + a)
        + math.lgamma(n - count + b)
        - math.lgamma(n + a + b)
        + math.lgamma(a + b)
        - math.lgamma(a)
        - math.lgamma(b)
    )
    return log_term, _beta_binomial_step(n, a, b)


def _poisson_step(mean: float) -> Callable[[int], float]:
    return lambda k: mean / (k + 1)


def _negative_binomial_step(shape: float, odds: float) -> Callable[[int], float]:
    return lambda k: (k + shape) / (k + 1) * odds


def _binomial_step(n: int, share: float) -> Callable[[int], float]:
    odds = share / (1 - share)
    return lambda k: (n - k) / (k + 1) * odds


def _beta_binomial_step(n: int, a: float, b: float) -> Callable[[int], float]:
    return lambda k: (n - k) * (k + a) / ((k + 1) * (n - k - 1 + b))
