"""The dark-spots section: each organisation's units against their usual standing."""

from __future__ import annotations

from html import escape

from pipeline.report import charts
from pipeline.report.build import ReportView
from pipeline.report.periods import OrgView, PeriodView
from pipeline.report.sections import per_period, span
from pipeline.report.text import margin_text, metric_name, pct, plural, pts, unit_name

Html = str


def dark_spots(view: ReportView) -> Html:
    if not view.periods:
        return ""
    return f'<section id="dark-spots">{per_period(view, _dark_spots)}</section>'


def _dark_spots(p: PeriodView) -> Html:
    spots = p.dark_spots
    if spots:
        heading = (
            f"{plural(len(spots), 'dark spot')} inside organisations whose overall figures look "
            "fine: " + ", ".join(unit_name(o.org_id, u.unit_id) for o, u in spots)
        )
    else:
        heading = "No dark spots hidden inside organisations whose overall figures look fine"
    # Whether a unit is a dark spot is the pipeline's judgement (`masked_dark_spot`: the unit
    # stood out from the rest while the organisation's own chart had not signalled), never the
    # report's: the standings below are figures.
    return (
        f"<h2>{escape(heading)}</h2>"
        '<p class="lede">An organisation can look fine overall while one of its units is not: '
        "the rest of the organisation masks it. Units differ for good reasons (an emergency "
        "department is rarely rated like a maternity ward), so each unit is compared with its "
        "<em>usual</em> standing against the rest of its organisation. The dot is the share of "
        "patients rating care good; the ring is where the unit's usual standing would put it; "
        "the black line is the whole organisation. Orange: a unit the pipeline found masked "
        "by its organisation (a dark-spot alert in these "
        f"{p.window_kind}s: it stood out from the rest while the organisation's own figure "
        "stayed within its usual range). The report judges no unit itself. "
        f"Figures for {escape(span(p))}.</p>"
        f'<div class="orgs">{"".join(_org_card(o, p.window_kind) for o in p.orgs)}</div>'
    )


def _org_card(org: OrgView, window_kind: str) -> Html:
    whole = org.recent.share
    if whole is None and org.baseline.share is None:
        feedback = "no patient feedback"
    else:
        feedback = f"{pct(whole)} of patients rate care good, {pct(org.baseline.share)} before"
    names = ", ".join(u.unit_id for u in org.dark_spots)
    if names:
        verb = "was" if len(org.dark_spots) == 1 else "were"
        tail = f"; {names} {verb} found masked by the rest"
    else:
        tail = "; no unit found masked by the rest"
    sentence = f"{org.org_id} overall: {feedback}{tail}"
    if not any(p.responses or p.incidents for p in (org.recent, org.baseline)):
        # A dark spot is judged on feedback or harm: with neither, "none found" would be a
        # finding made of nothing.
        sentence = (
            f"{org.org_id}: targets only, no patient feedback or incident reports in these "
            f"{window_kind}s or the ones before, so no unit is judged against the rest"
        )
    rows = []
    for u in sorted(org.units, key=lambda u: u.unit_id):
        if u.recent.share is None:
            continue
        found = org.standings.get(u.key)
        note = pct(u.recent.share) + (f" ({pts(found.slipped)} vs usual)" if found else "")
        detail = f"{unit_name(u.org_id, u.unit_id)}: {pct(u.recent.share)} rate care good"
        if found:
            detail += (
                f"; {pts(found.gap)} against the rest of {org.org_id}, usually "
                f"{pts(found.usual_gap)} (expected {pct(found.expected)})"
            )
        expected = found.expected if found else None
        flagged = u in org.dark_spots
        rows.append(charts.StandingRow(u.unit_id, u.recent.share, expected, flagged, note, detail))
    chart = (
        charts.org_dumbbell(
            rows,
            whole,
            title=f"{org.org_id}: each unit against its usual standing",
            desc=sentence,
            fmt=pct,
        )
        if whole is not None and rows
        else ""
    )
    units = org.recent.units  # a value target's margin is in its own unit, not in points
    targets = "".join(
        f"<li>{escape(metric_name(m))}: {margin_text(v, units.get(m, ''))} vs target</li>"
        for m, v in sorted(org.recent.margins().items())
    )
    return (
        f'<article class="org{" org-spot" if org.dark_spots else ""}">'
        f"<h3>{escape(sentence)}</h3>{chart}"
        f'<ul class="inline">{targets}</ul></article>'
    )
