"""The report's later sections: the alert list with its evidence and the safety team's
responses, and how the report was made (the charts are in `sections_charts`)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from pipeline.core.alerts import AlertStatus
from pipeline.core.detection import DetectionConfig
from pipeline.core.windows import WindowKind
from pipeline.report.build import ReportView
from pipeline.report.figures import BASELINE_WINDOWS, RECENT_WINDOWS
from pipeline.report.queries import AlertRecord
from pipeline.report.sections_learning import (
    answered_alerts,
    by_family,
    family_line,
    recovery_line,
)
from pipeline.report.text import (
    RESPONSE_NAMES,
    day,
    evidence_figures,
    kind_name,
    label,
    plural,
    unit_name,
)

Html = str


def _learning(kind: str) -> int:
    """The learning period of the detector's defaults for the window kind, in windows."""
    known = kind if kind in {k.value for k in WindowKind} else WindowKind.WEEK.value
    return DetectionConfig.for_window_kind(WindowKind(known)).min_baseline_windows


def alert_list(view: ReportView) -> Html:
    alerts = view.standing_alerts
    open_ = sum(a.status == AlertStatus.OPEN for a in alerts)
    dismissed = sum(a.status == AlertStatus.DISMISSED for a in alerts)
    answered = len(answered_alerts(alerts))
    false_positives = f", {dismissed:,} dismissed as false positives" if dismissed else ""
    heading = (
        f"{plural(open_, 'alert')} open, {plural(len(alerts) - open_ - dismissed, 'alert')} "
        f"resolved{false_positives}; the safety team has responded to {answered:,}"
        if alerts
        else "No alerts: nothing met the conditions for one"
    )
    rows = "".join(_alert_row(a, view.data.window_kind) for a in by_family(alerts))
    kinds = sorted({a.kind for a in alerts})
    options = "".join(f'<option value="{escape(k)}">{escape(kind_name(k))}</option>' for k in kinds)
    withdrawn = (
        f'<p class="note">{plural(view.withdrawn, "alert")} withdrawn and left out: late data '
        "moved their weeks (the pipeline raised another in their place) or showed the "
        f"condition was never there.</p>{_answered_withdrawn(view)}"
        if view.withdrawn
        else ""
    )
    return (
        '<section id="alerts" aria-labelledby="alerts-h">'
        f'<h2 id="alerts-h">{escape(heading)}</h2>'
        '<p class="lede">Every alert the pipeline raised, open ones first, with the figures '
        "behind it and what the safety team did. Click a heading to sort.</p>"
        '<div class="filters"><label>Search <input id="alert-search" type="search" '
        'placeholder="unit, words in the summary…"></label>'
        '<label>Status <select id="alert-status"><option value="">any</option>'
        '<option value="open">open</option><option value="resolved">resolved</option>'
        '<option value="dismissed">dismissed</option></select>'
        '</label><label>Kind <select id="alert-kind"><option value="">any</option>'
        f'{options}</select></label><span id="alert-count" aria-live="polite"></span></div>'
        '<table id="alert-table" class="sortable alerts"><thead><tr>'
        '<th scope="col" data-sort>Severity</th><th scope="col" data-sort>Status</th>'
        '<th scope="col" data-sort>Unit</th>'
        f'<th scope="col" data-sort>{"Months" if view.data.window_kind == "month" else "Weeks"}'
        "</th>"
        '<th scope="col">What and why</th><th scope="col">Safety team</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>{withdrawn}</section>"
    )


def _answered_withdrawn(view: ReportView) -> Html:
    """The withdrawn alerts the safety team had answered, with what they said and the alerts
    the pipeline raised in their place (`evidence.replaced_by`): their work is never lost
    from sight."""
    items = []
    for a in view.data.alerts:
        if a.status != AlertStatus.WITHDRAWN or not a.responses:
            continue
        said = ", ".join(
            f"{RESPONSE_NAMES.get(r.response, label(r.response)).lower()} {day(r.occurred_at)}"
            + (f" (owner {r.owner})" if r.owner else "")
            for r in a.responses
        )
        successors = a.evidence.get("replaced_by")
        if isinstance(successors, list) and successors:
            names = ", ".join(f"<code>{escape(str(i))}</code>" for i in successors)
            fate = f"late data moved its weeks and the pipeline raised {names} in its place: "
            fate += "answer that one"
        else:
            fate = "late data showed the condition was never there"
        items.append(
            f"<li><code>{escape(a.alert_id)}</code> ({escape(unit_name(a.org_id, a.unit_id))}, "
            f"{day(a.window_start)} to {day(a.window_end, end=True)}) had been answered: "
            f"{escape(said)}; {fate}.</li>"
        )
    if not items:
        return ""
    return (
        '<p class="note">Withdrawn alerts the safety team had answered:</p>'
        f'<ul class="withdrawn">{"".join(items)}</ul>'
    )


def _alert_row(a: AlertRecord, window_kind: str) -> Html:
    method, figures = evidence_figures(a.evidence, window_kind)
    facts = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in figures)
    responses = (
        "".join(
            f"<li><strong>{escape(RESPONSE_NAMES.get(r.response, label(r.response)))}</strong>"
            f" {day(r.occurred_at)}"
            + (f" · {escape(r.responder_role)}" if r.responder_role else "")
            # an answer to another alert of its family, which answers this one too
            + (f" · to <code>{escape(r.alert_id)}</code>" if r.alert_id != a.alert_id else "")
            + (f" · owner {escape(r.owner)}" if r.owner else "")
            + (f" · due {day(r.due_by)}" if r.due_by else "")
            # Free text is never shown, redacted or not: only that there was a note.
            + _note_count(r.note_chars)
            + "</li>"
            for r in a.responses
        )
        or '<li class="none">No response yet</li>'
    )
    where = unit_name(a.org_id, a.unit_id)
    return (
        f'<tr data-status="{escape(a.status)}" data-kind="{escape(a.kind)}">'
        f'<td data-sort="{a.severity.rank}"><span class="badge sev-{escape(a.severity)}">'
        f"{escape(a.severity)}</span></td>"
        f'<td><span class="badge st-{escape(a.status)}">{escape(a.status)}</span></td>'
        f'<td><a href="#unit-{escape(a.org_id)}-{escape(a.unit_id)}">{escape(where)}</a></td>'
        f'<td data-sort="{a.window_start:%Y%m%d}">{day(a.window_start)}<br>to '
        f"{day(a.window_end, end=True)}</td>"
        f'<td><p class="kind">{escape(kind_name(a.kind))}</p><p>{escape(a.summary)}</p>'
        f"{recovery_line(a)}{family_line(a)}"
        f'<dl class="facts">{facts}</dl><p class="method">Method: {escape(method)} · '
        f"{_raised(a, window_kind)}, {plural(a.versions, 'version')} · "
        f"<code>{escape(a.alert_id)}</code></p></td>"
        f'<td><ul class="responses">{responses}</ul></td></tr>'
    )


def _raised(a: AlertRecord, window_kind: str) -> str:
    """When the data showed the alert (event time: the window it was detected in) and when
    the pipeline first raised it, which for a replay is the day the replay ran."""
    raised = f"first raised {day(a.first_detected_at)}"
    episode = a.evidence.get("episode")
    detected = episode.get("detected_in_window") if isinstance(episode, dict) else None
    try:
        window = datetime.fromisoformat(str(detected)) if detected else None
    except ValueError:
        window = None
    if window is None:
        return raised
    return f"detected in the {escape(window_kind)} of {day(window)}, {raised}"


def _note_count(chars: int) -> Html:
    if not chars:
        return ""
    return f'<br><span class="note-count">a note of {chars:,} characters (not shown)</span>'


def _late_returns(returns: int) -> str:
    # A target return comes after the period it reports on, so a monthly one is late for its
    # earlier weeks however it is read: that is no sign of data arriving late.
    if not returns:
        return ""
    return f"; {returns:,} of them target returns, reported after the period they cover"


# Each event type in words, singular and (where not with an s) plural; a feedback event is one
# response or a batch of them.
_EVENT_NOUNS: dict[str, tuple[str, str | None]] = {
    "incident_report": ("incident report", None),
    "target_metric": ("target return", None),
    "patient_feedback": ("feedback event", None),
    "alert_response": ("answer to an alert", "answers to alerts"),
}


def method(view: ReportView) -> Html:
    counts = view.data.counts
    events = ", ".join(plural(n, *_EVENT_NOUNS[k]) for k, n in counts.events.items())
    rejected = (
        "; ".join(f"{label(r).lower()}: {n:,}" for r, n in counts.rejected_by_reason.items())
        or "none"
    )
    kind = view.data.window_kind
    recent = RECENT_WINDOWS.get(kind, 13)
    baseline = BASELINE_WINDOWS.get(kind, 26)
    return (
        '<section id="method" aria-labelledby="method-h"><h2 id="method-h">How this report '
        "was made</h2><ul>"
        f"<li>Data: {events} (distinct events), {plural(counts.late_events, 'late event')} "
        f"(after their window closed, counted in it{_late_returns(counts.late_target_returns)}). "
        f"Rejected input: {counts.rejected:,} ({escape(rejected)}).</li>"
        f"<li>“Now” is the last {recent} complete {kind}s; “before” (the unit's own baseline) "
        f"up to {baseline} {kind}s before them (fewer where the data start later). A change in "
        "experience or harm counts as worse when the pipeline's stored verdicts show a special "
        f"cause of concern in the period (the alerts' own judgement, never the report's); a "
        "fall in harm while incident reporting fell is a reporting concern, never an "
        "improvement. Dark spots are the pipeline's alerts of a unit masked by its "
        "organisation; the report shows each unit's standing against the rest of its "
        "organisation, and judges none.</li>"
        "<li>Positive feedback is the Friends and Family Test share rating care good or very "
        "good (“don't know” left out). Harmful incidents are those reported with at least low "
        "harm. Targets are as each unit reports them: a share (e.g. seen within 4 hours) or a "
        "value in its unit (e.g. a mean response time in minutes, lower is better)"
        + (
            "; most come as monthly returns, so a week takes its month's figure"
            if kind == "week"
            else ""
        )
        + f"; a unit meets its targets when every one of them is met in every {kind} of the "
        "period. An organisation looks fine when its own positive feedback and "
        "harmful incidents, pooled over its units, are not clearly worse than before.</li>"
        "<li>Charts follow NHS England “Making Data Count”. Ratings, harm and reporting: the "
        "stored verdicts (exact limits at the detector's single-window limit; concern by a "
        "point beyond them, a run, or accumulated evidence; improvement by the same rules on "
        "the better side, the bright spots' own test, or a point beyond the better limit). "
        "Targets: XmR "
        "charts with limits at the mean ± 2.66 × the mean moving range, special causes by the "
        "four rules (a point outside the limits, a run of 7 on one side, a trend of 7, two of "
        "three near a limit).</li>"
        "<li>Alerts are raised by the streaming pipeline; this report only reads them. A unit "
        f"is judged once it has {plural(_learning(kind), kind)} of its own history (its "
        f"learning period); every later {kind} is judged, small ones with their wider limits."
        "</li>"
        "</ul></section>"
    )
