"""The board's target row: one point per return in force, with the return's own figures.

Monthly returns straddle weekly windows; the row must neither blend neighbouring months nor
invent a month (a week starting in July that carries August's share), and must read the same
after a restore from the small state the step stores.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pipeline.core.board import BoardRow
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.engine_state import RestoredState
from pipeline.core.spc import Direction, xmr
from tests.support.events import metric, raw

KEY = b"k" * 16
# Months of 2024 from February: none starts on a Monday, so every month boundary falls inside
# a week, and the week of 29 July holds July's last days and August's first.
MONTHS = [datetime(2024, m, 1, tzinfo=UTC) for m in range(2, 10)]
FIGURES = [(640, 686), (900, 1013), (700, 790), (1200, 1290), (500, 611), (930, 1001), (800, 870)]
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _events() -> list[dict[str, object]]:
    return [
        metric(
            occurred_at=end.isoformat(),
            period_start=start.isoformat(),
            period_end=end.isoformat(),
            numerator=numerator,
            denominator=denominator,
        )
        for (start, end), (numerator, denominator) in zip(
            itertools.pairwise(MONTHS), FIGURES, strict=True
        )
    ]


def _target(rows: list[BoardRow]) -> BoardRow:
    """The row the store keeps: the latest version (ReplacingMergeTree by `version`)."""
    return max((r for r in rows if r.measure == "target"), key=lambda r: r.version)


def test_one_point_per_return_with_the_returns_own_figures() -> None:
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), KEY)
    result = engine.process(raw(*_events()), NOW)
    row = _target(result.board + engine.finish(NOW).board)
    returned = len(FIGURES)
    assert row.points == returned and len(row.point_values) == returned
    assert row.point_starts == tuple(MONTHS[:-1]) and row.point_ends == tuple(MONTHS[1:])
    assert row.point_values == tuple(n / d for n, d in FIGURES)  # exactly, not blended
    assert row.point_sizes == tuple(float(d) for _, d in FIGURES)
    assert row.value == FIGURES[-1][0] / FIGURES[-1][1] and row.sample_size == FIGURES[-1][1]
    chart = xmr(list(row.point_values), improvement=Direction.INCREASE, target=0.95)
    assert row.point_types == tuple(p.point_type.value for p in chart.points)
    assert row.variation == row.point_types[-1]
    assert (row.mean, row.lpl, row.upl) == (chart.points[-1].mean, chart.points[-1].lpl,
                                            chart.points[-1].upl)  # fmt: skip
    assert chart.assurance is not None and row.assurance == chart.assurance.value


def test_a_revised_return_replaces_its_figures_and_a_restore_reads_the_same_points() -> None:
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), KEY)
    revised = metric(
        occurred_at=(MONTHS[2] + timedelta(days=9)).isoformat(),
        period_start=MONTHS[1].isoformat(),
        period_end=MONTHS[2].isoformat(),
        numerator=950,
        denominator=1000,
    )
    result = engine.process(raw(*_events(), revised), NOW)
    row = _target(result.board + engine.finish(NOW).board)
    assert row.points == len(FIGURES) and row.point_values[1] == 0.95  # March as revised
    # The step stores each window's aggregate and its reports apart: a restore gets them so.
    records = [replace(r, aggregate=replace(r.aggregate, reports=())) for r in result.window_state]
    latest = max(r.aggregate.window.start for r in records)
    again = Engine(EngineConfig(allowed_lateness=timedelta(0)), KEY)
    restored = again.restore_state(RestoredState(records, (), latest), NOW)
    after = _target(restored.board + again.finish(NOW).board)
    assert after.point_values == row.point_values and after.point_starts == row.point_starts
    assert after.variation == row.variation and after.assurance == row.assurance
