"""The report's queries over a store filled through the real sink, and the store the report
tests share: two organisations, six units, a year of weeks, and one of each kind of alert."""

from __future__ import annotations

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.report.queries import load_report_data
from tests.support.report_data import UNITS, WEEKS


def test_reads_every_unit_window_with_its_targets(filled_sink: ClickHouseSink) -> None:
    data = load_report_data(filled_sink)
    assert data.window_kind == "week"
    assert len(data.windows) == len(UNITS) * WEEKS
    first = data.windows[0]
    assert first.start.tzinfo is not None
    assert first.targets[0].target > 0
    assert {w.unit_id for w in data.windows} == {u[1] for u in UNITS}


def test_reads_alerts_with_evidence_history_and_responses(filled_sink: ClickHouseSink) -> None:
    data = load_report_data(filled_sink)
    by_unit = {(a.org_id, a.unit_id): a for a in data.alerts}
    assert len(data.alerts) == 4
    divergence = by_unit[("RXA", "ED")]
    assert divergence.evidence["targets"][0]["metric"] == "ae_4h"
    assert divergence.versions == 1
    assert [r.response for r in divergence.responses] == ["acknowledged", "investigating"]
    assert by_unit[("RXA", "ORTHO")].status == "withdrawn"


def test_counts_distinct_events(filled_sink: ClickHouseSink) -> None:
    counts = load_report_data(filled_sink).counts
    assert counts.events["alert_response"] == 2
    assert counts.rejected == 0
