"""A unit that sent nothing in a report period has no figures there: not a harm rate of 0, and
not "no target" (seen from outside in the eighteenth session: a unit silent for 15 months read
"no target ... 0.0 a week" in every later period's table)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pipeline.core.target_reports import TargetAttainment
from pipeline.report.build import build_view
from pipeline.report.records import ReportData, StoreCounts, WindowFigures
from pipeline.report.render import render_report

MONDAY = datetime(2025, 1, 6, tzinfo=UTC)


def windows(unit: str, weeks: int) -> list[WindowFigures]:
    target = TargetAttainment("ae_4h", 800.0, 1000.0, 0.78, True)
    return [
        WindowFigures(
            "RXA", unit, MONDAY + timedelta(weeks=i), MONDAY + timedelta(weeks=i + 1),
            200, 180, 10, 6, 1, 700.0, (target,),
        )
        for i in range(weeks)
    ]  # fmt: skip


def page() -> str:
    data = ReportData(
        window_kind="week",
        windows=tuple(windows("ED", 39) + windows("maternity", 20)),  # silent for 19 weeks
        target_reports=(),
        alerts=(),
        counts=StoreCounts(events={}, rejected_by_reason={}, late_events=0),
        data_end=MONDAY + timedelta(weeks=39),
    )
    return render_report(build_view(data), MONDAY + timedelta(weeks=40))


def test_a_silent_unit_reads_no_data_in_the_period_not_no_harm() -> None:
    html = page()
    table = html[html.index("Every unit in figures") :]
    rows = dict(
        re.findall(r"<tr[^>]*><td>([^<]+)</td>(.*?)</tr>", table[: table.index("</table>")])
    )
    assert "no data in these weeks" in rows["RXA maternity"]
    assert " a week" not in rows["RXA maternity"] and "no target" not in rows["RXA maternity"]
    assert "1.0 a week" in rows["RXA ED"]
    assert "Not on the charts (no data in these weeks): RXA maternity" in html


def test_a_harm_fall_whose_reporting_fell_says_so_in_the_table_and_on_the_board() -> None:
    """Seen in the twenty-fifth session: a unit whose feedback and reports stopped while its
    returns went on read "0.2 a week, -94%" in the unit table and "0.0 per 1,000 patients;
    special cause: concern" on the board, nothing saying why a fall is a concern."""
    from dataclasses import replace

    from pipeline.report.records import BoardRecord, VerdictRecord

    quiet = [
        replace(w, harmful_incidents=0, incidents=0) if i >= 30 else w
        for i, w in enumerate(windows("maternity", 39))
    ]
    fell = ("silence", "reporting_concern", "rate")
    verdicts = tuple(
        VerdictRecord(
            "RXA", "maternity", "harmful_incident_rate", w.start, 0.0, 8.5, 0.0, 20.0, -1.5, *fell
        )
        for w in quiet[30:]
    )
    last = quiet[-1]
    safety = BoardRecord("RXA", "maternity", "safety", "per_1000", last.start, last.end, 0.0,
                         700.0, 8.5, "special_cause_concern", None, None, 39)  # fmt: skip
    data = ReportData(
        window_kind="week",
        windows=tuple(windows("ED", 39) + quiet),
        target_reports=(),
        alerts=(),
        counts=StoreCounts(events={}, rejected_by_reason={}, late_events=0),
        data_end=MONDAY + timedelta(weeks=39),
        board=(safety,),
        verdicts=verdicts,
    )
    html = render_report(build_view(data), MONDAY + timedelta(weeks=40))
    table = html[html.index("Every unit in figures") :]
    rows = dict(
        re.findall(r"<tr[^>]*><td>([^<]+)</td>(.*?)</tr>", table[: table.index("</table>")])
    )
    assert "(incident reporting fell)" in rows["RXA maternity"]
    assert "(incident reporting fell)" not in rows["RXA ED"]
    assert "special cause: concern (incident reporting fell)" in html
