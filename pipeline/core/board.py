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
- `target`: the unit's main target (the metric with the most activity; the direction and
  target as reported), one point per return in force in its latest run without a gap: the
  return's own period and figures as published (a share, or a value such as minutes), sample
  size its denominator. The row keeps
  every point (`point_*`) with its type, so the report draws this chart and never its own.
  Every target metric of the unit, the main one included, has such a row of its own
  (`unit_board`'s second list, `board_targets`), so each of them is judged here too.

Limits come from every closed window of the unit (at most `MAX_POINTS`, the latest), not fixed
on a baseline: a summary of how each process stands now. Where the latest window of experience
or safety has a verdict (`detection.verdicts`, given by the engine), the row shows that verdict
instead: its value, centre, limits and class, so the board never disagrees with the alerts
(experience is a concern when either share is; a harm fall whose reporting fell is a concern,
never an improvement). A window with no verdict (the unit's learning period, harm before its
first incident report) is `not_judged` (`board_row.NOT_JUDGED`): its figure, no centre, no
limits, as its chart shows it; before JUDGEMENT_RULES 23 it kept the XmR reading ("common
cause") while the chart said "not judged yet". Without `verdicts` (None) the rows are the
XmR reading alone.

Each measure's row is as of its own latest figure (a week without feedback, or the weeks
before a month's target return comes, leave it at an earlier window, which it names), or of a
later window with a verdict: a unit whose reporting stopped has nothing reported in its latest
weeks, yet they are judged (a reporting concern), and its safety row shows that (since
JUDGEMENT_RULES 26; it stayed at the last report, "common cause"). Windows holding only target
returns count up to the end of the organisation's latest feedback or reports (`data_end`), not
beyond: a unit silent in all but its returns has its target charted on (since JUDGEMENT_RULES
27; it stopped at the unit's last report), a month's return reaching past the data does not. Every
judgement of a unit gives all three measures: one with no figure to summarise (none in the
charted windows, fewer than `MIN_POINTS`, a target whose run since its latest gap is that
short) is a `WITHDRAWN` row, superseding whatever an earlier judgement stored, so what is
stored is the latest judgement however the data was batched (readers leave those rows out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import NamedTuple

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.board_row import WITHDRAWN, BoardRow, not_judged_row, withdrawn_row
from pipeline.core.board_target import MIN_POINTS
from pipeline.core.board_targets import target_rows
from pipeline.core.detection.resume import MISSING, Memo, Suffixes
from pipeline.core.detection.verdicts import Verdict, VerdictClass
from pipeline.core.spc import Direction
from pipeline.core.spc_latest import latest_point
from pipeline.core.target_reports import ReportInForce

__all__ = ["MAX_POINTS", "MEASURES", "WITHDRAWN", "BoardRow", "board_rows", "unit_board"]

MAX_POINTS = 104
MEASURES = ("experience", "safety", "target")


class UnitBoard(NamedTuple):
    """A unit's judgement for the board: its three measures' rows (`board_rows`), and a row
    per target metric it reports (the main one is the `target` row of the first list)."""

    rows: list[BoardRow]
    targets: list[BoardRow]


def board_rows(
    series: Sequence[UnitWindowAggregate],
    verdicts: Mapping[tuple[str, datetime], Verdict] | None = None,
) -> list[BoardRow]:
    """The summary rows of one unit's closed windows (in time order); `verdicts`: the unit's
    verdicts by (measure, window start) (see the module docstring; empty: none judged yet)."""
    return unit_board(series, verdicts).rows


def unit_board(
    series: Sequence[UnitWindowAggregate],
    verdicts: Mapping[tuple[str, datetime], Verdict] | None = None,
    data_end: datetime | None = None,
) -> UnitBoard:
    """`board_rows`, and a row per target metric the unit's windows ever held. `data_end`:
    the end of its organisation's latest window holding feedback or incident reports (a unit
    silent in all but its target returns has its targets charted up to there)."""
    key = (data_end, *map(id, series))
    held = _ROWS.get(key)
    if held is MISSING:  # a unit judged with its organisation, its own windows unchanged
        held = (tuple(series), _board_rows(series, data_end))
        _ROWS.put(key, held, (series[0].org_id, series[0].unit_id) if series else None)
    judged: UnitBoard = held[1]
    rows = judged.rows[:]
    if verdicts is not None:
        rows = [_with_verdict(row, verdicts, series) for row in rows]
    return UnitBoard(rows, judged.targets[:])


_ROWS = Memo("board")  # per unit: its rows, by its frozen windows (matched by identity, held)
_VARIATION = {
    VerdictClass.CONCERN: "special_cause_concern",
    VerdictClass.REPORTING_CONCERN: "special_cause_concern",
    VerdictClass.IMPROVEMENT: "special_cause_improvement",
    VerdictClass.COMMON_CAUSE: "common_cause",
}
_SHOWN = {"experience": ("positive_share", "negative_share"), "safety": ("harmful_incident_rate",)}


def _with_verdict(
    row: BoardRow,
    verdicts: Mapping[tuple[str, datetime], Verdict],
    series: Sequence[UnitWindowAggregate],
) -> BoardRow:
    if row.variation == WITHDRAWN:
        return row
    measures = _SHOWN.get(row.measure, ())

    def judged_at(start: datetime) -> list[Verdict]:
        return [
            v
            for m in measures
            if (v := verdicts.get((m, start))) is not None
            and v.verdict is not VerdictClass.WITHDRAWN
        ]

    # A unit whose reporting stopped has nothing reported in its latest windows, yet they are
    # judged (a reporting concern): the row is as of the latest window with a verdict.
    start, size, judged = row.window_start, row.sample_size, judged_at(row.window_start)
    for window in reversed(series):
        if window.window.start <= row.window_start:
            break
        if later := judged_at(window.window.start):
            start, size, judged = window.window.start, _size(row, window), later
            break
    if not judged:
        return not_judged_row(row) if measures else row
    shown = judged[0]  # positive share for experience: the figure the board charts
    order = list(_VARIATION)
    worst = min((v.verdict for v in judged), key=order.index)
    return replace(
        row,
        window_start=start,
        window_end=shown.window.end,
        value=shown.value,
        sample_size=size,
        mean=shown.centre,
        lpl=shown.lower_limit,
        upl=shown.upper_limit,
        variation=_VARIATION[worst],
    )


def _size(row: BoardRow, window: UnitWindowAggregate) -> float:
    """The sample behind `row`'s measure in `window`, as `_board_rows` counts it."""
    if row.measure == "experience":
        return float(window.fft_responses)
    return (window.activity or 0.0) if row.metric == "per_1000" else float(window.incidents)


class _Figures(NamedTuple):
    """What the board reads of one window (its own figures alone, kept per window)."""

    reported: bool
    positive_share: float | None
    responses: float
    activity: float | None
    harmful: int
    incidents: int
    targets: dict[str, tuple[float, float, float, bool]]
    """Per metric, the window's first return: (numerator, denominator, target, higher is
    better)."""
    denominators: tuple[tuple[str, float], ...]
    """(metric, denominator) of every return, in order."""
    returns: tuple[ReportInForce, ...]
    """The returns in force behind the window's targets, as published."""


def _window_figures(a: UnitWindowAggregate) -> _Figures:
    targets: dict[str, tuple[float, float, float, bool]] = {}
    for t in a.targets:  # a metric's first return is the one its chart reads
        targets.setdefault(t.metric, (t.numerator, t.denominator, t.target, t.higher_is_better))
    denominators = tuple((t.metric, t.denominator) for t in a.targets)
    return _Figures(a.reported, a.positive_share, float(a.fft_responses), a.activity,
                    a.harmful_incidents, a.incidents, targets, denominators, a.reports)  # fmt: skip


_WINDOWS: Suffixes[_Figures] = Suffixes("board_windows")


def _board_rows(series: Sequence[UnitWindowAggregate], data_end: datetime | None) -> UnitBoard:
    version = sum(a.contributions for a in series)
    if not series:
        return UnitBoard([], [])
    slot = (series[0].org_id, series[0].unit_id)
    every = _WINDOWS.pointwise(slot, (series,), lambda t: _window_figures(series[t]))
    # Trailing windows nothing was reported into past the organisation's latest data (a
    # monthly target return reaching past the latest feedback and incidents) are not the
    # unit's latest window; within it they are (a unit whose feedback and reports stopped
    # while its returns went on: its target is charted on). A unit that reports nothing but
    # target returns (imported A&E figures) still has its target summarised.
    targets_only = not any(f.reported for f in every)
    end = len(series)
    while (
        end
        and not targets_only
        and not every[end - 1].reported
        and (data_end is None or series[end - 1].window.end > data_end)
    ):
        end -= 1
    begin = max(0, end - MAX_POINTS)
    series, figures = series[begin:end], every[begin:end]
    if not series:
        return UnitBoard([], [])
    out = []
    if not targets_only:  # no feedback and no incident ever: no experience or harm to show
        shares = [(a, f.positive_share, f.responses) for a, f in zip(series, figures, strict=True)]
        out += _row(series, "experience", "", shares, Direction.INCREASE, None, version)
        per_activity = any(f.activity for f in figures)
        harm = [
            (a, _harm_rate(f, per_activity), f.activity if per_activity else float(f.incidents))
            for a, f in zip(series, figures, strict=True)
        ]
        out += _row(series, "safety", "per_1000" if per_activity else "", harm,
                    Direction.DECREASE, None, version)  # fmt: skip
    totals: dict[str, float] = {}
    for f in figures:
        for metric, denominator in f.denominators:
            totals[metric] = totals.get(metric, 0.0) + denominator
    known = {metric for f in every for metric in f.targets}
    targets = target_rows(series, [f.targets.keys() for f in figures],
                          (r for f in figures for r in f.returns), known, version)  # fmt: skip
    if totals:
        main = targets[max(totals, key=lambda m: (totals[m], m))]
        out += [main] if main.variation != WITHDRAWN else []
    shown = {r.measure for r in out}
    out += [withdrawn_row(series[-1], m, version) for m in MEASURES if m not in shown]
    return UnitBoard(out, list(targets.values()))


def _harm_rate(f: _Figures, per_activity: bool) -> float | None:
    if not per_activity:
        return float(f.harmful)
    activity = f.activity
    return 1000.0 * f.harmful / activity if activity else None


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
    if len(kept) < MIN_POINTS:
        return []  # too few figures to summarise
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
