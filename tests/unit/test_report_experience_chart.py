"""The unit's experience chart in the report: the stored verdicts of both shares, good and poor
ratings, as the board, the overview and the alerts read a unit's experience."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.core.spc import PointType
from pipeline.report.build import unit_charts
from pipeline.report.records import VerdictRecord, WindowFigures

MONDAY = datetime(2025, 1, 6, tzinfo=UTC)


def _verdict(measure: str, week: int, verdict: str, value: float) -> VerdictRecord:
    centre = 0.8 if measure == "positive_share" else 0.07
    start = MONDAY + timedelta(weeks=week)
    return VerdictRecord(
        "R8H", "derm", measure, start, value, centre, 0.0, 1.0, 0.5, "", verdict, "share"
    )


def _window(week: int) -> WindowFigures:
    start = MONDAY + timedelta(weeks=week)
    return WindowFigures(
        "R8H", "derm", start, start + timedelta(weeks=1), 166, 120, 22, 0, 0, None, ()
    )


def test_a_week_whose_poor_ratings_are_a_concern_is_a_concern_on_the_experience_chart() -> None:
    """Seen from outside (twenty-first session, outside-family seed 1): R8H derm's high
    divergence alert flagged 5 weeks of poor ratings (negative share: concern) while its
    positive share stayed common cause; the unit's experience chart drew the positive share's
    verdicts alone, all grey under the alert, where the board and the overview call those
    weeks' experience a concern. Each point now has the class of the worse of the two shares."""
    verdicts = [
        _verdict("positive_share", 0, "common_cause", 0.79),
        _verdict("negative_share", 0, "common_cause", 0.06),
        _verdict("positive_share", 1, "common_cause", 0.72),
        _verdict("negative_share", 1, "concern", 0.13),
        _verdict("positive_share", 2, "improvement", 0.9),
        _verdict("negative_share", 2, "common_cause", 0.05),
    ]
    charts = unit_charts([_window(w) for w in range(3)], [], verdicts)
    (experience,) = [c for c in charts if c.measure == "experience"]
    points = experience.chart.points
    assert [p.y for p in points] == [0.79, 0.72, 0.9]  # the positive share's own values
    assert [p.point_type for p in points] == [
        PointType.COMMON_CAUSE,
        PointType.SPECIAL_CAUSE_CONCERN,
        PointType.SPECIAL_CAUSE_IMPROVEMENT,
    ]
