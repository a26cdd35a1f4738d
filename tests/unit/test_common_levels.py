"""The others' sums and levels of one window: each unit's others are the window's total less
its own and the two trimmed, exactly as summing them one by one, in work linear in the units."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.detection.common_levels import (
    MIN_OTHERS,
    TRIM_FROM,
    Z_HIGH,
    Z_LOW,
    others_levels,
    others_sums,
)

Judged = tuple[tuple[str, float, float], ...]


def one_by_one(judged: Judged, unit: str) -> tuple[float, float] | None:
    """The definition: the unit's others sorted, trimmed, and each sum taken whole."""
    others = [(z, w) for name, z, w in judged if name != unit and w > 0.0]
    here = sorted((min(max(z, Z_LOW), Z_HIGH), w) for z, w in others)
    if len(here) >= TRIM_FROM:
        here = here[1:-1]
    if len(here) < MIN_OTHERS:
        return None
    return math.fsum(z * w for z, w in here), math.fsum(w * w for _, w in here)


def level_one_by_one(judged: Judged, unit: str, weight: float) -> float:
    sums = one_by_one(judged, unit)
    if sums is None or weight <= 0.0:
        return 0.0
    shift = sums[0] / sums[1]
    significance = shift * shift * sums[1]
    return 0.0 if significance <= 1.0 else shift * (1.0 - 1.0 / significance) * weight


z_values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1.5, -2.0, Z_LOW, Z_HIGH, 5e-324]),
)
weights = st.one_of(
    st.floats(0.1, 200.0),
    st.sampled_from([0.0, -1.0, 5e-324, 1e-160, 3.0, 1e150, 1e200]),  # 1e200² is not finite
)


@given(st.lists(st.tuples(z_values, weights), max_size=12), st.integers(0, 2))
def test_each_units_sums_and_level_are_those_of_its_others_summed_one_by_one(
    scores: list[tuple[float, float]], absent: int
) -> None:
    judged = tuple((f"u{i}", z, w) for i, (z, w) in enumerate(scores))
    names = tuple(f"u{i}" for i in range(len(scores) + absent))  # some units not judged
    sums = others_sums(judged, names)
    expected = {u: s for u in names if (s := one_by_one(judged, u)) is not None}
    assert repr(sums) == repr(expected)
    try:
        levels = others_levels(judged)
    except ZeroDivisionError:  # squares that underflow to 0 fail one by one too
        return
    assert repr(levels) == repr({u: level_one_by_one(judged, u, w) for u, _, w in judged})


class CountedWeight(float):
    """A precision that counts the products taken of it."""

    products = 0

    def __mul__(self, other: object) -> float:
        CountedWeight.products += 1
        return float(self) * float(other)  # type: ignore[arg-type]

    __rmul__ = __mul__


def products_for(units: int, seed: int) -> tuple[int, int]:
    """Products taken by `others_sums` and `others_levels` for one window of `units` units."""
    judged = tuple(
        (f"u{i}", ((i * 7919 + seed) % 97) / 20 - 2.4, CountedWeight(1 + (i * 31 + seed) % 13))
        for i in range(units)
    )
    CountedWeight.products = 0
    others_sums(judged, tuple(name for name, _, _ in judged))
    sums = CountedWeight.products
    CountedWeight.products = 0
    others_levels(judged)
    return sums, CountedWeight.products


def test_a_windows_sums_and_levels_take_each_units_products_once() -> None:
    """Summing each unit's others anew (every other unit's z w and w² per unit) is quadratic
    in the units of an organisation; a whole 10,000-unit replay spent half its time there.
    A level takes one more product, its unit's own precision."""
    for units in (10, 100, 400):
        sums, levels = products_for(units, units)
        assert sums == 2 * units
        assert 2 * units <= levels <= 3 * units
