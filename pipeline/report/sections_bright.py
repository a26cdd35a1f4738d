"""Bright spots: units better than their own baseline and than the rest of their organisation.

Reads what the pipeline stored (`bright_spots`, computed once by pipeline.core.detection.bright)
and lists each with its evidence: the measure, its figure against its usual level and against
its peers over the flagged windows, since when, and the detector. Figures only: no free text.
These are places to learn from, never alerts; no statistics here.
"""

from __future__ import annotations

from html import escape

from pipeline.core.detection.bright import ONGOING, BrightSpot
from pipeline.report.build import ReportView
from pipeline.report.text import day, plural, unit_name

Html = str
_MEASURES = {
    "negative_share": ("Patients rating care poor", "share"),
    "positive_share": ("Patients rating care good", "share"),
    "harmful_incident_rate": ("Harmful incidents per 1,000 patients", "rate"),
}


def bright_spots(view: ReportView) -> Html:
    spots = view.data.bright
    ongoing = sum(s.status == ONGOING for s in spots)
    if not spots:
        body = (
            '<p class="lede">No unit has been significantly better than both its own usual '
            "level and the rest of its organisation.</p>"
        )
    else:
        body = (
            '<table class="bright"><thead><tr><th scope="col">Unit</th>'
            '<th scope="col">Measure</th><th scope="col">Since</th>'
            '<th scope="col">Figure</th><th scope="col">Its usual level</th>'
            '<th scope="col">Rest of its organisation</th><th scope="col">Evidence</th>'
            f"</tr></thead><tbody>{''.join(_row(s) for s in spots)}</tbody></table>"
        )
    return (
        '<section id="bright" aria-labelledby="bright-h">'
        f'<h2 id="bright-h">Bright spots: {plural(ongoing, "unit measure")} now better than '
        "their own usual level and than the rest of their organisation</h2>"
        '<p class="lede">Places to learn from, never alerts: a unit is listed when its figure '
        "has been significantly better than its own baseline (the alerts' run rules and "
        "accumulated evidence, mirrored) and than the rest of its organisation over the same "
        "weeks, by at least a fifth. A harm rate that fell while incident reporting fell is "
        "never listed.</p>"
        f"{body}</section>"
    )


def _row(s: BrightSpot) -> Html:
    name, kind = _MEASURES.get(s.measure, (s.measure.replace("_", " "), "share"))
    since = day(s.first_window) if s.first_window else "–"
    until = "ongoing" if s.status == ONGOING else (
        f"ended {day(s.last_window)}" if s.last_window else "ended"
    )  # fmt: skip
    evidence = (
        f"{plural(s.windows, 'window')} flagged ({s.detector or '–'}); "
        f"{_percent(s.reduction_vs_baseline)} fewer than usual (z {_z(s.z_baseline)}), "
        f"{_percent(s.reduction_vs_peers)} fewer than its peers (z {_z(s.z_peers)})"
    )
    return (
        f'<tr data-status="{escape(s.status)}"><th scope="row">'
        f"{escape(unit_name(s.org_id, s.unit_id))}</th><td>{escape(name)}</td>"
        f"<td>{escape(since)}<br><small>{escape(until)}</small></td>"
        f"<td>{escape(_figure(s.value, kind))}</td><td>{escape(_figure(s.baseline, kind))}</td>"
        f"<td>{escape(_figure(s.peers, kind))}</td><td>{escape(evidence)}</td></tr>"
    )


def _figure(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if kind == "share" else f"{value:,.2f}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _z(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"
