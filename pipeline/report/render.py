"""One self-contained HTML file: inline CSS, inline SVG and a little vanilla JavaScript.

The page opens offline and fetches nothing. Headings say the finding, not the topic; every chart
has words next to it for anyone who does not read charts (or colours).
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from importlib import resources

from pipeline.report import (
    sections,
    sections_alerts,
    sections_board,
    sections_bright,
    sections_charts,
    sections_learning,
    sections_orgs,
)
from pipeline.report.build import ReportView
from pipeline.report.text import day, plural

Html = str


def _asset(name: str) -> str:
    return resources.files("pipeline.report").joinpath(name).read_text(encoding="utf-8")


def render_report(view: ReportView, generated_at: datetime | None = None) -> str:
    """The whole report as one HTML document."""
    generated = (generated_at or datetime.now(UTC)).astimezone(UTC)
    body = [
        _header(view, generated),
        '<main class="wrap">',
        sections_board.board_summary(view),
        sections.period_picker(view),
        sections.findings(view),
        sections.divergence(view),
        sections_orgs.dark_spots(view),
        sections_bright.bright_spots(view),
        sections_charts.mdc_charts(view),
        sections_alerts.alert_list(view),
        sections_learning.learning_loop(view),
        sections_alerts.method(view),
        "</main>",
        f'<footer class="wrap">Generated {generated:%d %B %Y %H:%M} UTC by the quality pipeline. '
        "Synthetic or real, every figure comes from the pipeline's ClickHouse tables.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{escape(_title(view))}</title>\n<style>\n{_asset('report.css')}</style>\n"
        "</head>\n<body>\n" + "\n".join(body) + f"\n<script>\n{_asset('report.js')}</script>\n"
        "</body>\n</html>\n"
    )


def _title(view: ReportView) -> str:
    ids = view.org_ids
    orgs = ", ".join(ids[:4]) + ("…" if len(ids) > 4 else "")
    return f"Hitting the target, missing the point? Quality report{' for ' + orgs if orgs else ''}"


def _header(view: ReportView, generated: datetime) -> Html:
    kind = view.data.window_kind
    end = view.data.data_end
    if (view.first_start is None or view.period_end is None) and view.data.windows and end:
        period = f"No complete {kind} stored yet (the data end on {day(end)})"
    elif view.first_start is None or view.period_end is None:
        period = "No unit windows stored yet"
    elif view.periods:
        # What the report compares, and apart from it how far back the store reaches: one
        # stray old event made "1 Jan 1990 to 29 Nov 2026" read as 36 years of figures.
        p = view.periods[0]
        period = (
            f"{kind.capitalize()}ly figures: {sections.span(p)}, against the {p.baseline_windows} "
            f"{kind}s before; oldest stored figure {day(view.first_start)}"
        )
    else:
        period = f"{day(view.first_start)} to {day(view.period_end, end=True)} ({kind}ly figures)"
    if view.targets_beyond is not None and view.period_end is not None:
        period += (
            f"; target returns run on to {day(view.targets_beyond, end=True)} with no feedback "
            "or incidents beside them yet, so those weeks are not judged here"
        )
    units = plural(len(view.units), "unit")
    orgs = plural(len(view.org_ids), "organisation")
    return (
        '<header class="top"><div class="wrap">'
        '<p class="kicker">Quality and safety report</p>'
        "<h1>Hitting the target, missing the point?</h1>"
        # the question the report asks of these units, not a finding about them
        f'<p class="sub">For {units} in {orgs}: where are waiting-time targets met while '
        "patients' experience or safety gets worse?</p>"
        f'<p class="meta"><span>{escape(period)}</span>'
        f"<span>Generated {generated:%d %b %Y %H:%M} UTC</span></p>"
        "</div></header>"
    )
