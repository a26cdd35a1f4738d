"""The report's Making Data Count charts: one card per unit (alerts first), each with its
measures' XmR charts read the NHS England way, the legend, and the words under each chart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape

from pipeline.core.alerts import AlertStatus
from pipeline.core.board_target import MIN_POINTS
from pipeline.core.detection.measure_trace import SMALL_SAMPLE
from pipeline.core.detection.text import in_unit
from pipeline.core.spc import Assurance, PointType, XmrChart, XmrPoint
from pipeline.report import spc_charts, svg
from pipeline.report.build import ReportView, SeriesChart, UnitCharts
from pipeline.report.periods import UnitView
from pipeline.report.queries import AlertRecord
from pipeline.report.sections_learning import action_dates
from pipeline.report.text import kind_name, metric_name, plural, unit_name
from pipeline.report.verdicts import judged

Html = str


def _badges(alert: AlertRecord) -> Html:
    return (
        f'<span class="badge sev-{escape(alert.severity)}">{escape(alert.severity)}</span> '
        f'<span class="badge st-{escape(alert.status)}">{escape(alert.status)}</span>'
    )


_CARD_ALERTS = 3
# Units charted at most (those with alerts first, open and high severity first), to keep the
# file light: a national publication has a few hundred providers.
MAX_CHARTED_UNITS = 300


def _card_order(a: AlertRecord) -> tuple[bool, float]:
    return (a.status != AlertStatus.OPEN, -a.window_end.timestamp())


def mdc_charts(view: ReportView) -> Html:
    if not view.charts:
        return '<section id="charts"><h2>No unit has figures to chart yet</h2></section>'
    kind = view.data.window_kind
    cards = []
    for item in view.charts[:MAX_CHARTED_UNITS]:
        u = item.unit
        shown = sorted(u.alerts, key=_card_order)[:_CARD_ALERTS]
        alerts = "".join(
            f"<li>{_badges(a)} <strong>{escape(kind_name(a.kind))}:</strong> "
            f"{escape(a.summary)}</li>"
            for a in shown
        )
        if len(u.alerts) > len(shown):
            more = len(u.alerts) - len(shown)
            alerts += f'<li class="more">and {plural(more, "earlier alert")} in the list below</li>'

        bands = [(a.window_start, a.window_end) for a in u.alerts]
        actions = action_dates(u.alerts)
        figures = "".join(_figure(u, c, bands, actions) for c in item.charts)
        cards.append(
            f'<article class="unit-card" id="unit-{escape(u.org_id)}-{escape(u.unit_id)}">'
            f"<h3>{escape(unit_name(u.org_id, u.unit_id))}</h3>"
            f'<ul class="alerts-brief">{alerts}</ul><div class="three">{figures}</div>'
            f"{_no_target(item, kind)}</article>"
        )
    return (
        '<section id="charts" aria-labelledby="charts-h">'
        f'<h2 id="charts-h">Making Data Count charts for every unit '
        f"({plural(len(view.charts), 'unit')}, those with an alert first)</h2>"
        '<p class="lede">Statistical process control charts, read the NHS England '
        "“Making Data Count” way. Patients' ratings, harm and (where it fell) incident "
        f"reporting show the pipeline's stored verdict of every judged {kind}, the judgement the "
        "alerts make: the solid line is the unit's usual level, the dashed lines its exact "
        "limits from its own rolling baseline (rare events: exact Poisson limits, never below "
        f"zero), orange a concern, blue an improvement; the shaded {kind}s are the alert. A "
        "target is charted as published on an XmR chart, one point per reported period: a "
        "share, or a time in its unit against its standard, so a target never met still shows "
        "how far from it it was; the target on the summary is drawn from the summary's own stored "
        "points, so the two cannot disagree.</p>"
        f"{_legend()}{''.join(cards)}{_more(view)}</section>"
    )


def _no_target(item: UnitCharts, kind: str) -> Html:
    """Why a unit has no target chart, as its stored rows say (a missing chart is no fault)."""
    if any(c.measure == "target" for c in item.charts):
        return ""
    metrics = [metric_name(m) for m in item.uncharted_targets]
    if not metrics:
        why = "no target is reported for this unit."
    else:
        named = metrics[0] if len(metrics) == 1 else f"{', '.join(metrics[:-1])} and {metrics[-1]}"
        has, its = ("has", "its") if len(metrics) == 1 else ("have", "their")
        why = (
            f"{named} {has} fewer than {MIN_POINTS} returns in force since {its} latest gap, "
            f"or none in the {kind}s charted."
        )
    return f'<p class="note">No target chart: {escape(why)}</p>'


def _more(view: ReportView) -> Html:
    rest = view.charts[MAX_CHARTED_UNITS:]
    if not rest:
        return ""
    names = ", ".join(unit_name(c.unit.org_id, c.unit.unit_id) for c in rest)
    return (
        f'<p class="note">Not charted here, to keep this file light ({plural(len(rest), "unit")}'
        f" with resolved, lower-severity or no alerts; see the alert list): {escape(names)}.</p>"
    )


def _legend() -> Html:
    dot = '<svg viewBox="0 0 12 12" width="12" height="12" aria-hidden="true"><circle cx="6" '
    items = [
        f'{dot}cy="6" r="5" fill="{svg.CONCERN}"/></svg> special cause: concern',
        f'{dot}cy="6" r="5" fill="{svg.IMPROVEMENT}"/></svg> special cause: improvement',
        f'{dot}cy="6" r="4" fill="{svg.COMMON}"/></svg> common cause',
        '<span class="swatch line"></span> mean',
        '<span class="swatch dashed"></span> process limits',
        '<span class="swatch target"></span> target',
        '<span class="swatch band"></span> alert window',
        '<span class="swatch action"></span> action taken (safety team)',
    ]
    return '<p class="legend">' + "".join(f"<span>{i}</span>" for i in items) + "</p>"


_TITLES = {
    "experience": "Patients rating care good or very good",
    "safety": "Incidents causing harm",
    "reporting": "Incidents reported (every harm level, no harm included)",
}


def _figure(
    unit: UnitView,
    item: SeriesChart,
    bands: list[tuple[datetime, datetime]],
    actions: list[datetime],
) -> Html:
    chart = item.chart
    title = _TITLES.get(item.measure, item.measure)
    if item.measure == "target":
        what = "share within target" if not item.unit else f"in {item.unit}"
        title = f"{metric_name(item.metric or '')}: {what}"
    elif item.metric == "per_activity":
        title += " per 1,000 patients"

    def fmt(v: float) -> str:
        if item.percent:
            return f"{v:.0%}"
        if item.unit:
            return in_unit(v, item.unit)
        return f"{v:,.1f}" if item.metric == "per_activity" else f"{v:,.0f}"

    latest = chart.points[-1]
    chart_svg = spc_charts.xmr_chart(
        chart,
        title=f"{unit_name(unit.org_id, unit.unit_id)}: {title}",
        desc=f"{len(chart.points)} points; latest {fmt(latest.y)}{_usual(latest, fmt)}. "
        f"{_variation_words(latest.point_type, latest.direction > 0)}",
        fmt=_tick(item, chart, fmt),
        highlight=bands,
        actions=actions,
    )
    high = latest.direction > 0
    verdict = _variation_words(latest.point_type, high)
    if item.from_verdicts and not judged(latest):
        verdict = "Not judged yet: the unit is still in its learning period (grey points)."
    if chart.target is not None:
        verdict += " " + _assurance_words(chart.assurance, fmt(chart.target))
    if item.from_verdicts:
        base = (
            "The pipeline's stored verdicts, the same judgement the alerts make: the centre "
            "line is the unit's usual level and the limits its exact limits, from its own "
            "rolling baseline (windows of the learning period are not judged)."
        )
        if item.measure == "experience":
            base += (
                " Each point is coloured by the experience verdict: a concern where either "
                "share, good or poor ratings, is one."
            )
        if item.rare_event:
            base += (
                " Rare events (a few a week): exact Poisson limits on the rate, never below "
                "zero, so a week with none is not news."
            )
    else:  # a target: one point per return
        base = "One point per return; mean and limits from every point."
    if item.small:
        listed = ", ".join(f"{start:%b %y} ({n})" for start, n in item.small)
        base += (
            f" Small samples (fewer than {SMALL_SAMPLE} responses; read with care, alerts judge "
            f"them with their wider limits): {listed}."
        )
    icons = spc_charts.variation_icon(latest.point_type, high)
    if chart.target is not None:
        icons += spc_charts.assurance_icon(chart.assurance)
    direction = spc_charts.improvement_word(chart.improvement)
    fell = any(p.point_type is PointType.SPECIAL_CAUSE_CONCERN and p.y < p.mean
               for p in chart.points) if item.measure == "safety" else False  # fmt: skip
    if item.measure == "reporting":
        direction = "a fall in reporting is a warning sign, never an improvement"
    elif item.measure == "safety" and (
        fell or any(a.kind == "reporting_silence" for a in unit.alerts)
    ):
        direction = "reporting fell: a low figure here is a reporting concern, not an improvement"
        verdict = (
            "Incident reporting at this unit fell while its activity held, so fewer harmful "
            "incidents reported is a warning sign, not good news."
        )
    return (
        f'<figure class="mdc"><figcaption><span class="icons">{icons}</span>'
        f"<span><strong>{escape(title)}</strong><br><small>{direction}</small></span>"
        f'</figcaption>{chart_svg}<p class="verdict">{escape(verdict)}</p>'
        f'<p class="note">Latest {fmt(latest.y)}{_usual(latest, fmt, ";")}. {base}</p></figure>'
    )


def _usual(point: XmrPoint[datetime], fmt: Callable[[float], str], sep: str = ",") -> str:
    """', mean X' for a judged point; nothing for one of the learning period."""
    return f"{sep} mean {fmt(point.mean)}" if judged(point) else ""


def _tick(
    item: SeriesChart, chart: XmrChart[datetime], fmt: Callable[[float], str]
) -> Callable[[float], str]:
    """Axis ticks: finer percentages on a narrow share chart; a value without its unit (the
    title names it), so the label fits beside the axis."""
    if item.percent and _narrow(chart):
        return lambda v: f"{v:.1%}"
    if item.unit and item.unit != "percent":
        return lambda v: f"{v:,.0f}" if abs(v) >= 10 else f"{v:,.1f}"
    return fmt


def _narrow(chart: XmrChart[datetime]) -> bool:
    """True when whole percentages would not tell the ticks apart."""
    values = [p.y for p in chart.points]
    return max(values) - min(values) < 0.05


def _variation_words(point_type: PointType, high: bool) -> str:
    side = "high" if high else "low"
    if point_type is PointType.SPECIAL_CAUSE_CONCERN:
        return f"Special cause of concern: the latest point is unusually {side}."
    if point_type is PointType.SPECIAL_CAUSE_IMPROVEMENT:
        return f"Special cause of improvement: the latest point is unusually {side}."
    if point_type is PointType.COMMON_CAUSE:
        return "Common cause: the latest point is within normal variation."
    return f"Special cause: the latest point is unusually {side}."


def _assurance_words(assurance: Assurance | None, target: str) -> str:
    if assurance is Assurance.CONSISTENT_PASS:
        return f"The process will consistently meet the {target} target."
    if assurance is Assurance.CONSISTENT_FAIL:
        return f"The process will consistently miss the {target} target."
    return f"Hit and miss: the {target} target will sometimes be met, sometimes not."
