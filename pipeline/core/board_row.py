"""One row of the board (pipeline.core.board): a unit's measure, or one of its targets, as
judged at its latest window, and the row saying a measure or target has no current reading."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from pipeline.core.aggregates import UnitWindowAggregate

WITHDRAWN = "withdrawn"
"""The variation of a row saying its measure has no current reading (readers leave it out)."""
NOT_JUDGED = "not_judged"
"""The variation of an experience or safety row whose window has no verdict (the unit's
learning period; harm before its first incident report): its chart shows the window grey,
without centre or limits, and so does the row (docs/detection.md, one verdict)."""
_NAN = float("nan")  # one object: rows compare equal by identity, as NaN never does by value


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One unit and measure in the summary table (latest closed window)."""

    org_id: str
    unit_id: str
    measure: str
    metric: str
    window_start: datetime
    window_end: datetime
    value: float
    sample_size: float
    mean: float
    lpl: float | None
    upl: float | None
    improvement: str
    variation: str
    assurance: str | None
    target: float | None
    points: int
    version: int
    """Events behind the charted windows: grows with the data, so it orders stored versions."""
    point_starts: tuple[datetime, ...] = ()
    """A target row's chart, one point per return in force (empty for the other measures):
    each return's period start, period end, figure as published, denominator and point type
    (`spc.PointType`), in time order; its centre and limits are `mean`, `lpl` and `upl`."""
    point_ends: tuple[datetime, ...] = ()
    point_values: tuple[float, ...] = ()
    point_sizes: tuple[float, ...] = ()
    point_types: tuple[str, ...] = ()


def withdrawn_row(
    window: UnitWindowAggregate, measure: str, version: int, metric: str = ""
) -> BoardRow:
    """The row saying `measure` (a target: `metric`) has no current reading: it supersedes one
    an earlier judgement stored (a unit's target before a gap), so what is stored is what the
    latest judgement says however the data was batched. No figures (NaN), no limits, no
    points."""
    return BoardRow(window.org_id, window.unit_id, measure, metric, window.window.start,
                    window.window.end, _NAN, 0.0, _NAN, None, None, "", WITHDRAWN, None, None, 0,
                    version)  # fmt: skip


def not_judged_row(row: BoardRow) -> BoardRow:
    """`row` (experience or safety) as its window stands without a verdict: its figure and
    sample, no centre (NaN), no limits, `NOT_JUDGED`."""
    return replace(row, mean=_NAN, lpl=None, upl=None, variation=NOT_JUDGED)
