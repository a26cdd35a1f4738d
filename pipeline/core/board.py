"""The board's view: a Making Data Count summary of every unit and measure, latest window.

For each unit the core reads its closed windows as XmR charts (NHS England Making Data Count)
of three measures, and keeps what the summary table's icons show: the latest window's variation
(common cause, special cause of concern or improvement) and, where there is a target, the
assurance (the process will consistently pass, fail, or hit and miss), with the sample size
behind the latest point. Computed once here and stored; the report and Grafana read it.

- `experience`: the share of FFT responses rating care good or very good (higher is better),
  sample size the responses that gave a view.
- `safety`: harmful incidents per 1,000 activity where the unit reports activity, else per
  window (lower is better), sample size the activity (or the incidents reported).
- `target`: attainment of the unit's main target (the metric with the most activity; the
  direction and target as reported), one point per calendar month (targets are returned
  monthly), sample size its denominator.

Limits come from every closed window of the unit (at most `MAX_POINTS`, the latest), not fixed
on a baseline: a summary of how each process stands now. Where the latest window of experience
or safety has a verdict (`detection.verdicts`, given by the engine), the row shows that verdict
instead: its value, centre, limits and class, so the board never disagrees with the alerts
(experience is a concern when either share is; a harm fall whose reporting fell is a concern,
never an improvement). Only a window still in the unit's learning period keeps the XmR reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection.resume import MISSING, Memo
from pipeline.core.detection.verdicts import Verdict, VerdictClass
from pipeline.core.spc import Direction
from pipeline.core.spc_latest import latest_point

MAX_POINTS = 104
MIN_POINTS = 3  # fewer points give no moving range worth the name


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One unit and measure in the summary table (latest closed window)."""

    org_id: str
    unit_id: str
    measure: str
    metric: str
    window_start: datetime
    window_end: datetime
    value: float
    sample_size: float
    mean: float
    lpl: float | None
    upl: float | None
    improvement: str
    variation: str
    assurance: str | None
    target: float | None
    points: int
    version: int
    """Events behind the charted windows: grows with the data, so it orders stored versions."""


def board_rows(
    series: Sequence[UnitWindowAggregate],
    verdicts: Mapping[tuple[str, datetime], Verdict] | None = None,
) -> list[BoardRow]:
    """The summary rows of one unit's closed windows (in time order); `verdicts`: the unit's
    verdicts by (measure, window start) (see the module docstring)."""
    key = tuple(map(id, series))
    held = _ROWS.get(key)
    if held is MISSING:  # a unit judged with its organisation, its own windows unchanged
        held = (tuple(series), _board_rows(series))
        _ROWS.put(key, held)
    rows: list[BoardRow] = held[1][:]
    return [_with_verdict(row, verdicts) for row in rows] if verdicts else rows


_ROWS = Memo("board")  # per unit: its rows, by its frozen windows (matched by identity, held)
_VARIATION = {
    VerdictClass.CONCERN: "special_cause_concern",
    VerdictClass.REPORTING_CONCERN: "special_cause_concern",
    VerdictClass.IMPROVEMENT: "special_cause_improvement",
    VerdictClass.COMMON_CAUSE: "common_cause",
}
_SHOWN = {"experience": ("positive_share", "negative_share"), "safety": ("harmful_incident_rate",)}


def _with_verdict(row: BoardRow, verdicts: Mapping[tuple[str, datetime], Verdict]) -> BoardRow:
    judged = [
        v
        for m in _SHOWN.get(row.measure, ())
        if (v := verdicts.get((m, row.window_start))) is not None
        and v.verdict is not VerdictClass.WITHDRAWN
    ]
    if not judged:
        return row
    shown = judged[0]  # positive share for experience: the figure the board charts
    order = list(_VARIATION)
    worst = min((v.verdict for v in judged), key=order.index)
    return replace(
        row,
        value=shown.value,
        mean=shown.centre,
        lpl=shown.lower_limit,
        upl=shown.upper_limit,
        variation=_VARIATION[worst],
    )


def _board_rows(series: Sequence[UnitWindowAggregate]) -> list[BoardRow]:
    version = sum(a.contributions for a in series)
    # Trailing windows nothing was reported into (a monthly target return reaching past the
    # latest feedback and incidents) are not the unit's latest window.
    while series and not series[-1].reported:
        series = series[:-1]
    series = series[-MAX_POINTS:]
    if not series:
        return []
    out = []
    shares = [(a, a.positive_share, float(a.fft_responses)) for a in series]
    out += _row(series, "experience", "", shares, Direction.INCREASE, None, version)
    per_activity = any(a.activity for a in series)
    harm = [
        (a, _harm_rate(a, per_activity), a.activity if per_activity else float(a.incidents))
        for a in series
    ]
    out += _row(series, "safety", "per_1000" if per_activity else "", harm, Direction.DECREASE,
                None, version)  # fmt: skip
    totals: dict[str, float] = {}
    for a in series:
        for t in a.targets:
            totals[t.metric] = totals.get(t.metric, 0.0) + t.denominator
    if totals:
        metric = max(totals, key=lambda m: (totals[m], m))
        out += _target_row(series, metric, version)
    return out


def _target_row(series: Sequence[UnitWindowAggregate], metric: str, version: int) -> list[BoardRow]:
    """Targets are reported by calendar month (a weekly window carries its month's share), so
    the target chart has one point per month: the month's attainment over its windows."""
    months: dict[tuple[int, int], list[float]] = {}
    last: dict[tuple[int, int], UnitWindowAggregate] = {}
    setting: tuple[float, bool] | None = None
    for a in series:
        found = next((t for t in a.targets if t.metric == metric), None)
        if found is None:
            continue
        key = (a.window.start.year, a.window.start.month)
        sums = months.setdefault(key, [0.0, 0.0])
        sums[0] += found.numerator
        sums[1] += found.denominator
        last[key] = a
        setting = (found.target, found.higher_is_better)
    if setting is None or last[max(last)] is not series[-1]:
        return []
    points = [(last[k], num / den, den) for k, (num, den) in sorted(months.items()) if den > 0]
    direction = Direction.INCREASE if setting[1] else Direction.DECREASE
    charted = [aggregate for aggregate, _, _ in points]
    return _row(charted, "target", metric, points, direction, setting[0], version)


def _harm_rate(a: UnitWindowAggregate, per_activity: bool) -> float | None:
    if not per_activity:
        return float(a.harmful_incidents)
    activity = a.activity
    return 1000.0 * a.harmful_incidents / activity if activity else None


def _row(
    series: Sequence[UnitWindowAggregate],
    measure: str,
    metric: str,
    points: Sequence[tuple[UnitWindowAggregate, float | None, float | None]],
    improvement: Direction,
    target: float | None,
    version: int,
) -> list[BoardRow]:
    kept = [(a, v, n) for a, v, n in points if v is not None]
    if len(kept) < MIN_POINTS or kept[-1][0] is not series[-1]:
        return []  # the latest window has no figure for this measure: nothing to summarise
    values = [float(v) for _, v, _ in kept if v is not None]
    latest, assurance = latest_point(values, improvement=improvement, target=target)
    aggregate, _, size = kept[-1]
    return [
        BoardRow(
            org_id=aggregate.org_id,
            unit_id=aggregate.unit_id,
            measure=measure,
            metric=metric,
            window_start=aggregate.window.start,
            window_end=aggregate.window.end,
            value=latest.y,
            sample_size=float(size or 0.0),
            mean=latest.mean,
            lpl=latest.lpl,
            upl=latest.upl,
            improvement=improvement.value,
            variation=latest.point_type.value,
            assurance=assurance.value if assurance else None,
            target=target,
            points=len(values),
            version=version,
        )
    ]
