"""Free text (descriptions, comments, notes) is stored redacted but never shown: no dashboard
query and no report query reads a free-text column or a stored payload."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.grafana import clickhouse_targets, load_dashboards

FREE_TEXT = re.compile(r"\b(description_redacted|comment_redacted|note_redacted|payload)\b")
REPORT = Path(__file__).resolve().parents[2] / "pipeline" / "report"


def test_no_dashboard_reads_free_text() -> None:
    dashboards = load_dashboards()
    queries = [t.query for t in clickhouse_targets(dashboards)]
    queries += [
        json.dumps(a.get("target", {}))
        for d in dashboards.values()
        for a in d.get("annotations", {}).get("list", [])
    ]
    assert len(queries) > 20
    assert [q for q in queries if FREE_TEXT.search(q)] == []


def test_the_report_reads_no_free_text_column() -> None:
    sources = {p.name: p.read_text() for p in REPORT.glob("*.py")}
    assert "queries.py" in sources
    assert {name for name, text in sources.items() if FREE_TEXT.search(text)} == set()
