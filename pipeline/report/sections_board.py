"""The board's first look: a Making Data Count summary table of every unit and measure.

Reads the summary the pipeline stored (pipeline.core.board: the latest closed window of each
unit's XmR chart, its variation and, against a target, its assurance) and draws the icons; no
statistics here.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from pipeline.core.board_row import NOT_JUDGED
from pipeline.core.spc import Assurance, PointType
from pipeline.report import spc_charts
from pipeline.report.build import ReportView
from pipeline.report.records import BoardRecord
from pipeline.report.text import day, metric_name, plural, unit_name

Html = str
_MEASURES = ("experience", "safety", "target")
_VARIATION_WORDS = {
    "common_cause": "common cause",
    "special_cause_concern": "special cause: concern",
    "special_cause_improvement": "special cause: improvement",
    NOT_JUDGED: "not judged yet",
}
_ASSURANCE_WORDS = {
    "consistent_pass": "will consistently meet the target",
    "consistent_fail": "will consistently miss the target",
    "inconsistent": "hit and miss",
}


def board_summary(view: ReportView) -> Html:
    rows = view.data.board
    if not rows:
        return ""
    units: dict[tuple[str, str], dict[str, BoardRecord]] = {}
    for r in rows:
        units.setdefault((r.org_id, r.unit_id), {})[r.measure] = r
    latest = max(r.window_end for r in rows)
    concerns = [r for r in rows if r.variation == "special_cause_concern"]
    concern = sum(r.window_end >= latest for r in concerns)
    older = len(concerns) - concern  # a unit that stopped sending is not a concern "now"
    body = "".join(
        f'<tr><th scope="row">{escape(unit_name(*key))}</th>'
        + "".join(_cell(measures.get(m), latest, view.data.window_kind) for m in _MEASURES)
        + "</tr>"
        for key, measures in sorted(units.items())
    )
    return (
        '<section id="board" aria-labelledby="board-h">'
        f'<h2 id="board-h">Making Data Count summary: {plural(concern, "measure")} showing a '
        f"special cause of concern in the latest {escape(view.data.window_kind)}"
        + (f" ({older:,} more at a unit whose latest figure is older)" if older else "")
        + "</h2>"
        '<p class="lede">Each unit\'s latest complete window (up to '
        f"{day(latest, end=True)}): the variation icon (grey common cause, orange concern, "
        "blue improvement; H or L for the side; for patients' ratings and harm, the pipeline's "
        "stored verdict, the judgement the alerts make, and an empty grey circle, not judged "
        "yet, in the unit's learning period, as on its charts; a fall in harm while reporting "
        "fell is a concern) and, where there is a target, "
        "the assurance icon (P consistently passes, F consistently fails, grey hit and miss), "
        "with the latest figure and the sample it rests on (n); a figure from an earlier "
        "window says which (latest: …).</p>"
        '<table class="board"><thead><tr><th scope="col">Unit</th>'
        '<th scope="col">Patients rating care good</th>'
        '<th scope="col">Harmful incidents</th><th scope="col">Main target</th></tr></thead>'
        f"<tbody>{body}</tbody></table></section>"
    )


def _cell(r: BoardRecord | None, latest: datetime, window_kind: str) -> Html:
    """One unit and measure; a window older than the table's latest is named, so a unit that
    stopped sending data is not read as current."""
    if r is None:
        return '<td class="none">–</td>'
    if r.variation == NOT_JUDGED:
        icons = spc_charts.not_judged_icon()
    else:
        icons = spc_charts.variation_icon(PointType(r.variation), r.value > r.mean)
    words = _VARIATION_WORDS.get(r.variation, r.variation.replace("_", " "))
    if r.measure == "safety" and r.variation == "special_cause_concern" and r.value < r.mean:
        words += " (incident reporting fell)"  # a low harm rate is a concern for no other reason
    if r.target is not None:
        assurance = Assurance(r.assurance) if r.assurance else None
        icons += spc_charts.assurance_icon(assurance)
        words += "; " + _ASSURANCE_WORDS.get(r.assurance or "", "no assurance")
    if r.measure == "safety":
        per = " per 1,000 patients" if r.metric == "per_1000" else ""
        figure = f"{r.value:,.1f}{per}"
        n = f"n = {r.sample_size:,.0f} {'patients' if r.metric == 'per_1000' else 'incidents'}"
    elif r.measure == "target":
        figure = f"{metric_name(r.metric)} {r.value:.0%} (target {r.target or 0:.0%})"
        n = f"n = {r.sample_size:,.0f}"
    else:
        figure = f"{r.value:.0%}"
        n = f"n = {plural(round(r.sample_size), 'response')}"
    if r.window_end < latest:
        when = (
            f"{r.window_start:%b %Y}"
            if window_kind == "month"
            else f"week of {day(r.window_start)}"
        )
        n = f"latest: {when}; {n}"
    return (
        f'<td class="mdc-cell" data-variation="{escape(r.variation)}">'
        f'<span class="icons" title="{escape(words)}">{icons}</span> '
        f"{escape(figure)}<br><small>{escape(n)}; {escape(words)}</small></td>"
    )
