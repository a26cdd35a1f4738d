"""Figures at the contract's bounds read plainly in the report: a value target's margin in the
metric's own unit, compactly, and a header that says what the comparison covers apart from
how far back the store reaches (twenty-first session's outside check)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pipeline.core.target_reports import TargetAttainment
from pipeline.report.build import build_view
from pipeline.report.figures import pool
from pipeline.report.periods import UnitKey, UnitView, org_view
from pipeline.report.records import ReportData, StoreCounts, WindowFigures
from pipeline.report.render import render_report
from pipeline.report.sections_orgs import _org_card
from pipeline.report.text import margin_text

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
WEEKS = 47  # to 29 Nov 2026


def week(i: int, unit: str = "ED", targets: tuple[TargetAttainment, ...] = ()) -> WindowFigures:
    start = MONDAY + timedelta(weeks=i)
    return WindowFigures("RXA", unit, start, start + timedelta(weeks=1), 40, 36, 2, 2, 1,
                         600.0, targets)  # fmt: skip


def stored(
    windows: Iterable[WindowFigures], data_end: datetime, events: dict[str, int] | None = None
) -> ReportData:
    """A weekly store of `windows` whose data end at `data_end`, with no alerts."""
    return ReportData(
        window_kind="week",
        windows=tuple(windows),
        target_reports=(),
        alerts=(),
        counts=StoreCounts(events=events or {}, rejected_by_reason={}, late_events=0),
        data_end=data_end,
    )


def test_a_value_margin_reads_in_its_unit_compactly() -> None:
    assert margin_text(-1e12 - 1e-6, "minutes") == "-1e12 minutes"
    assert margin_text(-9.24, "minutes") == "-9.2 minutes"
    assert margin_text(12_345.0, "count") == "+12,345 count"
    assert margin_text(0.22, "") == "+22.0 pts"


def test_an_organisations_value_target_is_not_in_points() -> None:
    """Seen from outside: a value target at the contract's bounds (1e12 against 1e-6, lower
    is better) printed "-100000000000000.0 pts vs target" in the organisation's card."""
    huge = TargetAttainment("ae_wait", 1e12, 1.0, 1e-6, False, "minutes")
    windows = {("RXA", u): [week(i, u, (huge,) if u == "ED" else ()) for i in range(39)]
               for u in ("ED", "AMU")}  # fmt: skip
    begin = MONDAY + timedelta(weeks=26)

    def recent(key: UnitKey) -> list[WindowFigures]:
        return [w for w in windows[key] if w.start >= begin]

    def before(key: UnitKey) -> list[WindowFigures]:
        return [w for w in windows[key] if w.start < begin]

    units = [UnitView(o, u, pool(recent((o, u))), pool(before((o, u))), ()) for o, u in windows]
    card = _org_card(org_view("RXA", units, recent, before), "week")
    assert "pts vs target" not in card
    assert "-1e12 minutes vs target" in card


def test_the_header_says_the_weeks_compared_apart_from_the_oldest_stored() -> None:
    """Seen from outside: a store holding one event from 1990 headed the report "1 Jan 1990
    to 29 Nov 2026", as if it covered 36 years of figures."""
    lone = replace(week(0), start=datetime(1990, 1, 1, tzinfo=UTC),
                   end=datetime(1990, 1, 8, tzinfo=UTC), fft_responses=1, fft_positive=1,
                   fft_negative=0, incidents=0, harmful_incidents=0)  # fmt: skip
    data = stored((lone, *(week(i) for i in range(WEEKS))), MONDAY + timedelta(weeks=WEEKS))
    page = render_report(build_view(data), MONDAY + timedelta(weeks=WEEKS, days=1))
    meta = page[page.index('<p class="meta">') : page.index("</p>", page.index('class="meta"'))]
    text = " ".join(re.sub(r"<[^>]+>", " ", meta).split())
    assert "1 Jan 1990 to" not in text
    assert "the 13 weeks from 31 Aug 2026 to 29 Nov 2026" in text, text
    assert "oldest stored figure 1 Jan 1990" in text, text


def test_a_store_whose_only_week_is_not_complete_does_not_say_none_is_stored() -> None:
    """Seen from outside (twenty-first session): a store holding one target return from
    1990 (its week stored, not complete: the data end within it) was headed "No unit windows
    stored yet" beside "1 target metrics" in How this report was made."""
    lone = replace(week(0), start=datetime(1990, 1, 1, tzinfo=UTC),
                   end=datetime(1990, 1, 8, tzinfo=UTC))  # fmt: skip
    data = stored((lone,), datetime(1990, 1, 3, 10, tzinfo=UTC))
    page = render_report(build_view(data), MONDAY)
    meta = page[page.index('<p class="meta">') : page.index("</p>", page.index('class="meta"'))]
    text = " ".join(re.sub(r"<[^>]+>", " ", meta).split())
    assert "No complete week stored yet (the data end on 3 Jan 1990)" in text, text


def test_how_the_report_was_made_counts_each_event_type_in_words() -> None:
    """Seen from outside: "1 target metrics" and "patient feedbacks" in How this report was
    made; one of each is singular, more are plural, and each type is named as a user knows it."""

    def made(events: dict[str, int]) -> str:
        data = stored(
            (week(i) for i in range(WEEKS)), MONDAY + timedelta(weeks=WEEKS), events=events
        )
        page = render_report(build_view(data), MONDAY)
        section = page[page.index('<section id="method"') :]
        return " ".join(re.sub(r"<[^>]+>", " ", section[: section.index("</li>")]).split())

    one = dict.fromkeys(("incident_report", "target_metric", "patient_feedback",
                         "alert_response"), 1)  # fmt: skip
    assert ("Data: 1 incident report, 1 target return, 1 feedback event, 1 answer to an alert "
            "(distinct events)") in made(one)  # fmt: skip
    many = {"incident_report": 2, "target_metric": 1_200, "patient_feedback": 3,
            "alert_response": 4}  # fmt: skip
    assert ("Data: 2 incident reports, 1,200 target returns, 3 feedback events, 4 answers to "
            "alerts (distinct events)") in made(many)  # fmt: skip


def test_now_ends_with_the_last_feedback_or_incident_not_a_later_target_return() -> None:
    """Target returns stored for weeks after the last feedback and incidents (a monthly return
    reaching ahead, or feedback not yet in) made "now" a run of weeks with targets alone, each
    of which judges nothing; now ends with the last week of feedback or incidents, and the
    header says what runs on beyond it."""
    ahead = 6
    target = TargetAttainment("ae_4h", 95, 100, 0.95, True, "")
    judged = [week(i, targets=(target,)) for i in range(WEEKS)]
    targets_only = []
    for i in range(ahead):
        only = replace(week(WEEKS + i, targets=(target,)), fft_responses=0, fft_positive=0)
        targets_only.append(replace(only, fft_negative=0, incidents=0, harmful_incidents=0))
    data = stored((*judged, *targets_only), MONDAY + timedelta(weeks=WEEKS + ahead))
    view = build_view(data)
    assert view.period_end == judged[-1].end
    assert view.targets_beyond == targets_only[-1].end
    page = render_report(view, MONDAY)
    meta = page[page.index('<p class="meta">') : page.index("</p>", page.index('class="meta"'))]
    text = " ".join(re.sub(r"<[^>]+>", " ", meta).split())
    assert "the 13 weeks from 31 Aug 2026 to 29 Nov 2026" in text, text
    assert ("target returns run on to 10 Jan 2027 with no feedback or incidents beside them "
            "yet, so those weeks are not judged here") in text, text  # fmt: skip


def test_a_store_whose_targets_end_with_its_feedback_says_nothing_runs_on() -> None:
    data = stored((week(i) for i in range(WEEKS)), MONDAY + timedelta(weeks=WEEKS))
    view = build_view(data)
    assert view.targets_beyond is None
    assert "run on to" not in render_report(view, MONDAY)


def test_an_organisation_reporting_targets_only_is_not_said_to_have_no_dark_spot() -> None:
    """Seen on the real data: an organisation whose only stored events were target returns
    read "– of patients rate care good, – before; no unit found masked by the rest", a
    finding made of nothing. Dark spots are judged on feedback or harm: with neither, it says
    so; with incidents and no feedback, it says there is no feedback."""
    target = TargetAttainment("ae_4h", 95, 100, 0.95, True, "")
    judged = [week(i) for i in range(WEEKS)]
    only = []
    for i in range(WEEKS):
        silent = replace(week(i, "AE", (target,)), org_id="RZZ", fft_responses=0, incidents=0)
        only.append(replace(silent, fft_positive=0, fft_negative=0, harmful_incidents=0))
    data = stored((*judged, *only), MONDAY + timedelta(weeks=WEEKS))

    def card(data: ReportData) -> str:
        page = render_report(build_view(data), MONDAY)
        spots = page[page.index('id="dark-spots"') :]
        start = spots.index("<h3>RZZ")
        return " ".join(re.sub(r"<[^>]+>", " ", spots[start : spots.index("</h3>", start)]).split())

    assert card(data) == (
        "RZZ: targets only, no patient feedback or incident reports in these weeks or the ones "
        "before, so no unit is judged against the rest"
    )
    reported = tuple(replace(w, incidents=2) if w.org_id == "RZZ" else w for w in data.windows)
    assert card(replace(data, windows=reported)) == (
        "RZZ overall: no patient feedback; no unit found masked by the rest"
    )


def test_a_unit_that_never_reported_an_incident_has_no_harm_figure() -> None:
    """No incident reports, now or before, is not a harm rate of 0.0 a week: the unit table
    shows none; a unit whose reports were all without harm shows 0.0."""
    silent = [replace(week(i, "AE"), incidents=0, harmful_incidents=0) for i in range(WEEKS)]
    data = stored((*(week(i) for i in range(WEEKS)), *silent), MONDAY + timedelta(weeks=WEEKS))

    def harm_now(data: ReportData) -> str:
        page = render_report(build_view(data), MONDAY)
        table = page[page.index('<details class="units">') :]
        row = table[table.index("<td>RXA AE</td>") : table.index("</tr>", table.index("RXA AE"))]
        return str(re.findall(r"<td[^>]*>([^<]*)</td>", row)[5])

    assert harm_now(data) == "–"
    harmless = tuple(replace(w, incidents=1) if w.unit_id == "AE" else w for w in data.windows)
    assert harm_now(replace(data, windows=harmless)) == "0.0 a week"
