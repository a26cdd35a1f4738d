"""The SVG charts: well-formed, scaled to their data, coloured the Making Data Count way."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from pipeline.core.spc import Assurance, Direction, PointType, xmr
from pipeline.report import charts, spc_charts, svg

NS = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def test_ticks_are_round_and_cover_the_range() -> None:
    assert svg.ticks(-0.05, 0.05) == [-0.04, -0.02, 0.0, 0.02, 0.04]
    assert svg.ticks(0, 13, 4) == [0, 5, 10]
    assert all(0.7 <= t <= 0.98 for t in svg.ticks(0.7, 0.98, 4))


def test_placed_labels_do_not_overlap_each_other() -> None:
    items = [(100.0 + i, 100.0, f"RXA ward-{i}", False) for i in range(6)]
    placed = svg.place_labels(items, [], (0, 0, 600, 400))
    boxes = [svg.label_box(x, y, anchor, words) for x, y, anchor, words in placed]
    assert 2 <= len(placed) <= 6
    assert all(svg.overlap(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_a_label_that_must_show_shows_even_when_crowded() -> None:
    obstacles = [(0.0, 0.0, 600.0, 400.0)]
    placed = svg.place_labels([(300.0, 200.0, "RXA ED", True)], obstacles, (0, 0, 600, 400))
    assert [words for *_, words in placed] == ["RXA ED"]


def test_scatter_has_one_dot_per_unit_and_labels_the_ones_that_matter() -> None:
    points = [
        charts.ScatterPoint(0.02, -0.15, "RXA ED", "alert", "RXA ED: worse"),
        charts.ScatterPoint(-0.01, 0.01, "RXA AMU", "plain", "RXA AMU"),
        charts.ScatterPoint(0.01, -0.05, "RXB ED", "flag", "RXB ED"),
    ]
    markup = charts.quadrant_scatter(
        points,
        title="t",
        desc="d",
        x_label="x",
        y_label="y",
        quadrants=("a", "b", "c", "Hitting the target,\nmissing the point"),
        fmt_x=str,
        fmt_y=str,
    )
    root = parse(markup)
    assert root.get("class") == "chart chart-scatter"
    assert len(root.findall(f".//{NS}g[@class]")) == 3
    labels = {t.text for t in root.iter(f"{NS}text") if "pt-label" in (t.get("class") or "")}
    assert labels == {"RXA ED", "RXB ED"}
    assert "missing the point" in markup


def test_xmr_chart_colours_special_causes_and_draws_limits_target_and_the_alert() -> None:
    start = datetime(2024, 4, 1, tzinfo=UTC)
    x = [start + timedelta(weeks=i) for i in range(30)]
    values = [0.9 + (0.01 if i % 2 else -0.01) for i in range(22)] + [0.7] * 8
    chart = xmr(values, improvement=Direction.INCREASE, x=x, target=0.85, fix_after_n_points=22)
    root = parse(
        spc_charts.xmr_chart(
            chart, title="t", desc="d", fmt=lambda v: f"{v:.0%}", highlight=[(x[22], x[29])]
        )
    )
    circles = root.findall(f".//{NS}circle")
    assert len(circles) == 30
    concern = [c for c in circles if "special_cause_concern" in (c.get("class") or "")]
    assert len(concern) == 8
    assert {c.get("fill") for c in concern} == {svg.CONCERN}
    assert {c.get("fill") for c in circles[:22]} == {svg.COMMON}
    assert root.find(f".//{NS}line[@class='target']") is not None
    assert root.find(f".//{NS}rect[@class='alert-band']") is not None
    assert len(root.findall(f".//{NS}path[@class='limit']")) == 2


def test_icons_say_what_they_show() -> None:
    concern = spc_charts.variation_icon(PointType.SPECIAL_CAUSE_CONCERN, high=False)
    assert ">L<" in concern and svg.CONCERN in concern
    assert "common cause" in spc_charts.variation_icon(PointType.COMMON_CAUSE, high=True)
    assert ">P<" in spc_charts.assurance_icon(Assurance.CONSISTENT_PASS)
    assert ">F<" in spc_charts.assurance_icon(Assurance.CONSISTENT_FAIL)
    assert "no target" in spc_charts.assurance_icon(None)


def test_org_chart_has_a_row_per_unit_and_marks_the_dark_spot() -> None:
    rows = [
        charts.StandingRow("ED", 0.71, 0.85, True, "71%", "ED: fallen behind"),
        charts.StandingRow("AMU", 0.9, 0.89, False, "90%", "AMU"),
        charts.StandingRow("a-very-long-ward-name", 0.93, None, False, "93%", "ward"),
    ]
    root = parse(charts.org_dumbbell(rows, 0.87, title="t", desc="d", fmt=str))
    dots = root.findall(f".//{NS}g[@class='pt']/{NS}circle")
    assert [d.get("fill") for d in dots] == [svg.CONCERN, svg.COMMON, svg.COMMON]
    assert len(root.findall(f".//{NS}circle[@class='usual']")) == 2
    labels = [t.text for t in root.iter(f"{NS}text")]
    assert "a-very-long-ward-name" in labels  # names are not cut: the margin fits them
    assert int(root.get("viewBox", "0 0 0 0").split()[2]) == 560  # and the chart still fits


def test_text_is_escaped() -> None:
    markup = charts.quadrant_scatter(
        [charts.ScatterPoint(0.1, 0.1, "<b>&", "alert", "<script>")],
        title="<t>",
        desc="d",
        x_label="x",
        y_label="y",
        quadrants=("a", "b", "c", "d"),
        fmt_x=str,
        fmt_y=str,
    )
    assert "<script>" not in markup and "<b>" not in markup
    parse(markup)
