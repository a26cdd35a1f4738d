"""The report's first sections as HTML fragments, each headed by what it found: the period
picker, the key findings, and targets against experience and safety for every unit.

Everything here depends on the period compared, so each is rendered once per period; all but
the latest are `hidden` until the reader picks another period (the page works without script).
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from pipeline.core.alerts import AlertStatus, Severity
from pipeline.report import charts
from pipeline.report.build import ReportView
from pipeline.report.figures import harm_change
from pipeline.report.periods import PeriodView, UnitView
from pipeline.report.sections_learning import answered_alerts
from pipeline.report.text import (
    day,
    margin_text,
    metric_name,
    pct,
    plural,
    pts,
    pts_tick,
    unit_name,
)
from pipeline.report.verdicts import CONCERN, REPORTING_CONCERN

Html = str


def span(p: PeriodView) -> str:
    return f"the {p.windows} {p.window_kind}s from {day(p.start)} to {day(p.end, end=True)}"


def per_period(view: ReportView, render: Callable[[PeriodView], Html]) -> Html:
    return "".join(
        f'<div class="period" data-period="{i}"{" hidden" if i else ""}>{render(p)}</div>'
        for i, p in enumerate(view.periods)
    )


def period_picker(view: ReportView) -> Html:
    """Buttons to compare units over an earlier period (shown only when there is one)."""
    if len(view.periods) < 2:
        return ""
    buttons = []
    for i, p in enumerate(view.periods):
        name = f"Latest {p.windows} {p.window_kind}s" if i == 0 else f"{day(p.start)} to"
        found = len(p.missing_the_point) + len(p.dark_spots)
        buttons.append(
            f'<button type="button" data-period="{i}" aria-pressed="{"true" if i == 0 else "false"}'
            f'"><strong>{escape(name)}</strong>{"" if i == 0 else " " + day(p.end, end=True)}'
            f"<small>{plural(found, 'finding')}</small></button>"
        )
    return (
        '<nav class="periods" aria-label="Period compared"><span>Compare units over</span>'
        f"{''.join(buttons)}</nav>"
    )


def findings(view: ReportView) -> Html:
    standing = view.standing_alerts
    open_ = [a for a in standing if a.status == AlertStatus.OPEN]
    high = sum(a.severity == Severity.HIGH for a in open_)
    answered = len(answered_alerts(standing))  # an answer to one covers its family
    alert_cards = [
        (
            len(open_),
            f"{'alert' if len(open_) == 1 else 'alerts'} open ({high} high severity); "
            f"{plural(sum(a.status == 'resolved' for a in standing), 'alert')} resolved",
            high > 0,
        ),
        (
            answered,
            f"of {plural(len(standing), 'alert')} "
            f"{'has' if answered == 1 else 'have'} a response from the safety team",
            False,
        ),
    ]

    def cards(p: PeriodView | None) -> Html:
        missing = p.missing_the_point if p else []
        spots = p.dark_spots if p else []
        weeks = span(p) if p else "the data"
        items = [
            (
                len(missing),
                f"{'unit' if len(missing) == 1 else 'units'} hitting the target, missing the "
                f"point in {weeks}: the pipeline's alerts of a target met while patients' "
                "experience or safety got worse",
                bool(missing),
            ),
            (
                len(spots),
                f"dark {'spot' if len(spots) == 1 else 'spots'} inside organisations whose "
                "overall figures look fine",
                bool(spots),
            ),
            *alert_cards,
        ]
        return (
            '<div class="findings">'
            + "".join(
                f'<div class="finding{" finding-concern" if concern else ""}"><span class="num">'
                f"{n:,}</span><span>{escape(words)}</span></div>"
                for n, words, concern in items
            )
            + "</div>"
        )

    body = per_period(view, cards) if view.periods else cards(None)
    return f'<section id="findings"><h2>What this report found</h2>{body}</section>'


def divergence(view: ReportView) -> Html:
    if not view.periods:
        return '<section id="divergence"><h2>No unit has figures to compare yet</h2></section>'
    return f'<section id="divergence">{per_period(view, _divergence)}</section>'


def _divergence(p: PeriodView) -> Html:
    charted = [u for u in p.units if u.worst_margin is not None]
    label_all = len(charted) <= 30  # others are labelled where a label fits
    exp_points, harm_points = [], []
    for u in charted:
        metric, margin = u.worst_margin or ("", 0.0)
        _, in_its_unit, unit = u.worst_target or ("", 0.0, "")
        name = unit_name(u.org_id, u.unit_id)
        weeks = f"met in {u.recent.windows_met} of {u.recent.windows_with_targets} {p.window_kind}s"
        target_text = f"{metric_name(metric)} {margin_text(in_its_unit, unit)} vs target ({weeks})"
        change = u.share_change
        if change is not None:
            tone = _tone(u, "experience", u.experience_class)
            detail = (
                f"{name}: {target_text}; positive feedback {pct(u.baseline.share)} before, "
                f"{pct(u.recent.share)} now ({pts(change)})"
            )
            exp_points.append(
                charts.ScatterPoint(margin, change, name, tone, detail, labelled=label_all)
            )
        harm = harm_change(u.recent, u.baseline)
        if harm is not None:
            tone = _tone(u, "safety", u.safety_class)
            detail = f"{name}: {target_text}; harmful incidents {harm:+.0%} vs before"
            if u.safety_class == REPORTING_CONCERN:  # placed among "fewer harmful incidents"
                detail += ", but incident reporting fell: a warning sign, not an improvement"
            harm_points.append(
                charts.ScatterPoint(margin, -harm, name, tone, detail, labelled=label_all)
            )
    x_label = f"Attainment minus target (worst target, worst {p.window_kind})"
    experience = charts.quadrant_scatter(
        exp_points,
        title="Target attainment against change in patient experience, every unit",
        desc="Each dot is a unit. Right of centre: target met. Below centre: fewer patients rate "
        f"care good than in the unit's own earlier {p.window_kind}s.",
        x_label=x_label,
        y_label="Positive feedback vs own baseline",
        quadrants=(
            "Target missed,\nexperience better",
            "Target met,\nexperience better",
            "Target missed,\nexperience worse",
            "Hitting the target,\nmissing the point",
        ),
        fmt_x=pts_tick,
        fmt_y=pts_tick,
    )
    safety = charts.quadrant_scatter(
        harm_points,
        title="Target attainment against change in harmful incidents, every unit",
        desc="Each dot is a unit. Right of centre: target met. Below centre: more incidents "
        f"causing harm than in the unit's own earlier {p.window_kind}s.",
        x_label=x_label,
        y_label="Harmful incidents vs own baseline (more ↓)",
        quadrants=(
            "Target missed,\nfewer harmful incidents",
            "Target met,\nfewer harmful incidents",
            "Target missed,\nmore harmful incidents",
            "Target met,\nmore harmful incidents",
        ),
        fmt_x=pts_tick,
        fmt_y=lambda v: "0" if abs(v) < 1e-9 else f"{-v:+.0%}",
    )
    missing = p.missing_the_point
    if missing:
        heading = (
            f"{plural(len(missing), 'unit')} hit {'its' if len(missing) == 1 else 'their'} "
            "targets while patients' experience or safety got worse: "
            + ", ".join(unit_name(u.org_id, u.unit_id) for u in missing)
        )
    else:
        heading = (
            "No unit hit its targets while patients' experience or safety got worse (no "
            "'hitting the target, missing the point' alert in these weeks)"
        )
    silent = [unit_name(u.org_id, u.unit_id) for u in p.units if not u.recent.windows]
    no_target = [unit_name(u.org_id, u.unit_id) for u in p.units if u.worst_margin is None]
    no_target = [name for name in no_target if name not in silent]
    # A unit with a target but nothing to compare on a chart is named, never silently left off
    # (a trust that sends only target returns would otherwise see two empty charts).
    no_feedback = [unit_name(u.org_id, u.unit_id) for u in charted if u.share_change is None]
    no_harm = [
        unit_name(u.org_id, u.unit_id) for u in charted if harm_change(u.recent, u.baseline) is None
    ]
    compared = f"in these {p.window_kind}s and the {p.baseline_windows} before"
    note = "".join(
        f'<p class="note">{escape(why)}: {escape(", ".join(names))}</p>'
        for why, names in (
            (f"Not on the charts (no data in these {p.window_kind}s)", silent),
            ("Not on the charts (no target reported)", no_target),
            (f"Not on the experience chart (no patient feedback to compare {compared})",
             no_feedback),
            (f"Not on the safety chart (no harmful incidents to compare {compared})", no_harm),
        )
        if names
    )  # fmt: skip
    return (
        f"<h2>{escape(heading)}</h2>"
        f'<p class="lede">Every unit over {escape(span(p))}, compared with its own '
        f"{p.baseline_windows} {p.window_kind}s before. Right of the centre line a unit meets its "
        f"targets in every {p.window_kind} of the period (its worst target in its worst "
        f"{p.window_kind} is shown); below it, things got worse. The shaded corner is "
        "<strong>hitting the target, missing the point</strong>; the units named above are "
        "those the pipeline alerted on for it, judged week by week, so one that missed another "
        f"target in other {p.window_kind}s sits left of the corner all the same. Colours are "
        "the pipeline's "
        "stored verdicts, the judgement the alerts make, never the report's own: filled orange, "
        f"a special cause of concern in these {p.window_kind}s with an alert about it; orange "
        "ring, a concern without an alert (a target was missed that week) or, for harm, a fall "
        "in reporting (a reporting concern, never an improvement). "
        "A time target (minutes) is placed by how far it is from its standard, as a share of "
        "the standard. "
        + (
            "Targets mostly come as monthly returns, so a week takes its month's figure. "
            if p.window_kind == "week"
            else ""
        )
        + "Hover over a dot for its figures.</p>"
        f'<div class="two"><figure>{experience}<figcaption>Patient experience: share of '
        "Friends and Family Test responses rating care good or very good.</figcaption></figure>"
        f"<figure>{safety}<figcaption>Safety: incidents causing at least low harm, per 1,000 "
        "patients where activity is reported.</figcaption></figure></div>"
        f"{note}{_unit_table(p)}"
    )


def _tone(unit: UnitView, measure: str, verdict: str | None) -> str:
    """From the stored verdicts of the period: filled orange, a concern with an alert about
    this measure in these weeks; a ring, a concern without one (e.g. while a target was
    missed) or a reporting concern; else grey."""
    if verdict == CONCERN and unit.alerts_about(measure):
        return "alert"
    return "flag" if verdict in (CONCERN, REPORTING_CONCERN) else "plain"


def _unit_table(p: PeriodView) -> Html:
    rows = []
    for u in p.units:
        worst = u.worst_margin
        shown = u.worst_target
        harm = harm_change(u.recent, u.baseline)
        # A unit that sent nothing in these weeks has no figures, not a harm rate of 0; nor
        # has one that never reported an incident, now or before (no reports is not no harm).
        reports = u.recent.incidents or u.baseline.incidents
        weekly = u.recent.harmful / u.recent.windows if u.recent.windows and reports else None
        flags = ' class="flagged"' if u.hitting_target_missing_point else ""
        target = (
            f"{escape(margin_text(shown[1], shown[2]))} {escape(metric_name(shown[0]))}; "
            f"all met in {u.recent.windows_met} of {u.recent.windows_with_targets}"
            if shown
            else "no target"
            if u.recent.windows
            else f"no data in these {p.window_kind}s"
        )
        rows.append(
            f"<tr{flags}><td>{escape(unit_name(u.org_id, u.unit_id))}</td>"
            + _cell(worst[1] if worst else None, target)
            + _cell(u.baseline.share, pct(u.baseline.share))
            + _cell(u.recent.share, pct(u.recent.share))
            + _cell(u.share_change, pts(u.share_change))
            + _cell(weekly, "–" if weekly is None else f"{weekly:.1f} a {p.window_kind}")
            + _cell(harm, "–" if harm is None else f"{harm:+.0%}{_reporting_fell(u)}")
            + f"<td>{len(u.alerts_of())}</td></tr>"
        )
    head = "".join(
        f'<th scope="col" data-sort>{h}</th>'
        for h in (
            "Unit",
            f"Worst target, worst {p.window_kind}; {p.window_kind}s all met",
            "Positive before",
            "Positive now",
            "Change",
            "Harmful incidents now",
            "Change",
            "Alerts",
        )
    )
    return (
        '<details class="units"><summary>Every unit in figures (click a heading to sort)'
        f'</summary><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></details>"
    )


def _reporting_fell(unit: UnitView) -> str:
    """A harm figure of a period whose reporting fell is no improvement: it says so."""
    return " (incident reporting fell)" if unit.safety_class == REPORTING_CONCERN else ""


def _cell(sort: float | None, text: str) -> Html:
    key = "" if sort is None else f"{sort:.6f}"
    return f'<td data-sort="{key}">{text}</td>'
