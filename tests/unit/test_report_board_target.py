"""The report's Making Data Count summary and the target chart under it read one judgement.

Seen from outside (nineteenth session, real A&E returns): 70 of 297 units' summaries and target
charts disagreed, the chart computing its own SPC (limits fixed at the first alert) over the
returns while the board blended weekly windows. The chart now draws the board's stored row.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pipeline.core.alerts import AlertKind, AlertStatus, Severity
from pipeline.core.board import BoardRow
from pipeline.core.engine import Engine, EngineConfig
from pipeline.report.build import build_view
from pipeline.report.records import (
    AlertRecord,
    BoardRecord,
    ReportData,
    StoreCounts,
    TargetReport,
    WindowFigures,
)
from pipeline.report.sections_charts import mdc_charts
from tests.support.events import metric, raw

KEY = b"k" * 16
MONTHS = [datetime(2023 + (m - 1) // 12, 1 + (m - 1) % 12, 1, tzinfo=UTC) for m in range(2, 24)]
# Fourteen steady months about 70%, then a step up: where limits were fixed on the months
# before an alert, the chart read the step otherwise than the board's limits from every point.
SEEN = [700, 712, 695, 705, 690, 708, 702, 698, 715, 693, 704, 700, 709, 696,
        790, 805, 798, 812, 801, 795, 808]  # fmt: skip
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _stored(row: BoardRow) -> BoardRecord:
    """The row as `queries.load_board` reads it back."""
    return BoardRecord(
        row.org_id, row.unit_id, row.measure, row.metric, row.window_start, row.window_end,
        row.value, row.sample_size, row.mean, row.variation, row.assurance, row.target,
        row.points, row.improvement, row.point_starts, row.point_values, row.point_types,
        row.lpl, row.upl,
    )  # fmt: skip


def _data() -> tuple[ReportData, BoardRecord]:
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), KEY)
    events = [
        metric(occurred_at=end.isoformat(), period_start=start.isoformat(),
               period_end=end.isoformat(), numerator=seen)
        for (start, end), seen in zip(itertools.pairwise(MONTHS), SEEN, strict=True)
    ]  # fmt: skip
    result = engine.process(raw(*events), NOW)
    rows = [r for r in result.board + engine.finish(NOW).board if r.measure == "target"]
    row = _stored(max(rows, key=lambda r: r.version))
    series = engine.closed_series()[("RXA", "ED")]
    windows = tuple(
        WindowFigures("RXA", "ED", w.window.start, w.window.end, 0, 0, 0, 0, 0, w.activity,
                      w.targets)
        for w in series
    )  # fmt: skip
    reports = tuple(
        TargetReport("RXA", "ED", "ae_4h", start, end, seen, 1000, 0.95, True)
        for (start, end), seen in zip(itertools.pairwise(MONTHS), SEEN, strict=True)
    )
    alert = AlertRecord(
        "a-1", AlertKind.TARGET_EXPERIENCE_DIVERGENCE, "RXA", "ED", MONTHS[15], MONTHS[16],
        Severity.HIGH, AlertStatus.OPEN, "summary", {}, NOW, NOW, 1, (),
    )  # fmt: skip
    data = ReportData(
        window_kind="week",
        windows=windows,
        target_reports=reports,
        alerts=(alert,),
        counts=StoreCounts(events={}, rejected_by_reason={}, late_events=0),
        data_end=series[-1].window.end,
        board=(row,),
    )
    return data, row


def test_the_target_chart_draws_the_summarys_points_and_verdict() -> None:
    data, row = _data()
    assert row.points == len(SEEN)  # one point per return
    (unit,) = build_view(data).charts
    (chart,) = [c.chart for c in unit.charts if c.measure == "target"]
    assert [p.x for p in chart.points] == list(row.point_starts) == MONTHS[:-1]
    assert [p.y for p in chart.points] == list(row.point_values) == [s / 1000 for s in SEEN]
    assert [p.point_type.value for p in chart.points] == list(row.point_types)
    assert chart.variation.value == row.variation == chart.points[-1].point_type.value
    assert chart.assurance is not None and chart.assurance.value == row.assurance
    assert {(p.mean, p.lpl, p.upl) for p in chart.points} == {(row.mean, row.lpl, row.upl)}


def test_every_target_chart_is_drawn_from_its_stored_row_never_computed() -> None:
    """A unit's further targets (not the board's main one) are judged in the core and stored
    one row per metric (`mdc_targets`): the report draws each stored row, its point types,
    centre and limits as stored, and charts no metric that has no stored row."""
    data, row = _data()
    months = MONTHS[:5]
    further = BoardRecord(
        "RXA", "ED", "target", "ae_12h", months[-2], months[-1], 0.91, 1000, 0.95,
        "special_cause_concern", "inconsistent", 0.9, 4, "increase", tuple(months[:-1]),
        (0.96, 0.95, 0.97, 0.91), ("common_cause", "common_cause", "common_cause",
        "special_cause_concern"), 0.92, 0.98,
    )  # fmt: skip
    reports = [
        TargetReport("RXA", "ED", metric, start, end, seen, 1000, 0.9, True)
        for metric in ("ae_12h", "ae_unjudged")
        for (start, end), seen in zip(itertools.pairwise(months), (960, 950, 970, 910), strict=True)
    ]  # fmt: skip
    data = replace(
        data,
        target_reports=(*data.target_reports, *reports),
        targets=(row, further),  # the main one's row is stored there too
    )
    (unit,) = build_view(data).charts
    charts = {c.metric: c.chart for c in unit.charts if c.measure == "target"}
    assert set(charts) == {"ae_4h", "ae_12h"}  # none for a metric the core did not judge
    chart = charts["ae_12h"]
    assert [p.x for p in chart.points] == list(further.point_starts)
    assert [p.point_type.value for p in chart.points] == list(further.point_types)
    assert {(p.mean, p.lpl, p.upl) for p in chart.points} == {(0.95, 0.92, 0.98)}
    assert chart.assurance is not None and chart.assurance.value == "inconsistent"


def test_a_unit_without_a_target_chart_says_why_from_its_stored_rows() -> None:
    """No chart is not a fault: a metric whose stored row is withdrawn (fewer than 3 returns
    since a gap, or none in the charted windows) is named, and a unit with no target row at
    all reports no target. The sentence reads the stored rows only."""
    data, row = _data()
    other = tuple(replace(w, unit_id="ICU", targets=()) for w in data.windows)
    data = replace(
        data,
        windows=(*data.windows, *other),
        board=(),
        targets=(),
        uncharted_targets=(("RXA", "ED", "ae_4h"),),
    )
    charts = {c.unit.unit_id: c for c in build_view(data).charts}
    assert not [c for c in charts["ED"].charts if c.measure == "target"]
    cards = {
        unit: card.split("</article>")[0]
        for unit, card in (
            (part.split('"', 1)[0], part)
            for part in mdc_charts(build_view(data)).split('id="unit-RXA-')[1:]
        )
    }
    said = " ".join(cards["ED"].split())
    assert (
        "No target chart: A&amp;E 4-hour has fewer than 3 returns in force since its "
        "latest gap, or none in the weeks charted." in said
    ), said
    assert "No target chart: no target is reported for this unit." in " ".join(cards["ICU"].split())
    with_chart = replace(data, board=(row,), targets=(row,), uncharted_targets=())
    (card,) = [
        c for c in mdc_charts(build_view(with_chart)).split("</article>") if "unit-RXA-ED" in c
    ]
    assert "No target chart" not in card
