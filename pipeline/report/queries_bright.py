"""The stored bright spots (pipeline.core.detection.bright), read for the report."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipeline.core.detection.bright import NONE, BrightSpot
from pipeline.report.driver_values import as_utc

if TYPE_CHECKING:
    from pipeline.report.queries import ReadableStore

_COLUMNS = (
    "org_id, unit_id, measure, status, first_window, last_window, detected_in, windows, "
    "detector, value, baseline, peers, reduction_vs_baseline, reduction_vs_peers, z_baseline, "
    "z_peers, sample_size, version"
)


def load_bright_spots(store: ReadableStore, window_kind: str) -> list[BrightSpot]:
    """The latest stored bright spot of every unit and measure (`none` rows left out)."""
    rows = store.query_dicts(
        f"SELECT {_COLUMNS} FROM {store.database}.bright_spots FINAL "
        "WHERE window_kind = {kind:String} AND status != {none:String} "
        "ORDER BY org_id, unit_id, measure",
        {"kind": window_kind, "none": NONE},
    )
    return [BrightSpot(**{key: _value(key, value) for key, value in r.items()}) for r in rows]


def _value(key: str, value: Any) -> Any:
    if isinstance(value, datetime):  # naive UTC, or aware, by driver
        return as_utc(value)
    if key in ("windows", "version"):
        return int(value)
    return value
