"""Every target a unit reports, judged: one stored row per metric (pipeline.core.board).

The board's summary shows a unit's main target (the metric with the most activity), but a unit
may report several (an ambulance service's response-time standards). Each is judged here by the
main one's rules (`board_target`: one point per return in force, its latest run without a gap,
at least `MIN_POINTS`), as of the latest charted window holding a return of it. A metric the
unit's windows ever held that has no such chart now (its run since a gap too short, or no
return left in the charted windows: it stopped) has a withdrawn row, superseding the row an
earlier judgement stored. The main target's row here is the board's target row itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.board_row import BoardRow, withdrawn_row
from pipeline.core.board_target import TargetChart, target_charts
from pipeline.core.target_reports import ReportInForce


def target_rows(
    series: Sequence[UnitWindowAggregate],
    held: Sequence[Collection[str]],
    returns: Iterable[ReportInForce],
    known: Iterable[str],
    version: int,
) -> dict[str, BoardRow]:
    """Per metric in `known` (every metric the unit's windows held), its row: `series` are the
    charted windows (not empty), `held[i]` the metrics `series[i]` holds a return of, and
    `returns` the returns in force behind the charted windows."""
    charts = target_charts(returns)
    rows: dict[str, BoardRow] = {}
    for metric in sorted(known):
        found = charts.get(metric)
        if found is None:
            rows[metric] = withdrawn_row(series[-1], "target", version, metric)
        else:
            at = max(i for i, metrics in enumerate(held) if metric in metrics)
            rows[metric] = _row(series[at], metric, found, version)
    return rows


def _row(window: UnitWindowAggregate, metric: str, found: TargetChart, version: int) -> BoardRow:
    """`found` as of `window` (the latest charted window holding a return of `metric`)."""
    chart = found.chart
    point, latest = chart.points[-1], found.returns[-1]
    return BoardRow(
        org_id=window.org_id,
        unit_id=window.unit_id,
        measure="target",
        metric=metric,
        window_start=window.window.start,
        window_end=window.window.end,
        value=point.y,
        sample_size=float(latest.denominator or 0.0),
        mean=point.mean,
        lpl=point.lpl,
        upl=point.upl,
        improvement=found.direction.value,
        variation=point.point_type.value,
        assurance=chart.assurance.value if chart.assurance else None,
        target=latest.target,
        points=len(found.returns),
        version=version,
        point_starts=tuple(r.period_start for r in found.returns),
        point_ends=tuple(r.period_end for r in found.returns),
        point_values=found.values,
        point_sizes=tuple(float(r.denominator or 0.0) for r in found.returns),
        point_types=tuple(p.point_type.value for p in chart.points),
    )
