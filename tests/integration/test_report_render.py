"""The whole report from a filled store: sections, headings that say the finding, one file."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.report import build_report, sections_charts
from pipeline.report.build import build_view
from pipeline.report.queries import load_report_data
from pipeline.report.render import render_report

GENERATED = datetime(2025, 4, 2, 8, 0, tzinfo=UTC)
VOID = {"meta", "br", "input", "img", "link", "hr"}


class VisibleHeadings(HTMLParser):
    """The h2 texts a reader sees before picking another period (outside `hidden` blocks)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []
        self.headings: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        hidden = any(name == "hidden" for name, _ in attrs) or (bool(self.stack) and self.stack[-1])
        self.stack.append(hidden)
        if tag == "h2" and not hidden:
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        self.stack.pop()
        if tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)


def visible_headings(html: str) -> list[str]:
    parser = VisibleHeadings()
    parser.feed(html)
    return parser.headings


def test_report_has_every_section_with_a_finding_for_a_heading(
    filled_sink: ClickHouseSink,
) -> None:
    view = build_view(load_report_data(filled_sink))
    html = render_report(view, GENERATED)
    for section in ("findings", "divergence", "dark-spots", "bright", "charts", "alerts", "method"):
        assert f'<section id="{section}"' in html
    headings = visible_headings(html)
    assert headings[0] == "What this report found"
    assert headings[1].startswith("2 units hit their targets while patients' experience")
    assert "RXA ED" in headings[1] and "RXB GENSURG" in headings[1]
    assert headings[2] == (
        "1 dark spot inside organisations whose overall figures look fine: RXB GENSURG"
    )
    assert headings[3].startswith("Bright spots: 0 unit measures now better than")
    assert headings[4] == (
        "Making Data Count charts for every unit (6 units, those with an alert first)"
    )
    assert headings[5] == ("3 alerts open, 2 alerts resolved; the safety team has responded to 1")
    assert html.count('class="chart chart-xmr"') == 18  # 6 units x target, experience, harm
    # two scatters and a chart per organisation for each of the three periods offered
    assert len(view.periods) == 3
    assert html.count('class="chart chart-scatter"') == 2 * 3
    assert html.count('class="chart chart-strip"') == 2 * 3


def test_earlier_periods_are_offered_and_show_what_happened_then(
    filled_sink: ClickHouseSink,
) -> None:
    view = build_view(load_report_data(filled_sink))
    latest, autumn, summer = view.periods
    assert [u.unit_id for u in latest.missing_the_point] == ["ED", "GENSURG"]
    # harm rose at MATERNITY; ED's alert began in the period's last week
    assert [u.unit_id for u in autumn.missing_the_point] == ["ED", "MATERNITY"]
    assert summer.missing_the_point == []
    assert latest.baseline_windows == 26 and summer.baseline_windows == 13
    html = render_report(view, GENERATED)
    assert html.count('<div class="period" data-period="') == 3 * 3
    assert html.count(" hidden>") == 2 * 3


def test_alert_list_shows_evidence_responses_and_leaves_withdrawn_alerts_out(
    filled_sink: ClickHouseSink,
) -> None:
    html = render_report(build_view(load_report_data(filled_sink)), GENERATED)
    # Free text is never shown, redacted or not: only that a note was given, and its length.
    assert "Seen by the ED matron" not in html and "corridor care" not in html
    assert "a note of 22 characters (not shown)" in html
    assert "Investigating" in html and "patient safety lead" in html
    assert "Withdrawn: late reports" not in html
    assert "1 alert withdrawn" in html
    assert "XmR (Making Data Count) on weekly positive share" in html


def test_report_is_one_self_contained_file(filled_sink: ClickHouseSink, tmp_path: Path) -> None:
    path = build_report(filled_sink, tmp_path / "out" / "report.html")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "<style>" in html and "<script>" in html
    assert path.stat().st_size < 1_000_000


def test_an_empty_store_gives_a_report_that_says_so(tmp_path: Path) -> None:
    sink = ClickHouseSink(f"chdb://{tmp_path / 'ch'}", "quality", "week")
    try:
        sink.migrate()
        html = build_report(sink, tmp_path / "report.html").read_text(encoding="utf-8")
    finally:
        sink.close()
    assert "No unit windows stored yet" in html
    assert "No alerts" in html


def test_a_large_trust_charts_the_most_pressing_units_and_names_the_rest(
    filled_sink: ClickHouseSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sections_charts, "MAX_CHARTED_UNITS", 1)
    html = render_report(build_view(load_report_data(filled_sink)), GENERATED)
    assert html.count('class="chart chart-xmr"') == 3
    assert 'id="unit-RXA-ED"' in html  # the open, high-severity alert comes first
    assert "Not charted here, to keep this file light (5 units" in html
