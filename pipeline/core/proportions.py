"""Control limits for proportions and rates whose sample size changes from period to period.

- p-chart: a share of cases (e.g. patients seen within 4 hours) with binomial 3-sigma limits that
  widen when a period has few cases and narrow when it has many.
- Laney p′ (p-prime) chart: the p-chart with its sigma multiplied by sigma_z, the spread of the
  periods' z-scores measured by their moving ranges. With large samples nearly every period of a
  p-chart is a signal, because real processes vary between periods more than the binomial
  allows; Laney's adjustment puts that between-period variation back. sigma_z = 1 is the p-chart.
- u-chart: a count per unit of exposure (incidents per 1,000 bed days), with Poisson limits.

Pure: standard library only, no I/O, no clock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

SIGMA_LIMITS = 3.0
# d2 for moving ranges of two points: mean moving range / d2 estimates the standard deviation.
D2 = 1.128


class AttributeChartKind(StrEnum):
    P = "p"
    P_PRIME = "p_prime"
    U = "u"


@dataclass(frozen=True, slots=True)
class AttributePoint:
    """One period: `value` = numerator / denominator, with the limits for its denominator.

    `sigma` is the standard error the limits use (for p′ already multiplied by sigma_z) and `z`
    is (value - centre) / sigma, so a point is outside its limits when |z| > 3 (limits are
    clipped to [0, 1] for proportions and at 0 for rates, where no value can fall beyond them).
    """

    numerator: float
    denominator: float
    value: float
    centre: float
    sigma: float
    lcl: float
    ucl: float
    z: float

    @property
    def outside_limits(self) -> bool:
        return self.value > self.ucl or self.value < self.lcl


@dataclass(frozen=True, slots=True)
class AttributeChart:
    """A p, p′ or u chart: one centre line (the pooled value) and per-period limits.

    `sigma_z` is 1.0 for p and u charts.
    """

    kind: AttributeChartKind
    centre: float
    sigma_z: float
    points: tuple[AttributePoint, ...]


def p_chart_limits(
    successes_by_period: Sequence[float], n_by_period: Sequence[float]
) -> AttributeChart:
    """p-chart of the share successes / n in each period.

    Centre: the pooled proportion sum(successes) / sum(n). Limits: centre ± 3 × sqrt(p̄(1 - p̄) / n)
    for each period's n, clipped to [0, 1]. Raises ValueError for no periods, sequences of
    different lengths, an n that is not positive, or successes outside 0..n.
    """
    centre, sigmas = _binomial(successes_by_period, n_by_period)
    return _chart(AttributeChartKind.P, successes_by_period, n_by_period, centre, sigmas, 1.0)


def laney_p_prime_limits(
    successes_by_period: Sequence[float],
    n_by_period: Sequence[float],
    *,
    sigma_z: float | None = None,
) -> AttributeChart:
    """Laney p′ chart: the p-chart with each period's sigma multiplied by sigma_z.

    Without `sigma_z` it is estimated from the data by `laney_sigma_z` over the p-chart z-scores
    (which needs at least two periods). Passing `sigma_z=1.0` gives the p-chart's limits. Raises
    ValueError as `p_chart_limits` does, for one period without `sigma_z`, or a negative
    `sigma_z`.
    """
    centre, sigmas = _binomial(successes_by_period, n_by_period)
    if sigma_z is None:
        sigma_z = laney_sigma_z(_z_scores(successes_by_period, n_by_period, centre, sigmas))
    elif not (math.isfinite(sigma_z) and sigma_z >= 0):
        raise ValueError("sigma_z must be a finite number, 0 or more")
    return _chart(
        AttributeChartKind.P_PRIME, successes_by_period, n_by_period, centre, sigmas, sigma_z
    )


def laney_sigma_z(z_scores: Sequence[float]) -> float:
    """Between-period spread of z-scores: mean moving range / 1.128 (Laney 2002, unscreened).

    Raises ValueError for fewer than two z-scores.
    """
    if len(z_scores) < 2:
        raise ValueError("sigma_z needs at least two periods")
    moving_ranges = [abs(b - a) for a, b in itertools.pairwise(z_scores)]
    return math.fsum(moving_ranges) / len(moving_ranges) / D2


def u_chart_limits(
    counts_by_period: Sequence[float], exposure_by_period: Sequence[float]
) -> AttributeChart:
    """u-chart of the rate count / exposure in each period (e.g. incidents per bed day).

    Centre: the pooled rate sum(counts) / sum(exposure). Limits: centre ± 3 × sqrt(ū / exposure)
    for each period, the lower one clipped at 0. Raises ValueError for no periods, sequences of
    different lengths, an exposure that is not positive, or a negative count.
    """
    _check_lengths(counts_by_period, exposure_by_period)
    for count, exposure in zip(counts_by_period, exposure_by_period, strict=True):
        _check_denominator(exposure)
        if not (math.isfinite(count) and count >= 0):
            raise ValueError(f"count {count} must be a finite number, 0 or more")
    centre = math.fsum(counts_by_period) / math.fsum(exposure_by_period)
    sigmas = [math.sqrt(centre / exposure) for exposure in exposure_by_period]
    return _chart(AttributeChartKind.U, counts_by_period, exposure_by_period, centre, sigmas, 1.0)


def _binomial(
    successes_by_period: Sequence[float], n_by_period: Sequence[float]
) -> tuple[float, list[float]]:
    _check_lengths(successes_by_period, n_by_period)
    for successes, n in zip(successes_by_period, n_by_period, strict=True):
        _check_denominator(n)
        if not (math.isfinite(successes) and 0 <= successes <= n):
            raise ValueError(f"successes {successes} must lie between 0 and n = {n}")
    centre = math.fsum(successes_by_period) / math.fsum(n_by_period)
    return centre, [math.sqrt(centre * (1 - centre) / n) for n in n_by_period]


def _z_scores(
    numerators: Sequence[float], denominators: Sequence[float], centre: float, sigmas: list[float]
) -> list[float]:
    return [
        _z(numerator / denominator, centre, sigma)
        for numerator, denominator, sigma in zip(numerators, denominators, sigmas, strict=True)
    ]


def _chart(
    kind: AttributeChartKind,
    numerators: Sequence[float],
    denominators: Sequence[float],
    centre: float,
    sigmas: list[float],
    sigma_z: float,
) -> AttributeChart:
    upper_bound = 1.0 if kind is not AttributeChartKind.U else math.inf
    points = []
    for numerator, denominator, sigma in zip(numerators, denominators, sigmas, strict=True):
        value = numerator / denominator
        adjusted = sigma * sigma_z
        points.append(
            AttributePoint(
                numerator=numerator,
                denominator=denominator,
                value=value,
                centre=centre,
                sigma=adjusted,
                lcl=max(0.0, centre - SIGMA_LIMITS * adjusted),
                ucl=min(upper_bound, centre + SIGMA_LIMITS * adjusted),
                z=_z(value, centre, adjusted),
            )
        )
    return AttributeChart(kind=kind, centre=centre, sigma_z=sigma_z, points=tuple(points))


def _z(value: float, centre: float, sigma: float) -> float:
    if sigma > 0:
        return (value - centre) / sigma
    # A zero sigma means no spread at all (p̄ of 0 or 1, ū of 0, or sigma_z = 0).
    if value == centre:
        return 0.0
    return math.copysign(math.inf, value - centre)


def _check_lengths(numerators: Sequence[float], denominators: Sequence[float]) -> None:
    if not numerators:
        raise ValueError("a chart needs at least one period")
    if len(numerators) != len(denominators):
        raise ValueError(f"{len(numerators)} numerators for {len(denominators)} denominators")


def _check_denominator(denominator: float) -> None:
    if not (math.isfinite(denominator) and denominator > 0):
        raise ValueError(f"denominator {denominator} must be a finite number above 0")
