"""The report's queries over a store filled through the real sink, and the store the report
tests share: two organisations, six units, a year of weeks, and one of each kind of alert."""

from __future__ import annotations

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.core.batch import BatchResult
from pipeline.core.board_row import withdrawn_row
from pipeline.report.queries import load_report_data
from tests.support.report_data import DETECTED, UNITS, WEEKS, _aggregates


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
    assert len(data.alerts) == 6
    divergence = by_unit[("RXA", "ED")]
    assert divergence.evidence["targets"][0]["metric"] == "ae_4h"
    assert divergence.versions == 1
    assert [r.response for r in divergence.responses] == ["acknowledged", "investigating"]
    assert by_unit[("RXA", "ORTHO")].status == "withdrawn"


def test_counts_distinct_events(filled_sink: ClickHouseSink) -> None:
    counts = load_report_data(filled_sink).counts
    assert counts.events["alert_response"] == 2
    assert counts.rejected == 0


def test_reads_the_target_metrics_whose_stored_row_is_withdrawn(
    filled_sink: ClickHouseSink,
) -> None:
    """What a unit without a target chart says comes from these rows (the report judges none)."""
    before = load_report_data(filled_sink)
    assert before.uncharted_targets == ()
    charted = {(t.org_id, t.unit_id, t.metric) for t in before.targets}
    org, unit, metric = sorted(charted)[0]
    window = next(a for a in _aggregates() if (a.org_id, a.unit_id) == (org, unit))
    withdrawn = withdrawn_row(window, "target", 1 << 40, metric)  # a later judgement's
    filled_sink.write(BatchResult(targets=[withdrawn]), DETECTED, token="later")
    after = load_report_data(filled_sink)
    assert after.uncharted_targets == ((org, unit, metric),)
    assert {(t.org_id, t.unit_id, t.metric) for t in after.targets} == charted - {
        (org, unit, metric)
    }
