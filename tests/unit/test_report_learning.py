"""The report's learning loop and board views read the stored verdicts and never show notes."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.core.alerts import AlertKind, AlertStatus, Severity
from pipeline.core.board_row import NOT_JUDGED
from pipeline.report.build import build_view
from pipeline.report.queries_alerts import answers_of
from pipeline.report.records import (
    AlertRecord,
    BoardRecord,
    ReportData,
    ResponseRecord,
    StoreCounts,
)
from pipeline.report.render import render_report
from pipeline.report.text import evidence_figures

T0 = datetime(2024, 3, 4, tzinfo=UTC)
DAY = timedelta(days=1)


def answer(alert_id: str, response: str, days: int, **extra: Any) -> ResponseRecord:
    fields: dict[str, Any] = {
        "alert_id": alert_id, "org_id": "RXA", "unit_id": "ED", "response": response,
        "responder_role": "matron", "note_chars": 0, "occurred_at": T0 + days * DAY,
    }  # fmt: skip
    return ResponseRecord(**{**fields, **extra})


def alert(
    alert_id: str, kind: str, status: str, evidence: dict[str, Any], *answers: ResponseRecord
) -> AlertRecord:
    return AlertRecord(
        alert_id=alert_id, kind=AlertKind(kind), org_id="RXA", unit_id="ED", window_start=T0,
        window_end=T0 + 14 * DAY, severity=Severity.HIGH, status=AlertStatus(status),
        summary=f"{alert_id} summary", evidence=evidence, detected_at=T0 + 15 * DAY,
        first_detected_at=T0 + 8 * DAY, versions=2, responses=tuple(answers),
    )  # fmt: skip


FAMILY = {"episode_group": {"id": "mas-1", "alerts": ["mas-1", "saf-1"]}}
ANSWERED = {"episode_group": {**FAMILY["episode_group"], "answered": True}}  # as the core says


def own(alert_id: str, answered: bool = True) -> dict[str, Any]:
    """The family of an alert alone, as the core stores it."""
    return {"id": alert_id, "alerts": [alert_id], **({"answered": True} if answered else {})}


RECOVERY = {
    "verdict": "worse",
    "action_at": (T0 + 10 * DAY).isoformat(),
    "windows_after": 6,
    "measures": {
        "harm": {"measure": "harmful incidents per window", "baseline": 3.4, "after": 30.2,
                 "windows_after": 6, "verdict": "worse"},
    },
}  # fmt: skip


def data() -> ReportData:
    alerts = (
        alert("mas-1", "masked_dark_spot", "dismissed", ANSWERED,
              answer("mas-1", "false_positive", 2, note_chars=41)),
        alert("saf-1", "safety_signal", "dismissed", {**ANSWERED, "recovery": RECOVERY},
              answer("saf-1", "action_taken", 10, owner="ward-manager")),
        alert("tar-1", "target_experience_divergence", "open",
              {"due_by": (T0 + 20 * DAY).isoformat(), "owner": "site-lead",
               "episode_group": own("tar-1")},
              answer("tar-1", "investigating", 2, due_by=T0 + 60 * DAY),
              answer("tar-1", "investigating", 3, due_by=T0 + 20 * DAY)),
        alert("tar-2", "target_experience_divergence", "resolved",
              {"episode_group": own("tar-2", answered=False)}),
    )  # fmt: skip
    board = BoardRecord(
        org_id="RXA", unit_id="ED", measure="experience", metric="",
        window_start=T0 + 21 * DAY, window_end=T0 + 28 * DAY, value=0.61, sample_size=212,
        mean=0.84, variation="special_cause_concern", assurance=None, target=None, points=52,
    )  # fmt: skip
    return ReportData(
        window_kind="week",
        windows=(),
        target_reports=(),
        alerts=alerts,
        counts=StoreCounts(events={}, rejected_by_reason={}, late_events=0),
        data_end=T0 + 30 * DAY,
        unmatched_responses=(answer("saf-typo", "acknowledged", 4, unit_id="AMU"),),
        board=(board,),
    )


def html() -> str:
    return render_report(build_view(data()), T0 + 31 * DAY)


def test_the_learning_loop_view_reads_the_stored_decisions() -> None:
    page = html()
    assert "1 response naming no alert raised for its organisation and unit" in page
    assert "<code>saf-typo</code> under RXA AMU, acknowledged on 8 Mar 2024" in page
    assert "1 open alert past the date its action was due by</strong> (as of 3 Apr 2024)" in page
    assert "due 24 Mar 2024" in page and "owner ward-manager" in page
    # the precision table: the family answered twice, both dismissed; the divergence kept
    assert "<td>Dark spot masked by its organisation</td><td>1</td><td>1</td><td>0%</td>" in page
    assert "<td>Hitting the target, missing the point</td><td>1</td><td>0</td><td>100%</td>" in page
    assert '<span class="verdict-word">worse</span>' in page
    assert "harmful incidents a week 3.4 before the alert, 30.2 over the latest 6 weeks" in page


def test_overdue_reads_the_due_date_the_core_stored() -> None:
    """Seen from outside (nineteenth session): the furthest `due_by` of an alert's answers
    was read as its due date, so an answer due sooner than an earlier one never made the alert
    overdue. The report reads `evidence.due_by` (the latest answer's, decided in the core)."""
    page = html()
    assert "due 24 Mar 2024, owner site-lead <code>tar-1</code>" in page  # not 3 May
    (tar,) = [a for a in data().alerts if a.alert_id == "tar-1"]
    undated = replace(tar, evidence={})
    alerts = (undated, *(a for a in data().alerts if a.alert_id != "tar-1"))
    page = render_report(build_view(replace(data(), alerts=alerts)), T0 + 31 * DAY)
    assert "No open alert is past its due date (as of 3 Apr 2024)" in page


def test_no_note_text_only_its_length() -> None:
    page = html()
    assert "a note of 41 characters (not shown)" in page


def test_a_family_is_listed_together_and_says_one_answer_covers_it() -> None:
    page = html()
    table = page[page.index('id="alert-table"') :]
    order = [table.index(f"<code>{i}</code></p>") for i in ("tar-1", "mas-1", "saf-1", "tar-2")]
    assert order == sorted(order)  # open first, then the family together
    assert "One problem, 2 alerts on this unit" in page
    assert '<option value="dismissed">dismissed</option>' in page


def test_the_board_summary_comes_first_with_icons_and_sample_sizes() -> None:
    page = html()
    assert page.index('id="board"') < page.index('id="alerts"')
    assert "1 measure showing a special cause of concern" in page
    assert "n = 212 responses; special cause: concern" in page


def test_dark_spot_evidence_reads_what_was_stored() -> None:
    window = {
        "window_start": "2024-03-04T00:00:00+00:00", "count": 22, "size": 2.2, "value": 10.0,
        "centre": 1.1, "limit": 6.5, "z": 5.0, "rule": "beyond_limit",
        "peers": {"rest_of_organisation": 2.4, "expected": 1.1, "limit": 6.5, "z": 4.0},
        "organisation": {"value": 6.4, "within_limits_when_closed": True},
    }  # fmt: skip
    evidence = {
        "measures": {"harmful_incident_rate": {"per": "1,000 activity", "windows": [window]}}
    }
    _, figures = evidence_figures(evidence, "week")
    (text,) = [v for k, v in figures if k.startswith("Incidents causing harm")]
    assert "per 1,000 patients" in text and "per week" not in text
    assert "rest of organisation 2.4" in text
    assert "(within its usual range)" in text


def test_a_member_detected_after_a_false_positive_says_so_and_stays_open() -> None:
    """A false positive covers the members detected by its time (the core decides, and lists
    them in `episode_group.dismissed`): a later member is shown open, saying why."""
    group = {**FAMILY["episode_group"], "dismissed": ["mas-1"]}
    family = (
        alert("mas-1", "masked_dark_spot", "dismissed",
              {"episode_group": {**group, "answered": True}},
              answer("mas-1", "false_positive", 2)),
        alert("saf-1", "safety_signal", "open", {"episode_group": group}),
    )  # fmt: skip
    page = render_report(build_view(replace(data(), alerts=family)), T0 + 31 * DAY)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert text.count("mas-1 dismissed as a false positive before this alert was detected") == 1
    assert "that answer and those before it do not cover this one" in text


def test_precision_leaves_out_a_member_nobody_answered_after_a_false_positive() -> None:
    """Seen last session: a member detected after its family's false positive counted as
    answered, so as a kept alert, lifting the teams' precision. The report counts the alerts
    the core says an answer covers (`episode_group.answered`), as Grafana does."""
    group = {**FAMILY["episode_group"], "dismissed": ["mas-1"]}
    family = (
        alert("mas-1", "masked_dark_spot", "dismissed",
              {"episode_group": {**group, "answered": True}},
              answer("mas-1", "false_positive", 2)),
        alert("saf-1", "safety_signal", "open", {"episode_group": group}),
    )  # fmt: skip
    page = render_report(build_view(replace(data(), alerts=family)), T0 + 31 * DAY)
    assert "<td>Dark spot masked by its organisation</td><td>1</td><td>1</td><td>0%</td>" in page
    assert "<td>Safety signal</td>" not in page[page.index('class="precision"') :]
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "1 of 2 alerts has a response from the safety team" in text


def test_the_findings_count_an_answer_to_a_family_for_every_member() -> None:
    """One answer covers its family (contract v1.1), as the alerts dashboard counts it: the
    findings' "have a response" card counts both members, not the one answered directly."""
    family = (
        alert("mas-1", "masked_dark_spot", "open", ANSWERED, answer("mas-1", "acknowledged", 2)),
        alert("saf-1", "safety_signal", "open", ANSWERED),
        alert("tar-2", "target_experience_divergence", "resolved", {}),
    )
    page = render_report(build_view(replace(data(), alerts=family)), T0 + 31 * DAY)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "2 of 3 alerts have a response from the safety team" in text


def test_late_events_are_not_said_to_be_judged_again() -> None:
    """A replay judges once, at its input's end: its late events were counted, not re-judged."""
    counts = StoreCounts(events={}, rejected_by_reason={}, late_events=3)
    page = render_report(build_view(replace(data(), counts=counts)), T0 + 31 * DAY)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "3 late events (after their window closed, counted in it)" in text
    assert "stored and judged again" not in text


def test_the_header_asks_the_question_rather_than_stating_a_finding() -> None:
    """A report over units without feedback (published A&E returns alone) must not read as if
    every unit met its targets while experience got worse."""
    text = " ".join(re.sub(r"<[^>]+>", " ", html()).split())
    assert (
        "where are waiting-time targets met while patients' experience or safety gets worse?"
        in text
    )
    assert "meet their waiting-time targets while" not in text


def test_an_alert_says_when_its_data_showed_it_as_well_as_when_it_was_raised() -> None:
    """A replay raises years-old episodes on the day it runs: 'first raised' alone then read
    as if the alert were new. The week it was detected in (event time) comes first."""
    replayed_on = datetime(2026, 12, 1, tzinfo=UTC)
    episode = {"episode": {"detected_in_window": (T0 + 7 * DAY).isoformat()}}
    replayed = replace(
        alert("tar-1", "target_experience_divergence", "open", episode),
        first_detected_at=replayed_on,
    )
    page = render_report(build_view(replace(data(), alerts=(replayed,))), T0 + 31 * DAY)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "detected in the week of 11 Mar 2024, first raised 1 Dec 2026" in text


def test_late_target_returns_are_told_apart_from_late_events() -> None:
    """A return comes after the period it covers, so published monthly returns are late for
    their earlier weeks however they are read (2,252 of 2,264 A&E returns in one import)."""
    counts = StoreCounts(events={}, rejected_by_reason={}, late_events=5, late_target_returns=4)
    page = render_report(build_view(replace(data(), counts=counts)), T0 + 31 * DAY)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert (
        "5 late events (after their window closed, counted in it; 4 of them target returns, "
        "reported after the period they cover)" in text
    )


def test_a_unit_that_stopped_sending_is_not_shown_as_current_on_the_board() -> None:
    """Seen from outside (eighteenth session): a unit silent for 15 months stood in the board's
    "latest complete window (up to …)" table with its last week's figures and no date."""
    (current,) = data().board
    stopped = replace(
        current, unit_id="maternity", window_start=T0 - 70 * DAY, window_end=T0 - 63 * DAY
    )
    page = render_report(build_view(replace(data(), board=(current, stopped))), T0 + 31 * DAY)
    board = page[page.index('id="board"') : page.index("</table>", page.index('id="board"'))]
    rows = {row.split("</th>")[0]: row for row in board.split('<th scope="row">')[1:]}
    assert "latest: week of 25 Dec 2023; n = 212 responses" in rows["RXA maternity"]
    assert "latest:" not in rows["RXA ED"]


def test_the_board_heading_counts_only_current_concerns_as_in_the_latest_window() -> None:
    """Seen from outside (nineteenth session): imported A&E returns of 2016-19 and 2024-25
    headed the board "129 measures showing a special cause of concern in the latest week"
    (up to 27 Jul 2025), 10 of them units whose latest figure was from 2019 or earlier."""
    (current,) = data().board
    stopped = replace(
        current, unit_id="maternity", window_start=T0 - 70 * DAY, window_end=T0 - 63 * DAY
    )
    page = render_report(build_view(replace(data(), board=(current, stopped))), T0 + 31 * DAY)
    heading = page[page.index('<h2 id="board-h">') : page.index("</h2>", page.index("board-h"))]
    assert "1 measure showing a special cause of concern in the latest week" in heading
    assert "1 more at a unit whose latest figure is older" in heading
    alone = render_report(build_view(data()), T0 + 31 * DAY)
    assert "more at a unit" not in alone


def test_a_board_row_not_judged_yet_says_so_as_its_chart_does() -> None:
    """Seen from outside (twenty-first session): in a unit's learning period the board said
    "common cause" while the chart of the same week said "not judged yet". The core now
    stores such a row as `not_judged` (no centre, no limits) and the board says so."""
    (current,) = data().board
    learning = replace(current, variation=NOT_JUDGED, mean=math.nan, lpl=None, upl=None)
    page = render_report(build_view(replace(data(), board=(learning,))), T0 + 31 * DAY)
    board = page[page.index('id="board"') : page.index("</section>", page.index('id="board"'))]
    text = " ".join(re.sub(r"<[^>]+>", " ", board).split())
    assert "0 measures showing a special cause of concern" in text
    row = " ".join(re.sub(r"<[^>]+>", " ", board[board.index("<tbody>") :]).split())
    assert "61% n = 212 responses; not judged yet" in row and "common cause" not in row
    assert 'data-variation="not_judged"' in board


def test_an_alert_lists_the_answers_the_core_says_answer_it() -> None:
    """What was done about an alert is `evidence.answered_by` (the core's decision, which
    Grafana reads too): its family's answers, marked with the alert they named, but not those
    before a false positive it was detected after; an alert stored without the decision
    (withdrawn) lists its own."""
    seen = answer("mas-1", "acknowledged", 2, event_id="e-1")
    dismissed = answer("mas-1", "false_positive", 3, event_id="e-2")
    since = answer("mas-1", "investigating", 9, event_id="e-3")
    matched = [seen, dismissed, since]
    later = alert("saf-1", "safety_signal", "open", {**ANSWERED, "answered_by": ["e-3"]})
    first = alert("mas-1", "masked_dark_spot", "dismissed",
                  {**ANSWERED, "answered_by": ["e-1", "e-2", "e-3"]})  # fmt: skip
    assert answers_of(later, matched) == (since,)
    assert answers_of(first, matched) == (seen, dismissed, since)
    assert answers_of(replace(first, evidence={}), matched) == (seen, dismissed, since)
    assert answers_of(replace(later, evidence={}), matched) == ()
    page = render_report(
        build_view(replace(data(), alerts=(replace(later, responses=(since,)),))), T0 + 31 * DAY
    )
    row = page[page.index('id="alert-table"') :]
    assert "<strong>Investigating</strong> 13 Mar 2024 · matron · to <code>mas-1</code>" in row


def test_a_withdrawn_alert_the_team_answered_stays_in_sight_with_the_one_in_its_place() -> None:
    """Seen from outside (twenty-fourth session): a revised target return moved an answered
    episode, so the pipeline withdrew its alert and raised another; the report said only "late
    data showed the condition was never there", and the answers (an action, its owner) were
    nowhere. It lists them, naming the alert in its place (`evidence.replaced_by`)."""
    moved = alert("tar-1", "target_experience_divergence", "withdrawn",
                  {"replaced_by": ["tar-2"]},
                  answer("tar-1", "acknowledged", 2),
                  answer("tar-1", "action_taken", 3, owner="ward manager"))  # fmt: skip
    gone = alert("saf-1", "safety_signal", "withdrawn", {}, answer("saf-1", "investigating", 4))
    unanswered = alert("saf-2", "safety_signal", "withdrawn", {})
    now = alert("tar-2", "target_experience_divergence", "open", {"episode_group": own("tar-2")})
    stored = replace(data(), alerts=(moved, gone, unanswered, now))
    page = render_report(build_view(stored), T0 + 31 * DAY)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "3 alerts withdrawn and left out: late data moved their weeks" in text
    assert ("tar-1 (RXA ED, 4 Mar 2024 to 17 Mar 2024) had been answered: acknowledged 6 Mar "
            "2024, action taken 7 Mar 2024 (owner ward manager); late data moved its weeks and "
            "the pipeline raised tar-2 in its place: answer that one.") in text  # fmt: skip
    assert ("saf-1 (RXA ED, 4 Mar 2024 to 17 Mar 2024) had been answered: investigating 8 Mar "
            "2024; late data showed the condition was never there.") in text  # fmt: skip
    assert "saf-2 (RXA ED" not in text


def test_a_reporting_silences_recovery_is_told_in_incident_reports() -> None:
    """A silence's "Did it work?" reads its own measure, every incident report, not harm."""
    reporting = {
        "measure": "incident reports per window (every harm level)", "baseline": 8.0,
        "after": 1.2, "windows_after": 6, "verdict": "worse",
    }  # fmt: skip
    recovery = {**RECOVERY, "measures": {"reporting": reporting}}
    silent = alert("sil-1", "reporting_silence", "open",
                   {"episode_group": own("sil-1"), "recovery": recovery},
                   answer("sil-1", "action_taken", 10))  # fmt: skip
    page = render_report(build_view(replace(data(), alerts=(silent,))), T0 + 31 * DAY)
    assert "incident reports a week 8.0 before the alert, 1.2 over the latest 6 weeks" in page
    assert "harmful incidents a week" not in page


def test_a_harm_verdict_held_back_by_a_fall_in_reporting_says_why() -> None:
    harm = {
        "measure": "harmful incidents per window", "baseline": 3.4, "windows_after": 6,
        "after": 0.0, "verdict": "no_change_yet",
        "reason": "incident reporting fell since the action, so fewer harmful incidents is "
        "not read as an improvement",
    }  # fmt: skip
    recovery = {**RECOVERY, "measures": {"harm": harm}}
    signal = alert("saf-9", "safety_signal", "open",
                   {"episode_group": own("saf-9"), "recovery": recovery},
                   answer("saf-9", "action_taken", 10))  # fmt: skip
    page = render_report(build_view(replace(data(), alerts=(signal,))), T0 + 31 * DAY)
    assert "0.0 over the latest 6 weeks since the action (incident reporting fell" in page
