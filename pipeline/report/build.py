"""`build_report`: read what ClickHouse holds, work out the figures, write one HTML file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pipeline.core.alerts import AlertStatus
from pipeline.core.detection.measures import SMALL_SAMPLE
from pipeline.core.spc import Direction, XmrChart, xmr
from pipeline.report.periods import (
    PeriodView,
    UnitKey,
    UnitView,
    period_bounds,
    period_view,
)
from pipeline.report.records import AlertRecord, ReportData, TargetReport, WindowFigures

# Making Data Count fixes limits on a baseline only with at least this many points.
MIN_FIX_POINTS = 12
# Target charts per unit at most (an ambulance service reports six time standards).
MAX_TARGET_CHARTS = 6


@dataclass(frozen=True, slots=True)
class SeriesChart:
    """One Making Data Count chart for one unit.

    `measure` is `target` (`metric` names it), `experience` or `safety` (`metric` is
    `per_activity` when the rate is per 1,000 patients, else None: a count per window).
    `baseline_points` is how many points the mean and limits were fixed on (None: all)."""

    measure: str
    metric: str | None
    chart: XmrChart[datetime]
    percent: bool
    baseline_points: int | None
    unit: str = ""
    """A target's unit ("" for a share, else e.g. "minutes")."""
    small: tuple[tuple[datetime, int], ...] = ()
    """Experience windows with fewer than `SMALL_SAMPLE` responses: (start, responses)."""


REPORTING_SILENCE = "reporting_silence"


@dataclass(frozen=True, slots=True)
class UnitCharts:
    unit: UnitView
    charts: tuple[SeriesChart, ...]


@dataclass(frozen=True, slots=True)
class ReportView:
    data: ReportData
    periods: tuple[PeriodView, ...]  # latest first; empty without data
    first_start: datetime | None
    period_end: datetime | None
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
    # the windows before any feedback or incident was reported (a target return can reach back).
    reported = [w.start for w in data.windows if w.fft_responses or w.incidents]
    first = min(reported, default=None)
    windows = [
        w
        for w in data.windows
        if (data.data_end is None or w.end <= data.data_end) and (first is None or w.start >= first)
    ]
    starts = sorted({w.start for w in windows})
    by_unit: dict[UnitKey, list[WindowFigures]] = {}
    for w in windows:
        by_unit.setdefault((w.org_id, w.unit_id), []).append(w)
    standing = tuple(a for a in data.alerts if a.status != AlertStatus.WITHDRAWN)
    periods = tuple(
        period_view(by_unit, starts, bounds, standing, data.window_kind)
        for bounds in period_bounds(len(starts), data.window_kind)
    )
    alerts_by_unit: dict[UnitKey, list[AlertRecord]] = {}
    for a in standing:
        alerts_by_unit.setdefault((a.org_id, a.unit_id), []).append(a)
    reports: dict[UnitKey, list[TargetReport]] = {}
    for r in data.target_reports:
        reports.setdefault((r.org_id, r.unit_id), []).append(r)
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
        charts=tuple(
            UnitCharts(
                replace(u, alerts=tuple(alerts_by_unit.get(u.key, []))),
                tuple(
                    unit_charts(
                        by_unit[u.key], reports.get(u.key, []), alerts_by_unit.get(u.key, [])
                    )
                ),
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
    alerts: Sequence[AlertRecord],
) -> list[SeriesChart]:
    """Attainment of each of the unit's targets (one point per reported period, as published:
    a share, or a value in its unit such as minutes, against its target), positive feedback
    share and harmful incidents (one point per window; incidents only where any were reported).
    """
    first_alert = min((a.window_start for a in alerts), default=None)
    out = []
    by_metric: dict[str, list[TargetReport]] = {}
    for r in reports:
        by_metric.setdefault(r.metric, []).append(r)
    # shares first, the broadest population first; then values by name
    order = sorted(
        by_metric, key=lambda m: (by_metric[m][-1].value is not None, -_population(by_metric[m]), m)
    )
    for metric in order[:MAX_TARGET_CHARTS]:
        mine = by_metric[metric]
        latest = mine[-1]
        direction = Direction.INCREASE if latest.higher_is_better else Direction.DECREASE
        chart = _chart(
            "target",
            metric,
            [r.period_start for r in mine],
            [r.attainment for r in mine],
            direction,
            latest.target,
            first_alert,
            percent=latest.value is None,
        )
        out.append(replace(chart, unit=latest.unit))
    shares = [(w.start, w.positive_share) for w in series if w.positive_share is not None]
    if shares:
        small = tuple(
            (w.start, w.fft_responses) for w in series if 0 < w.fft_responses < SMALL_SAMPLE
        )
        out.append(
            replace(
                _chart(
                    "experience",
                    None,
                    [x for x, _ in shares],
                    [s for _, s in shares if s is not None],
                    Direction.INCREASE,
                    None,
                    first_alert,
                    percent=True,
                ),
                small=small,
            )
        )
    if any(w.incidents for w in series):
        exposure = _exposure(series)
        harm = [float(w.harmful_incidents) for w in series]
        # A fall in reporting is never an improvement: where the unit's reporting fell, its
        # harm chart colours no low point blue (neither way is better), and says why.
        silent = any(a.kind == REPORTING_SILENCE for a in alerts)
        if exposure is not None:  # per 1,000 patients, as detection judges it
            harm = [1000.0 * h / e for h, e in zip(harm, exposure, strict=True)]
        out.append(
            _chart(
                "safety",
                "per_activity" if exposure else None,
                [w.start for w in series],
                harm,
                Direction.NEUTRAL if silent else Direction.DECREASE,
                None,
                first_alert,
                percent=False,
            )
        )
    return out


def _population(reports: Sequence[TargetReport]) -> int:
    return sum(r.denominator for r in reports)


def _exposure(series: Sequence[WindowFigures]) -> list[float] | None:
    """Activity per window, the latest known carried forward (target feeds lag), or None."""
    known = [w.activity for w in series if w.activity]
    if not known:
        return None
    current = known[0]
    out = []
    for w in series:
        current = w.activity or current
        out.append(current)
    return out


def _chart(
    measure: str,
    metric: str | None,
    x: list[datetime],
    values: list[float],
    improvement: Direction,
    target: float | None,
    first_alert: datetime | None,
    *,
    percent: bool,
) -> SeriesChart:
    before = sum(1 for moment in x if first_alert is not None and moment < first_alert)
    fix = before if MIN_FIX_POINTS <= before < len(values) else None
    chart = xmr(values, improvement=improvement, x=x, target=target, fix_after_n_points=fix)
    return SeriesChart(measure, metric, chart, percent, fix)
