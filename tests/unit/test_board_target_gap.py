"""The board's target row charts only the unit's latest run of returns without a gap.

Real A&E returns cover 2016-19 and 2024-25: limits joining both as if the months were
consecutive said "will consistently meet the target" of units that missed it every month of
the latest year. A gap is a missing period at least as long as one of the returns' own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.core.board import BoardRow
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.spc import Assurance, Direction, xmr
from pipeline.report.build import unit_charts
from pipeline.report.records import BoardRecord
from tests.support.events import metric, raw

KEY = b"k" * 16
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = 0.78
EARLY = [0.93, 0.95, 0.94, 0.96, 0.95, 0.94, 0.93, 0.95, 0.96, 0.94, 0.95, 0.94]
LATEST = [0.74, 0.73, 0.74, 0.72, 0.73, 0.74, 0.73, 0.72, 0.73, 0.74, 0.73, 0.72]


def _months(year: int, month: int, count: int) -> list[datetime]:
    return [datetime(year + (month - 1 + i) // 12, (month - 1 + i) % 12 + 1, 1, tzinfo=UTC)
            for i in range(count + 1)]  # fmt: skip


def _returns(starts: list[datetime], shares: list[float]) -> list[dict[str, object]]:
    return [
        metric(
            occurred_at=(end + timedelta(days=10)).isoformat(),
            period_start=start.isoformat(),
            period_end=end.isoformat(),
            numerator=round(share * 1000),
            denominator=1000,
            target=TARGET,
        )
        for start, end, share in zip(starts, starts[1:], shares, strict=False)
    ]


def _target_row(events: list[dict[str, object]]) -> BoardRow | None:
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), KEY)
    rows = engine.process(raw(*events), NOW).board + engine.finish(NOW).board
    targets = [r for r in rows if r.measure == "target"]
    return max(targets, key=lambda r: r.version) if targets else None


def test_returns_before_a_gap_of_years_are_left_out_of_the_limits() -> None:
    early, latest = _months(2016, 4, 12), _months(2024, 8, 12)
    joined = xmr([*EARLY, *LATEST], improvement=Direction.INCREASE, target=TARGET)
    assert joined.assurance is Assurance.CONSISTENT_PASS  # what the joined limits said
    row = _target_row(_returns(early, EARLY) + _returns(latest, LATEST))
    assert row is not None
    assert row.point_starts == tuple(latest[:-1]) and row.points == len(LATEST)
    assert row.point_values == tuple(n / 1000 for n in (round(s * 1000) for s in LATEST))
    alone = xmr(list(row.point_values), improvement=Direction.INCREASE, target=TARGET)
    assert row.assurance == Assurance.CONSISTENT_FAIL == alone.assurance
    assert (row.mean, row.lpl, row.upl) == (alone.points[-1].mean, alone.points[-1].lpl,
                                            alone.points[-1].upl)  # fmt: skip


def test_one_missing_month_is_a_gap_and_consecutive_months_of_any_length_are_not() -> None:
    months = _months(2024, 1, 12)  # January to December: 28 to 31 days
    shares = [0.80 + i / 100 for i in range(12)]
    whole = _target_row(_returns(months, shares))
    assert whole is not None and whole.points == 12
    without_june = [e for e in _returns(months, shares) if "2024-06-01" not in str(e)]
    row = _target_row(without_june)
    assert row is not None and row.point_starts == tuple(months[6:-1])


def _stored(rows: list[BoardRow]) -> dict[tuple[str, str, str], BoardRow]:
    """What `mdc_summary FINAL` holds of `rows` written in order: per unit and measure the
    highest version (the later written of equal ones), withdrawn rows left out by readers."""
    held: dict[tuple[str, str, str], BoardRow] = {}
    for r in rows:
        key = (r.org_id, r.unit_id, r.measure)
        if key not in held or r.version >= held[key].version:
            held[key] = r
    return {k: r for k, r in held.items() if r.variation != "withdrawn"}


def test_a_latest_run_too_short_to_chart_leaves_no_target_row_however_it_was_batched() -> None:
    """Two returns after the gap: no row charts them (none joins them to the earlier run),
    and the row of 2016-17, stored while those were the latest returns, is withdrawn: a
    running worker's board and a replay of the same returns in one batch agree."""
    early, latest = _months(2016, 4, 12), _months(2024, 8, 2)
    stored = []
    for batches in ([_returns(early, EARLY) + _returns(latest, LATEST[:2])],
                    [_returns(early, EARLY), _returns(latest, LATEST[:2])]):  # fmt: skip
        engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), KEY)
        rows = [r for b in batches for r in engine.process(raw(*b), NOW).board]
        stored.append(_stored(rows + engine.finish(NOW).board))
    assert stored[0] == stored[1]
    assert not [r for r in stored[1].values() if r.measure == "target"]


def test_a_target_not_on_the_board_is_charted_in_the_report_from_its_latest_run_only() -> None:
    """A further target (not the board's main one) follows the same gap rule: judged in the
    core and stored, 2016-17 and 2024-25 returns chart only 2024-25 (joined, 2016-17's 95%
    would set the limits and the assurance), and the report draws that stored row."""
    early, latest = _months(2016, 4, 12), _months(2024, 8, 12)
    main = [{**e, "metric": "ae_4h", "denominator": 5000, "numerator": 4000}
            for e in _returns(early, EARLY) + _returns(latest, LATEST)]  # fmt: skip
    handover = [{**e, "metric": "ambulance_handover"}
                for e in _returns(early, EARLY) + _returns(latest, LATEST)]  # fmt: skip
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), KEY)
    rows = engine.process(raw(*main, *handover), NOW).targets + engine.finish(NOW).targets
    row = max((r for r in rows if r.metric == "ambulance_handover"), key=lambda r: r.version)
    stored = BoardRecord(
        row.org_id, row.unit_id, row.measure, row.metric, row.window_start, row.window_end,
        row.value, row.sample_size, row.mean, row.variation, row.assurance, row.target,
        row.points, row.improvement, row.point_starts, row.point_values, row.point_types,
        row.lpl, row.upl,
    )  # fmt: skip
    charts = [c for c in unit_charts([], [], targets=[stored]) if c.metric == "ambulance_handover"]
    assert len(charts) == 1
    assert [p.x for p in charts[0].chart.points] == latest[:-1]
    assert charts[0].chart.assurance is not None
    assert charts[0].chart.assurance.value == "consistent_fail"
