"""The offline HTML report: `build_report(sink, out_path)` reads what ClickHouse holds and writes
one self-contained file (docs/report.md says what it shows and how to read it).

The way through: `queries` reads the stored verdicts and alerts, `build` shapes them into a
`ReportView`, `render` (with the `sections*` modules) writes the HTML.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.report.build import build_view
from pipeline.report.queries import ReadableStore, load_report_data
from pipeline.report.render import render_report

__all__ = ["build_report"]


def build_report(sink: ReadableStore, out_path: Path) -> Path:
    """Read what `sink` holds and write the report to `out_path` (one self-contained file)."""
    view = build_view(load_report_data(sink))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render_report(view), encoding="utf-8")
    return out_path
