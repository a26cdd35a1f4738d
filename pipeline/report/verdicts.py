"""The report's reading of the stored verdicts (pipeline.core.detection.verdicts).

The report judges nothing itself: a unit's experience or safety over a period is the class its
stored verdicts give (any concern in the period is a concern), and its Making Data Count charts
of experience, harm and reporting draw the stored value, centre, limits and class of each
judged window, so they cannot disagree with the alerts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from pipeline.core.spc import Direction, PointType, XmrChart, XmrPoint
from pipeline.report.records import VerdictRecord

EXPERIENCE = ("positive_share", "negative_share")
SAFETY = ("harmful_incident_rate",)
REPORTING = ("incident_reporting",)
CONCERN = "concern"
REPORTING_CONCERN = "reporting_concern"
IMPROVEMENT = "improvement"
COMMON_CAUSE = "common_cause"
# Most telling first: what a period's verdicts add up to.
_PRECEDENCE = (CONCERN, REPORTING_CONCERN, IMPROVEMENT, COMMON_CAUSE)
_POINT = {
    CONCERN: PointType.SPECIAL_CAUSE_CONCERN,
    REPORTING_CONCERN: PointType.SPECIAL_CAUSE_CONCERN,
    IMPROVEMENT: PointType.SPECIAL_CAUSE_IMPROVEMENT,
    COMMON_CAUSE: PointType.COMMON_CAUSE,
}


def period_class(verdicts: Iterable[VerdictRecord], measures: Sequence[str]) -> str | None:
    """The class of a period: the most telling class any of its windows has on `measures`
    (None when none was judged)."""
    found = {v.verdict for v in verdicts if v.measure in measures}
    return next((c for c in _PRECEDENCE if c in found), None)


def experience_verdicts(verdicts: Iterable[VerdictRecord]) -> list[VerdictRecord]:
    """The positive share's verdicts, each with the class of its window's experience: the more
    telling of the two shares' (good and poor ratings), as the board, the overview and the
    alerts read it; a week whose poor ratings are a concern is a concern on the chart."""
    stored = list(verdicts)
    negative = {v.window_start: v.verdict for v in stored if v.measure == "negative_share"}
    out = []
    for v in stored:
        if v.measure != "positive_share":
            continue
        both = {v.verdict, negative.get(v.window_start, v.verdict)}
        out.append(replace(v, verdict=next((c for c in _PRECEDENCE if c in both), v.verdict)))
    return out


def verdict_chart(
    verdicts: Sequence[VerdictRecord],
    measure: str,
    improvement: Direction,
    learning: Sequence[tuple[datetime, float]] = (),
) -> XmrChart[datetime] | None:
    """The chart of one measure from its stored verdicts (time order): value, the unit's
    usual level as the centre line, its exact limits, and each point coloured by its class.
    `learning`: (window start, value) of windows with data; those before the first verdict
    (the unit's learning period, never judged) are drawn grey, without centre or limits."""
    mine = sorted((v for v in verdicts if v.measure == measure), key=lambda v: v.window_start)
    first = mine[0].window_start if mine else None
    early = [_unjudged(x, y) for x, y in sorted(learning) if first is None or x < first]
    points = (*early, *(_point(v) for v in mine))
    if not points:
        return None
    return XmrChart(
        points=points,
        improvement=improvement,
        target=None,
        variation=points[-1].point_type,
        assurance=None,
    )


def judged(point: XmrPoint[datetime]) -> bool:
    """False for a point of the learning period (no verdict: no centre, no limits)."""
    return not math.isnan(point.mean)


def _unjudged(x: datetime, y: float) -> XmrPoint[datetime]:
    return XmrPoint(
        x=x, y=y, segment=0, mean=math.nan, mean_moving_range=None, lpl=None, upl=None,
        lpl_2sigma=None, upl_2sigma=None, relative_to_mean=0, special_cause_rule=None,
        direction=0, point_type=PointType.COMMON_CAUSE,
    )  # fmt: skip


def _point(v: VerdictRecord) -> XmrPoint[datetime]:
    side = (v.value > v.centre) - (v.value < v.centre)
    point_type = _POINT.get(v.verdict, PointType.COMMON_CAUSE)
    return XmrPoint(
        x=v.window_start,
        y=v.value,
        segment=0,
        mean=v.centre,
        mean_moving_range=None,
        lpl=v.lower_limit,
        upl=v.upper_limit,
        lpl_2sigma=None,
        upl_2sigma=None,
        relative_to_mean=side,
        special_cause_rule=None,
        direction=0 if point_type is PointType.COMMON_CAUSE else (side or 1),
        point_type=point_type,
    )
