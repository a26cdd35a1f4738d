"""Stores of results keyed by a unit's (or an organisation's) very windows keep the latest
version per unit, not a capacity's worth of stale ones: a unit judged again as its windows
close replaces its entry (`resume.Memo.put`'s slot), and what judging says is unchanged."""

from __future__ import annotations

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.board import _ROWS, board_rows
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.bright import _SPOTS, bright_spots
from pipeline.core.detection.common import _SHARED
from pipeline.core.detection.improvement import _JUDGES
from pipeline.core.detection.measures import _FIGURES
from pipeline.core.detection.resume import MISSING, Memo, from_scratch
from pipeline.core.detection.silence import _TRACES as _SILENCES
from pipeline.core.detection.unit import _TRACES
from pipeline.core.detection.verdicts import org_verdicts
from tests.support.series import organisation


def test_a_slots_earlier_version_is_dropped_when_another_is_put() -> None:
    store = Memo("traces")
    store.put(("a", 1), "a1", "a")
    store.put(("b", 1), "b1", "b")
    store.put(("a", 1), "a1 again", "a")  # the same version: kept
    assert store.get(("a", 1)) == "a1 again"
    store.put(("a", 2), "a2", "a")
    assert store.get(("a", 1)) is MISSING
    assert (store.get(("a", 2)), store.get(("b", 1))) == ("a2", "b1")
    store.put(("c", 1), "c1")
    store.put(("c", 2), "c2")  # no slot: both kept
    assert (store.get(("c", 1)), store.get(("c", 2))) == ("c1", "c2")


def test_an_entry_evicted_by_capacity_takes_its_slot_along() -> None:
    store = Memo("figures")  # capacity 16
    for unit in range(40):
        store.put(("unit", unit, 1), unit, unit)
    assert len(store._store) == 16
    assert store._latest == {unit: ("unit", unit, 1) for unit in range(24, 40)}
    store.put(("shared", 1), "a", "a")
    store.put(("shared", 1), "b", "b")  # the key moves to slot b: a no longer holds it
    store.put(("a", 2), "a2", "a")
    assert store.get(("shared", 1)) == "b"
    assert store._latest["b"] == ("shared", 1) and store._latest["a"] == ("a", 2)
    assert set(store._latest.values()) <= set(store._store)


def _judged(units: dict[str, list[UnitWindowAggregate]], config: DetectionConfig) -> str:
    """What one judgement of the organisation says (verdicts, bright spots, board rows)."""
    rows = {unit: board_rows(series) for unit, series in sorted(units.items())}
    return repr((org_verdicts(units, config), bright_spots(units, config), rows))


def test_an_organisation_judged_window_by_window_keeps_one_entry_per_unit() -> None:
    config = DetectionConfig()
    full = organisation(48)
    stores = (_FIGURES, _TRACES, _SILENCES, _SHARED, _JUDGES, _SPOTS, _ROWS)
    for store in stores:
        store.clear()
    for size in range(36, 49):
        units = {unit: series[:size] for unit, series in full.items()}
        said = _judged(units, config)
    held = [len(store._store) for store in stores]
    assert held == [len(full), len(full), len(full), 1, 1, 1, len(full)]
    with from_scratch():
        assert _judged(units, config) == said
