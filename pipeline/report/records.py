"""What the report reads from ClickHouse, as plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.core.alerts import AlertKind, AlertStatus, Severity
from pipeline.core.detection.bright import BrightSpot
from pipeline.core.target_reports import TargetAttainment


@dataclass(frozen=True, slots=True)
class TargetReport:
    """One target metric report for one period, as published (the latest revision)."""

    org_id: str
    unit_id: str
    metric: str
    period_start: datetime
    period_end: datetime
    numerator: int
    denominator: int
    target: float
    higher_is_better: bool
    value: float | None = None
    """The figure of a report in the value form (then `unit` names its unit)."""
    unit: str = ""

    @property
    def attainment(self) -> float:
        """The share, or the value of a report in the value form."""
        if self.value is not None:
            return self.value
        return self.numerator / self.denominator if self.denominator else 0.0


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """What one unit did in one window (a row of `unit_windows`)."""

    org_id: str
    unit_id: str
    start: datetime
    end: datetime
    fft_responses: int
    fft_positive: int
    fft_negative: int
    incidents: int
    harmful_incidents: int
    activity: float | None
    targets: tuple[TargetAttainment, ...]

    @property
    def positive_share(self) -> float | None:
        return self.fft_positive / self.fft_responses if self.fft_responses else None


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """What a safety team said about an alert (an `alert_response` event).

    Its note is never read: free text may name a patient, so the report shows only that there
    was one and how long it was.
    """

    alert_id: str
    org_id: str
    unit_id: str
    response: str
    responder_role: str
    note_chars: int
    occurred_at: datetime
    owner: str = ""
    due_by: datetime | None = None
    event_id: str = ""


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """The latest version of an alert, with when it was first raised and the team's responses."""

    alert_id: str
    kind: AlertKind
    org_id: str
    unit_id: str
    window_start: datetime
    window_end: datetime
    severity: Severity
    status: AlertStatus
    summary: str
    evidence: dict[str, Any]
    detected_at: datetime
    first_detected_at: datetime
    versions: int
    responses: tuple[ResponseRecord, ...]


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Distinct events per type, rejections by reason, and events that arrived late."""

    events: dict[str, int]
    rejected_by_reason: dict[str, int]
    late_events: int
    # Of the late events, target returns: reported after the period they cover, so a return
    # for a period longer than a window is late for its earlier windows wherever it is read.
    late_target_returns: int = 0

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())


@dataclass(frozen=True, slots=True)
class BoardRecord:
    """One unit and measure of the Making Data Count summary, as the pipeline stored it."""

    org_id: str
    unit_id: str
    measure: str
    metric: str
    window_start: datetime
    window_end: datetime
    value: float
    sample_size: float
    mean: float
    variation: str
    assurance: str | None
    target: float | None
    points: int
    improvement: str = ""
    """`spc.Direction` value: which way is better."""
    point_starts: tuple[datetime, ...] = ()
    """The target row's chart as stored (empty for the other measures): per return in force,
    its period start, figure as published and point type; centre and limits are `mean`,
    `lpl` and `upl`."""
    point_values: tuple[float, ...] = ()
    point_types: tuple[str, ...] = ()
    lpl: float | None = None
    upl: float | None = None


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """The pipeline's verdict on one unit, measure and window, as stored (`verdicts`)."""

    org_id: str
    unit_id: str
    measure: str
    window_start: datetime
    value: float
    centre: float
    lower_limit: float
    upper_limit: float | None
    z: float
    rule: str
    verdict: str
    chart: str


@dataclass(frozen=True, slots=True)
class ReportData:
    window_kind: str
    windows: tuple[WindowFigures, ...]
    target_reports: tuple[TargetReport, ...]
    alerts: tuple[AlertRecord, ...]
    counts: StoreCounts
    data_end: datetime | None
    """The latest event time of any incident, feedback or target report."""
    unmatched_responses: tuple[ResponseRecord, ...] = ()
    """Responses naming no alert raised for their organisation and unit."""
    board: tuple[BoardRecord, ...] = ()
    """The Making Data Count summary, latest window of every unit and measure."""
    targets: tuple[BoardRecord, ...] = ()
    """Every target metric of every unit as the pipeline judged it (`mdc_targets`; the main
    one's row is the board's target row), withdrawn rows left out."""
    uncharted_targets: tuple[tuple[str, str, str], ...] = ()
    """(org, unit, metric) of every target metric whose stored row is withdrawn: the unit
    reported it, and it has no chart now (`mdc_targets`)."""
    bright: tuple[BrightSpot, ...] = ()
    """The latest bright spot of every unit and measure that has one (never alerts)."""
    verdicts: tuple[VerdictRecord, ...] = ()
    """The stored verdict of every judged unit, measure and window (withdrawn left out)."""
