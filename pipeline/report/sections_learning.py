"""The learning loop in the report: what the safety teams answered, how precise they found the
alerts, what is overdue, which answers name no alert, and whether acting worked.

Every judgement shown here was made by the pipeline's core and stored with the alert
(`status` dismissed, `evidence.episode_group`, `evidence.recovery`); this module only reads and
words them. Free text (response notes) is never shown: only that a note exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from typing import Any

from pipeline.core.alerts import AlertKind
from pipeline.report.build import ReportView
from pipeline.report.records import AlertRecord
from pipeline.report.text import day, kind_name, plural, unit_name

Html = str
VERDICT_WORDS = {"improved": "improved", "no_change_yet": "no change yet", "worse": "worse"}


def action_dates(alerts: Iterable[AlertRecord]) -> list[datetime]:
    """When the safety team took action on any of these alerts (for chart annotations)."""
    return sorted(
        {r.occurred_at for a in alerts for r in a.responses if r.response == "action_taken"}
    )


def due_by(alert: AlertRecord) -> datetime | None:
    """The date the alert's action is due by, as the core stored it (`evidence.due_by`: its
    latest answer's), the one Grafana reads too."""
    value = alert.evidence.get("due_by")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _owner(alert: AlertRecord) -> str:
    """The words naming the alert's owner as the core stored it (`evidence.owner`: the one
    its family's latest answer naming one named), the owner Grafana shows too; "" when no
    answer named one."""
    owner = alert.evidence.get("owner")
    return f", owner {escape(owner)}" if isinstance(owner, str) and owner else ""


def family_of(alert: AlertRecord) -> list[str]:
    members = _group(alert).get("alerts")
    return [str(m) for m in members] if isinstance(members, list) else [alert.alert_id]


def answered_alerts(alerts: Sequence[AlertRecord]) -> set[str]:
    """Alerts an answer covers, as the core decided (`evidence.episode_group.answered`: its
    own, or its family's, but not those before a false positive it was detected after), the
    flag Grafana reads too."""
    return {a.alert_id for a in alerts if _group(a).get("answered") is True}


def _group(alert: AlertRecord) -> dict[str, Any]:
    group = alert.evidence.get("episode_group")
    return group if isinstance(group, dict) else {}


def by_family(alerts: Sequence[AlertRecord]) -> list[AlertRecord]:
    """`alerts` in their order, except that an alert's family follows its first member: one
    problem is read together."""
    members: dict[str, list[AlertRecord]] = {}
    for a in alerts:
        members.setdefault(family_of(a)[0], []).append(a)
    out: list[AlertRecord] = []
    for a in alerts:
        out.extend(members.pop(family_of(a)[0], []))
    return out


def recovery_line(alert: AlertRecord) -> Html:
    recovery = alert.evidence.get("recovery")
    if not isinstance(recovery, dict):
        return ""
    verdict = str(recovery.get("verdict"))
    words = VERDICT_WORDS.get(verdict, verdict)
    detail = "; ".join(_measure_words(m) for m in (recovery.get("measures") or {}).values())
    when = _date(recovery.get("action_at"))
    return (
        f'<p class="recovery verdict-{escape(verdict)}"><strong>Did it work?</strong> '
        f'<span class="verdict-word">{escape(words)}</span> since the action of {when}'
        f"{': ' + escape(detail) if detail else ''}.</p>"
    )


def family_line(alert: AlertRecord) -> Html:
    family = family_of(alert)
    if len(family) < 2:
        return ""
    others = ", ".join(m for m in family if m != alert.alert_id)
    dismissed = _group(alert).get("dismissed")
    earlier = ""
    if isinstance(dismissed, list) and dismissed and alert.status != "dismissed":
        names = ", ".join(f"<code>{escape(str(m))}</code>" for m in dismissed)
        earlier = (
            f" {names} dismissed as a false positive before this alert was detected; that "
            "answer and those before it do not cover this one."
        )
    return (
        f'<p class="family">One problem, {len(family)} alerts on this unit (family '
        f"<code>{escape(family[0])}</code>; also <code>{escape(others)}</code>): an answer to "
        f"one applies to all of them (a false positive to those on its measure detected by then)."
        f"{earlier}</p>"
    )


def _measure_words(entry: Any) -> str:
    if not isinstance(entry, dict):
        return ""
    share = "share" in str(entry.get("measure"))

    def show(value: Any) -> str:
        if not isinstance(value, int | float):
            return "–"
        return f"{value:.1%}" if share else f"{value:,.1f}"

    measure = str(entry.get("measure"))
    if share:
        name = "poor ratings"
    elif measure.startswith("incident reports"):
        name = "incident reports a week"
    else:
        name = "harmful incidents a week"
    text = f"{name} {show(entry.get('baseline'))} before the alert"
    if "after" in entry:
        latest = plural(int(entry["windows_after"]), "week")
        text += f", {show(entry['after'])} over the latest {latest} since the action"
        if entry.get("reason"):
            text += f" ({entry['reason']})"
    elif entry.get("reason"):
        text += f" ({entry['reason']})"
    return text


def _date(value: Any) -> str:
    try:
        return day(datetime.fromisoformat(str(value)))
    except ValueError:
        return "–"


def learning_loop(view: ReportView) -> Html:
    """The learning-loop view: warnings, precision, overdue alerts and recovery verdicts."""
    alerts = view.standing_alerts
    return (
        '<section id="learning" aria-labelledby="learning-h">'
        '<h2 id="learning-h">The learning loop: what the safety teams did, and did it work?</h2>'
        f"{_unmatched(view)}{_precision(alerts)}{_overdue(view)}{_recoveries(alerts)}</section>"
    )


def _unmatched(view: ReportView) -> Html:
    unmatched = view.data.unmatched_responses
    if not unmatched:
        return ""
    items = "".join(
        f"<li><code>{escape(r.alert_id)}</code> under {escape(unit_name(r.org_id, r.unit_id))}"
        f", {escape(r.response.replace('_', ' '))} on {day(r.occurred_at)}</li>"
        for r in unmatched[:10]
    )
    return (
        f'<div class="warning" role="alert"><strong>{plural(len(unmatched), "response")} '
        "naming no alert raised for its organisation and unit</strong> (a mistyped id or the "
        "wrong unit): kept and counted, and matched if that alert appears.<ul>"
        f"{items}</ul></div>"
    )


def _precision(alerts: Sequence[AlertRecord]) -> Html:
    answered = answered_alerts(alerts)
    table: dict[tuple[str, AlertKind], list[int]] = {}
    for a in alerts:
        if a.alert_id in answered:
            counts = table.setdefault((a.org_id, a.kind), [0, 0])
            counts[0] += 1
            counts[1] += a.status == "dismissed"
    if not table:
        return '<p class="note">No alert has been answered yet.</p>'
    rows = "".join(
        f"<tr><td>{escape(org)}</td><td>{escape(kind_name(kind))}</td><td>{n:,}</td>"
        f"<td>{fp:,}</td><td>{(n - fp) / n:.0%}</td></tr>"
        for (org, kind), (n, fp) in sorted(table.items())
    )
    return (
        "<h3>The safety teams' own precision</h3>"
        '<table class="precision"><thead><tr><th scope="col">Organisation</th>'
        '<th scope="col">Kind</th><th scope="col">Alerts answered</th>'
        '<th scope="col">False positives</th><th scope="col">Precision</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _overdue(view: ReportView) -> Html:
    as_of = view.data.data_end
    if as_of is None:
        return ""
    late = []
    for a in view.standing_alerts:
        due = due_by(a)
        if a.status == "open" and due is not None and due < as_of:
            late.append((a, due))
    if not late:
        return f'<p class="note">No open alert is past its due date (as of {day(as_of)}).</p>'
    items = "".join(
        f"<li>{escape(unit_name(a.org_id, a.unit_id))}: {escape(kind_name(a.kind))}, due "
        f"{day(due)}{_owner(a)} <code>{escape(a.alert_id)}</code></li>"
        for a, due in late
    )
    return (
        f'<div class="warning overdue"><strong>{plural(len(late), "open alert")} past the date '
        f"its action was due by</strong> (as of {day(as_of)})<ul>{items}</ul></div>"
    )


def _recoveries(alerts: Sequence[AlertRecord]) -> Html:
    acted = [a for a in alerts if isinstance(a.evidence.get("recovery"), dict)]
    if not acted:
        return '<p class="note">No action has been recorded yet, so nothing to judge.</p>'
    rows = "".join(
        f"<tr><td>{escape(unit_name(a.org_id, a.unit_id))}</td><td>{escape(kind_name(a.kind))}"
        f"</td><td>{_date(a.evidence['recovery'].get('action_at'))}</td><td>{recovery_line(a)}"
        "</td></tr>"
        for a in acted
    )
    return (
        "<h3>Did acting work?</h3>"
        '<p class="lede">After an action the measure that raised the alert is judged against '
        "the unit's level <em>before</em> the alert (never against its peak, which would show "
        "a recovery by chance alone); once six weeks have passed the weeks since the action "
        "get their own mean (Making Data Count rebasing).</p>"
        '<table class="recoveries"><thead><tr><th scope="col">Unit</th><th scope="col">Alert'
        '</th><th scope="col">Action</th><th scope="col">Verdict</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
