"""The board's target chart: one point per return in force, never a blend of windows.

A target is reported by period (often a calendar month) and a weekly window carries the
overlapping part of each return, so the board does not chart windows for a target: it charts
the returns themselves, each with its own period and its figures as published, and only the
latest run of them without a gap (a moving range across missing years is meaningless). Limits
come from every point shown (one segment, none fixed on a baseline), as the board's other rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pipeline.core.spc import Direction, XmrChart, xmr
from pipeline.core.target_reports import ReportInForce, ReportKey

MIN_POINTS = 3  # fewer points give no moving range worth the name


@dataclass(frozen=True, slots=True)
class TargetChart:
    """The returns charted (oldest first), their figures, the direction and the XmR chart."""

    returns: tuple[ReportInForce, ...]
    values: tuple[float, ...]
    direction: Direction
    chart: XmrChart[datetime]


def target_charts(returns: Iterable[ReportInForce]) -> dict[str, TargetChart | None]:
    """Per metric of `returns`, the chart of its returns in force (the latest revision of
    each period wins), in their latest run without a gap; None with fewer than `MIN_POINTS`
    there."""
    in_force: dict[str, dict[ReportKey, ReportInForce]] = {}
    for r in returns:
        mine = in_force.setdefault(r.metric, {})
        held = mine.get(r.key)
        if held is None or (r.occurred_at, r.event_id) > (held.occurred_at, held.event_id):
            mine[r.key] = r
    return {metric: _chart(mine.values()) for metric, mine in in_force.items()}


def _chart(in_force: Iterable[ReportInForce]) -> TargetChart | None:
    charted = sorted(
        (r for r in in_force if _return_figure(r) is not None),
        key=lambda r: (r.period_start, r.period_end),
    )
    kept = latest_run(charted)
    if len(kept) < MIN_POINTS:
        return None
    latest = kept[-1]
    direction = Direction.INCREASE if latest.higher_is_better else Direction.DECREASE
    values = tuple(v for r in kept if (v := _return_figure(r)) is not None)
    chart = xmr(
        list(values), improvement=direction, x=[r.period_start for r in kept],
        target=latest.target,
    )  # fmt: skip
    return TargetChart(tuple(kept), values, direction, chart)


def latest_run(returns: Sequence[ReportInForce]) -> Sequence[ReportInForce]:
    """The returns (in period order) after the latest gap. A gap is time between two returns
    at least half the shorter one's period: a whole period missing always, two consecutive
    months (a short February, an inclusive end) never."""
    for i in range(len(returns) - 1, 0, -1):
        before, after = returns[i - 1], returns[i]
        shorter = min(
            before.period_end - before.period_start, after.period_end - after.period_start
        )
        if after.period_start - before.period_end >= shorter / 2:
            return returns[i:]
    return returns


def _return_figure(r: ReportInForce) -> float | None:
    """A return's figure as published: its value, or its share (None without a denominator)."""
    if r.value is not None:
        return r.value
    return r.numerator / r.denominator if r.numerator is not None and r.denominator else None
