"""The target chart of the board's stored row (pipeline.core.board): drawn, never recomputed.

The board's target row keeps one point per return in force with its type, centre and limits,
so the report's summary table and the chart under it read one judgement and cannot disagree.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.core.spc import Assurance, Direction, PointType, XmrChart, XmrPoint
from pipeline.report.records import BoardRecord


def stored_target_chart(row: BoardRecord) -> XmrChart[datetime]:
    """The chart of a stored target row (`row.point_*` not empty): each return's figure and
    stored point type, the row's centre and limits, its variation and assurance."""
    points = tuple(
        _point(row, x, y, PointType(kind))
        for x, y, kind in zip(row.point_starts, row.point_values, row.point_types, strict=True)
    )
    return XmrChart(
        points=points,
        improvement=Direction(row.improvement),
        target=row.target,
        variation=PointType(row.variation),
        assurance=None if row.assurance is None else Assurance(row.assurance),
    )


def _point(row: BoardRecord, x: datetime, y: float, kind: PointType) -> XmrPoint[datetime]:
    side = (y > row.mean) - (y < row.mean)
    return XmrPoint(
        x=x, y=y, segment=0, mean=row.mean, mean_moving_range=None, lpl=row.lpl, upl=row.upl,
        lpl_2sigma=None, upl_2sigma=None, relative_to_mean=side, special_cause_rule=None,
        direction=0 if kind is PointType.COMMON_CAUSE else (side or 1), point_type=kind,
    )  # fmt: skip
