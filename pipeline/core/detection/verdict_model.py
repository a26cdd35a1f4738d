"""What a stored verdict is (`detection.verdicts` judges them): its classes, chart kinds, rules
and fields, shared by the verdict book, the board and the report."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipeline.core.windows import Window

INCIDENT_REPORTING = "incident_reporting"
"""The reporting measure: all incident reports (no harm included) per window."""
RARE_EVENT_MEAN = 3.0
"""A harm rate whose expected count in a window is at most this is charted as a rare event."""
BETTER_LIMIT = "beyond_better_limit"
BETTER_RUN = "run_on_better_side"
BETTER_CUSUM = "cusum_on_better_side"
REPORTING_FELL = "reporting_fell"


class VerdictClass(StrEnum):
    CONCERN = "concern"
    REPORTING_CONCERN = "reporting_concern"
    IMPROVEMENT = "improvement"
    COMMON_CAUSE = "common_cause"
    WITHDRAWN = "withdrawn"

    @property
    def is_concern(self) -> bool:
        return self in (VerdictClass.CONCERN, VerdictClass.REPORTING_CONCERN)


class ChartKind(StrEnum):
    SHARE = "share"
    RATE = "rate"
    RARE_EVENT = "rare_event"
    REPORTING = "reporting"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One judged window of one measure of one unit.

    `value`, `centre`, `lower_limit` and `upper_limit` are in the measure's own reading (a
    share, harmful incidents per 1,000 activity or per window, reports per window); `count`
    and `size` are what it was judged on. `z` is signed towards worse (positive: worse than
    usual, whichever way the measure goes). `rule` and `detector` are "" for common cause."""

    org_id: str
    unit_id: str
    measure: str
    window: Window
    value: float
    count: int
    size: float
    centre: float
    lower_limit: float
    upper_limit: float | None
    z: float
    rule: str
    detector: str
    verdict: VerdictClass
    chart: ChartKind
    higher_is_better: bool
