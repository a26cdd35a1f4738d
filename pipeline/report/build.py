"""`build_report`: read what ClickHouse holds, work out the figures, write one HTML file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pipeline.core.alerts import AlertStatus
from pipeline.core.detection.measure_trace import SMALL_SAMPLE
from pipeline.core.spc import Direction, XmrChart
from pipeline.report.board_chart import stored_target_chart
from pipeline.report.periods import (
    PeriodView,
    UnitKey,
    UnitView,
    offered_periods,
    period_bounds,
    period_view,
)
from pipeline.report.records import (
    AlertRecord,
    BoardRecord,
    ReportData,
    TargetReport,
    VerdictRecord,
    WindowFigures,
)
from pipeline.report.verdicts import (
    REPORTING,
    REPORTING_CONCERN,
    experience_verdicts,
    verdict_chart,
)

# Target charts per unit at most (an ambulance service reports six time standards).
MAX_TARGET_CHARTS = 6


@dataclass(frozen=True, slots=True)
class SeriesChart:
    """One Making Data Count chart for one unit.

    `measure` is `target` (`metric` names it), `experience` or `safety` (`metric` is
    `per_activity` when the rate is per 1,000 patients, else None: a count per window). A
    target's mean and limits come from every point shown (as the board's)."""

    measure: str
    metric: str | None
    chart: XmrChart[datetime]
    percent: bool
    unit: str = ""
    """A target's unit ("" for a share, else e.g. "minutes")."""
    small: tuple[tuple[datetime, int], ...] = ()
    """Experience windows with fewer than `SMALL_SAMPLE` responses: (start, responses)."""
    rare_event: bool = False
    """A harm rate of a few incidents a window: exact Poisson limits, never negative."""

    @property
    def from_verdicts(self) -> bool:
        """Drawn from the pipeline's stored verdicts (experience, safety, reporting)."""
        return self.measure != "target"


@dataclass(frozen=True, slots=True)
class UnitCharts:
    unit: UnitView
    charts: tuple[SeriesChart, ...]
    uncharted_targets: tuple[str, ...] = ()
    """The unit's target metrics whose stored row is withdrawn (no chart now)."""


@dataclass(frozen=True, slots=True)
class ReportView:
    data: ReportData
    periods: tuple[PeriodView, ...]  # latest first; empty without data
    first_start: datetime | None
    period_end: datetime | None
    targets_beyond: datetime | None  # the end of target returns stored after `period_end`
    charts: tuple[UnitCharts, ...]
    standing_alerts: tuple[AlertRecord, ...]
    withdrawn: int

    @property
    def units(self) -> tuple[UnitView, ...]:
        return self.periods[0].units if self.periods else ()

    @property
    def org_ids(self) -> list[str]:
        return sorted({u.org_id for u in self.units})


def build_view(data: ReportData) -> ReportView:
    # A trailing part-window (it ends after the latest event) would mislead: leave it out, and
    # the windows before the first or after the last feedback or incident (a target return can
    # reach back, and run on ahead of them): a week of targets alone judges nothing.
    reported = [w.start for w in data.windows if w.fft_responses or w.incidents]
    first, last = min(reported, default=None), max(reported, default=None)
    complete = [w for w in data.windows if data.data_end is None or w.end <= data.data_end]
    windows = [w for w in complete if first is None or last is None or first <= w.start <= last]
    beyond = [w.end for w in complete if last is not None and w.start > last]
    starts = sorted({w.start for w in windows})
    by_unit: dict[UnitKey, list[WindowFigures]] = {}
    for w in windows:
        by_unit.setdefault((w.org_id, w.unit_id), []).append(w)
    standing = tuple(a for a in data.alerts if a.status != AlertStatus.WITHDRAWN)
    verdicts: dict[UnitKey, list[VerdictRecord]] = {}
    for v in data.verdicts:
        verdicts.setdefault((v.org_id, v.unit_id), []).append(v)
    periods = offered_periods(
        [
            period_view(by_unit, starts, bounds, standing, data.window_kind, verdicts)
            for bounds in period_bounds(len(starts), data.window_kind)
        ]
    )
    alerts_by_unit: dict[UnitKey, list[AlertRecord]] = {}
    for a in standing:
        alerts_by_unit.setdefault((a.org_id, a.unit_id), []).append(a)
    reports: dict[UnitKey, list[TargetReport]] = {}
    for r in data.target_reports:
        reports.setdefault((r.org_id, r.unit_id), []).append(r)
    board = {(b.org_id, b.unit_id): b for b in data.board if b.measure == "target"}
    targets: dict[UnitKey, list[BoardRecord]] = {}
    for t in data.targets:
        targets.setdefault((t.org_id, t.unit_id), []).append(t)
    uncharted: dict[UnitKey, tuple[str, ...]] = {}
    for org, unit, metric in data.uncharted_targets:
        uncharted[(org, unit)] = (*uncharted.get((org, unit), ()), metric)
    # Every unit gets its charts: those with alerts first (open, most severe), then the rest.
    charted = sorted(
        (u for u in (periods[0].units if periods else ())),
        key=lambda u: _unit_order(alerts_by_unit.get(u.key, []), u.key),
    )
    return ReportView(
        data=data,
        periods=periods,
        first_start=starts[0] if starts else None,
        period_end=max((w.end for w in windows), default=None),
        targets_beyond=max(beyond, default=None),
        charts=tuple(
            UnitCharts(
                replace(u, alerts=tuple(alerts_by_unit.get(u.key, []))),
                tuple(
                    unit_charts(
                        by_unit[u.key],
                        reports.get(u.key, []),
                        verdicts.get(u.key, []),
                        board.get(u.key),
                        targets.get(u.key, []),
                    )
                ),
                uncharted.get(u.key, ()),
            )
            for u in charted
        ),
        standing_alerts=tuple(sorted(standing, key=_alert_order)),
        withdrawn=len(data.alerts) - len(standing),
    )


def _unit_order(alerts: Sequence[AlertRecord], key: UnitKey) -> tuple[bool, bool, int, UnitKey]:
    opened = any(a.status == AlertStatus.OPEN for a in alerts)
    severity = max((a.severity.rank for a in alerts), default=0)
    return (not alerts, not opened, -severity, key)


def _alert_order(a: AlertRecord) -> tuple[bool, int, datetime, str, str]:
    return (a.status != AlertStatus.OPEN, -a.severity.rank, a.window_start, a.org_id, a.unit_id)


def unit_charts(
    series: Sequence[WindowFigures],
    reports: Sequence[TargetReport],
    verdicts: Sequence[VerdictRecord] = (),
    board: BoardRecord | None = None,
    targets: Sequence[BoardRecord] = (),
) -> list[SeriesChart]:
    """Each of the unit's targets as the pipeline judged it (`targets`: its stored row per
    metric, one point per return in force, as published: a share, or a value in its unit such
    as minutes, against its target), and the stored verdicts of positive feedback share (each
    point of the class of its window's experience: the worse of good and poor ratings),
    harmful incidents and, where it fell, incident reporting (one point per judged window,
    coloured by its stored class).

    Every target chart is drawn from its stored row's points, types, centre and limits
    (`board_chart.stored_target_chart`), never computed here: the board's target (`board`,
    the unit's summary row) first, so chart and summary are one judgement; a metric with no
    stored row (too few returns since a gap) has no chart. `reports` give only what a row
    does not hold: a target's unit, and the order of the rest (shares, the broadest
    population first; then values)."""
    out = []
    by_metric: dict[str, list[TargetReport]] = {}
    for r in reports:
        by_metric.setdefault(r.metric, []).append(r)
    stored = {t.metric: t for t in targets if t.point_values}
    main = board.metric if board is not None and board.point_values else None
    if board is not None and main is not None:
        stored.setdefault(main, board)
    order = sorted(
        stored,
        key=lambda m: (
            m != main,
            m in by_metric and by_metric[m][-1].value is not None,
            -_population(by_metric.get(m, [])),
            m,
        ),
    )
    for metric in order[:MAX_TARGET_CHARTS]:
        mine = by_metric.get(metric, [])
        shown = mine[-1] if mine else None
        percent = shown is None or shown.value is None
        unit = shown.unit if shown is not None else ""
        chart = stored_target_chart(stored[metric])
        out.append(SeriesChart("target", metric, chart, percent, unit=unit))
    shares = [(w.start, w.positive_share) for w in series if w.positive_share is not None]
    experience = verdict_chart(
        experience_verdicts(verdicts),
        "positive_share",
        Direction.INCREASE,
        [(x, s) for x, s in shares if s is not None],
    )
    if experience is not None:
        judged = {p.x for p in experience.points}
        small = tuple(
            (w.start, w.fft_responses)
            for w in series
            if 0 < w.fft_responses < SMALL_SAMPLE and w.start in judged
        )
        out.append(SeriesChart("experience", None, experience, True, small=small))
    # A fall in reporting is never an improvement: the stored verdict of a harm window whose
    # reporting fell is a reporting concern (orange), and the chart says why.
    harm = verdict_chart(verdicts, "harmful_incident_rate", Direction.DECREASE)
    if harm is not None:
        per_activity = any(w.activity for w in series)
        rare = [v.chart for v in verdicts if v.measure == "harmful_incident_rate"][-1]
        out.append(
            SeriesChart(
                "safety", "per_activity" if per_activity else None, harm, False,
                rare_event=rare == "rare_event",
            )
        )  # fmt: skip
    if any(v.verdict == REPORTING_CONCERN for v in verdicts if v.measure in REPORTING):
        reporting = verdict_chart(verdicts, REPORTING[0], Direction.INCREASE)
        assert reporting is not None
        out.append(SeriesChart("reporting", None, reporting, False))
    return out


def _population(reports: Sequence[TargetReport]) -> int:
    return sum(r.denominator for r in reports)
