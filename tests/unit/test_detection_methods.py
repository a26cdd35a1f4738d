"""The method comparison behind docs/detection.md (`bench/detection_methods.py`, research code
kept out of the product): the exact limits keep their false-alarm promise where others do not."""

from __future__ import annotations

from bench.detection_methods import UNIT_CLASSES, compare_methods


def test_exact_limits_keep_their_promise_on_small_overdispersed_units_where_others_do_not() -> None:
    """The justification in docs/detection.md, on fewer simulated years."""
    rows = compare_methods(seed=3, years=60, classes=UNIT_CLASSES[:1])
    rate = {row.method: row.false_alarms_per_1000_weeks for row in rows}
    nominal = 1.35  # a 3-sigma point, per 1,000 weeks

    assert rate["exact predictive (this pipeline)"] <= 2 * nominal
    for method in ("XmR, point beyond the limit", "p-chart", "Laney p′"):
        assert rate[method] >= 5 * nominal, method
