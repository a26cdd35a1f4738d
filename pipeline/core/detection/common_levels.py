"""The others' common level in one window (`detection.common` says what it is for): each judged
unit's (z, precision), and from those of the other units judged beside it, the level left out
of its CUSUM, over one window (`others_levels`) or pooled over several (`pooled_level`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from pipeline.core.detection.resume import MISSING, Memo, Suffixes
from pipeline.core.detection.stats import CUSUM_Z_RANGE
from pipeline.core.detection.trace import Trace

# Fewer judged units than this beside the unit in a window: nothing is taken out.
MIN_OTHERS = 3
Z_LOW, Z_HIGH = CUSUM_Z_RANGE
TRIM_FROM = 5


_SUMS = Memo("sums")


def others_sums(
    judged: tuple[tuple[str, float, float], ...], names: tuple[str, ...]
) -> dict[str, tuple[float, float]]:
    """Per unit of `names`, (Σ w z, Σ w²) of the other units judged in one window (z clipped,
    the highest and lowest left out from `TRIM_FROM`, as `_level` does); absent where fewer
    than `MIN_OTHERS` remain. Computed once for the same window's figures."""
    key = (judged, names)
    sums: dict[str, tuple[float, float]] | Any = _SUMS.get(key)
    if sums is MISSING:
        sums = _trimmed_sums(judged, names)
        _SUMS.put(key, sums)
    return sums


def pooled_level(
    recent: Sequence[Mapping[str, tuple[float, float]]], unit: str, weight: float
) -> float:
    """`_level` over several windows: the others' sums of each (`others_sums`) pooled into
    one precision-weighted estimate of the common shift, shrunk by the same empirical-Bayes
    factor, times this unit's own precision capped at the others' together in a window (the
    estimate's error, which lasts for weeks, reaches a unit times its precision: a big ED
    among small wards gets the offset the rest of its organisation together would, no more;
    issue 13's tenth round)."""
    pairs = [window[unit] for window in recent if unit in window]
    if weight <= 0.0 or not pairs:
        return 0.0
    squares = math.fsum(square for _, square in pairs)
    shift = math.fsum(product for product, _ in pairs) / squares
    significance = shift * shift * squares
    if significance <= 1.0:
        return 0.0
    others = math.sqrt(squares / len(pairs))
    return shift * (1.0 - 1.0 / significance) * min(weight, others)


NOBODY: dict[str, float] = {}
"""The levels of a window no unit was judged in (read-only)."""
_SCORES: Suffixes[tuple[float, float]] = Suffixes("peers")
_LEVELS = Memo("levels")


def window_scores(
    slot: Hashable, trace: Trace, counts: Sequence[int], score: Callable[[int], float]
) -> list[tuple[float, float]]:
    """Per window, (score, precision) of a monitored measure, (NaN, 0.0) where it was not
    judged. `score(t)` must read only the trace's predictive at t and `counts[t]` (and what
    `slot` fixes)."""

    def at(t: int) -> tuple[float, float]:
        z = score(t)
        return (math.nan, 0.0) if math.isnan(z) else (z, _precision(trace, t))

    columns: list[Sequence[Any]] = [trace.z, trace.mean, trace.extra_variance, counts]
    if trace.trials is not None:
        columns.append(trace.trials)
    return _SCORES.pointwise(slot, columns, at)


def others_levels(judged: Sequence[tuple[str, float, float]]) -> dict[str, float]:
    """`_level` of every unit judged in a window ((unit, z, precision) of each), computed once
    for the same figures (a unit judged again when a window closes has the same figures in
    most earlier windows). A unit not judged there has level 0.0 (its precision is 0)."""
    key = tuple(judged)
    levels: dict[str, float] | Any = _LEVELS.get(key)
    if levels is MISSING:
        sums = _trimmed_sums(key, tuple(unit for unit, _, _ in key))
        levels = {unit: _level(sums.get(unit), weight) for unit, _, weight in key}
        _LEVELS.put(key, levels)
    return levels


def _precision(trace: Trace, t: int) -> float:
    """The window's expected count over its predictive sd: the z a 100% rise would give it."""
    predictive = trace.predictive(t)
    assert predictive is not None
    mean = predictive.mean
    extra = predictive.extra_variance
    n = predictive.trials
    spread = mean + extra if n is None else mean - mean * mean / n + extra - extra / n
    return mean / math.sqrt(spread) if spread > 0.0 else 0.0


def _level(sums: tuple[float, float] | None, weight: float) -> float:
    """The others' common relative shift in this window, as the z it gives this unit, from
    the others' (Σ w z, Σ w²) (`_trimmed_sums`; None: fewer than `MIN_OTHERS` others).

    Each other unit's z is the common shift times its precision w (expected count over
    predictive sd) plus noise of sd 1, so the shift's least-squares estimate is Σ w z / Σ w²,
    with variance 1 / Σ w² (the highest and lowest z left out once there are `TRIM_FROM`:
    another unit's own episode must not mask this one's). Only the part of it that stands out
    from that noise is taken out: the estimate is shrunk towards 0 by the empirical-Bayes
    factor 1 - variance / estimate² (0 when the movement is within the noise), so a weak,
    chance movement of the others neither hides a unit's own shift nor invents one, while a
    strong common movement (winter) is taken out nearly whole. Times this unit's own w."""
    if sums is None or weight <= 0.0:
        return 0.0
    products, squares = sums
    shift = products / squares
    significance = shift * shift * squares  # the estimate over its variance, squared
    if significance <= 1.0:
        return 0.0
    return shift * (1.0 - 1.0 / significance) * weight


# Every float is a whole number of 2**-1074 (the least positive one): sums of them kept as
# integers in that unit are exact, so a unit's others are the window's total less its own and
# the two trimmed, rounded once, which is math.fsum's correctly rounded sum of the same terms.
_ULP_BITS = 1074
_ONE = 1 << _ULP_BITS


def _exact(x: float) -> int:
    """`x` (finite) exactly, in units of 2**-1074."""
    numerator, denominator = x.as_integer_ratio()
    return numerator << (_ULP_BITS + 1 - denominator.bit_length())


def _trimmed_sums(
    judged: Sequence[tuple[str, float, float]], names: Sequence[str]
) -> dict[str, tuple[float, float]]:
    """Per unit of `names`, (Σ w z, Σ w²) of the units of `judged` (each named once) with
    w > 0 other than itself: z clipped to `CUSUM_Z_RANGE`, sorted, the lowest and highest
    (z, w) left out once `TRIM_FROM` remain, each sum rounded once from its exact value (as
    math.fsum over those terms); absent where fewer than `MIN_OTHERS` remain. Linear in the
    units: the window's terms are sorted and summed once."""
    assert len({name for name, _, _ in judged}) == len(judged), "a unit judged twice"
    clipped = {name: (min(max(z, Z_LOW), Z_HIGH), w) for name, z, w in judged if w > 0.0}
    order = sorted(clipped, key=clipped.__getitem__)
    terms = [(z * w, w * w) for z, w in map(clipped.__getitem__, order)]
    if not all(math.isfinite(square) for _, square in terms):
        return _trimmed_sums_one_by_one(clipped, names)
    exact = [(_exact(product), _exact(square)) for product, square in terms]
    total_products = sum(product for product, _ in exact)
    total_squares = sum(square for _, square in exact)
    place = {name: i for i, name in enumerate(order)}
    count = len(order)
    sums = {}
    for unit in names:
        own = place.get(unit, -1)
        left = count - (own >= 0)
        if left < MIN_OTHERS:
            continue
        dropped = [own] if own >= 0 else []
        if left >= TRIM_FROM:
            dropped += [1 if own == 0 else 0, count - 2 if own == count - 1 else count - 1]
        products = total_products - sum(exact[i][0] for i in dropped)
        squares = total_squares - sum(exact[i][1] for i in dropped)
        sums[unit] = (products / _ONE, squares / _ONE)
    return sums


def _trimmed_sums_one_by_one(
    clipped: Mapping[str, tuple[float, float]], names: Sequence[str]
) -> dict[str, tuple[float, float]]:
    """`_trimmed_sums` from each unit's others in turn (quadratic): only where a term is not
    finite, which its exact integers cannot hold."""
    sums = {}
    for unit in names:
        here = sorted(value for name, value in clipped.items() if name != unit)
        if len(here) >= TRIM_FROM:
            here = here[1:-1]
        if len(here) >= MIN_OTHERS:
            sums[unit] = (math.fsum(z * w for z, w in here), math.fsum(w * w for _, w in here))
    return sums
