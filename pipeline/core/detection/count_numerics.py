"""Numerics over counts: the first count at which a test turns true, and sums of a smooth
probability mass function over many thousands of counts in constant time.

The exact tails of `predictive` add one term per count, about as many terms as the distribution
is wide: fine for a ward's 12 to 120 responses a week, minutes per window for the counts the
contract allows (up to 2^32 - 1 responses per rating). Where the distribution is thousands of
counts wide its mass function is smooth on the scale of one count, and the sum over counts is
its integral plus the Euler-Maclaurin end corrections; the integral is taken by Gauss-Legendre
panels fitted to how fast the function falls (two e-folding lengths, at most half a spread
wide), which keeps the relative error below 1e-6 (tests/unit/test_count_numerics.py checks it
against the exact sums) at a hundred or two evaluations whatever the width.
"""

from __future__ import annotations

import math
from collections.abc import Callable

WIDE_SPREAD = 2048.0
"""The spread (standard deviation, in counts) from which a tail is integrated, not summed."""

# Gauss-Legendre's 8 nodes and weights on [-1, 1]: exact for polynomials of degree 15, so a
# panel two e-folding lengths (or half a spread) wide is integrated to about 1e-12.
_NODES = (
    -0.9602898564975363,
    -0.7966664774136267,
    -0.5255324099163290,
    -0.1834346424956498,
    0.1834346424956498,
    0.5255324099163290,
    0.7966664774136267,
    0.9602898564975363,
)
_WEIGHTS = (
    0.1012285362903763,
    0.2223810344533745,
    0.3137066458778873,
    0.3626837833783620,
    0.3626837833783620,
    0.3137066458778873,
    0.2223810344533745,
    0.1012285362903763,
)
_EFOLDS_PER_PANEL = 2.0
_SPREADS_PER_PANEL = 0.5
# The integral stops when what is left beyond (the last value over the rate it falls at, as
# for an exponential tail) is this small a part of it.
_NEGLIGIBLE = 1e-13


def smooth_sum(log_mass: Callable[[float], float], start: int, end: int, spread: float) -> float:
    """The sum of exp(log_mass(k)) over the integers k from `start` to `end` inclusive (`end`
    below `start` sums downwards), for a mass function that falls away from `start` (it is
    the short side of a unimodal distribution) and is smooth on the scale of `spread` >= 1.
    Summing stops early once the rest is negligible, so `end` may be far out."""
    sign = 1 if end >= start else -1

    def slope_at(x: float) -> float:
        # d log_mass / dx along the direction of summing, by a difference of one count
        low = max(x - 0.5, 0.0)
        return (log_mass(low + 1.0) - log_mass(low)) * sign

    mass_start = math.exp(log_mass(float(start)))
    slope_start = slope_at(float(start))
    integral, x, falling = 0.0, float(start), -slope_start
    reached_end = start == end
    while not reached_end:
        width = max(1.0, min(spread * _SPREADS_PER_PANEL, _EFOLDS_PER_PANEL / max(falling, 1e-300)))
        reached_end = (x + width * sign - end) * sign >= 0
        if reached_end:
            width = abs(end - x)
        half, centre = width / 2, x + width / 2 * sign
        values = [log_mass(centre + half * node * sign) for node in _NODES]
        integral += half * math.fsum(w * math.exp(v) for w, v in zip(_WEIGHTS, values, strict=True))
        x = x + width * sign
        falling = (values[-2] - values[-1]) / (half * (_NODES[-1] - _NODES[-2]))
        if math.exp(values[-1]) / max(falling, 1e-300) <= integral * _NEGLIGIBLE:
            break
    # Euler-Maclaurin: sum = integral + (f(a) + f(b)) / 2 + (f'(b) - f'(a)) / 12, f' taken
    # along the direction of summing (an end not reached contributes nothing).
    total = integral + mass_start / 2 - mass_start * slope_start / 12
    if reached_end:
        mass_end = math.exp(log_mass(float(end)))
        total += mass_end / 2 + mass_end * slope_at(float(end)) / 12
    return total


def first_count(holds: Callable[[int], bool], guess: int, limit: int | None = None) -> int:
    """The least count from 0 for which `holds`, a test false up to some count and true from
    it on, is true; `limit` when it is not true before `limit` (None: no limit, the test must
    come true). Searched out from `guess` by doubling steps, then halving: a few dozen tests
    where stepping one count at a time took as many as the distribution is wide (a unit of
    60,000 responses a week took seconds a window)."""
    if limit is not None:
        if limit <= 0:
            return limit
        guess = min(guess, limit - 1)
    if holds(guess):
        true, false, step = guess, -1, 1
        while true - step >= 0:
            if not holds(true - step):
                false = true - step
                break
            true -= step
            step *= 2
    else:
        false, step = guess, 1
        while True:
            count = false + step
            if limit is not None and count >= limit:
                true = limit
                break
            if holds(count):
                true = count
                break
            false = count
            step *= 2
    while true - false > 1:
        middle = (true + false) // 2
        if holds(middle):
            true = middle
        else:
            false = middle
    return true


def newton_count(
    tail: Callable[[int], float],
    log_mass: Callable[[float], float],
    alpha: float,
    guess: int,
    least: int,
    most: int,
    falling: bool,
) -> int:
    """Near the count where `tail` (an upper tail falling with the count, or a lower tail
    rising: `falling` False) crosses `alpha`, from `guess`, by Newton's steps on the log of
    the tail, for a wide, smooth predictive (a handful of tail sums where the doubling search
    takes dozens); `first_count` then settles the exact count. Kept within [least, most]."""
    count = guess
    for _ in range(8):
        value = tail(count)
        if not 0.0 < value < 1.0:
            break
        share = min(math.exp(log_mass(float(count))) / value, 0.5)  # of the tail at the count
        per_count = math.log1p(-share) if falling else math.log1p(share)
        step = (math.log(alpha) - math.log(value)) / per_count
        count = min(max(round(count + step), least), most)
        if abs(step) < 1.0:
            break
    return count
