"""Every target a unit reports is judged in the core and stored, one row per metric.

An ambulance service reports several response-time standards; the board's summary shows one
(the main target). The others were charted by the report itself (its own XmR) and not at all
by Grafana: now each has a stored row judged by the main one's rules, withdrawn when its run
since a gap is too short or it stopped, whatever batches the data came in.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from pipeline.core.board import WITHDRAWN, BoardRow
from pipeline.core.board_target import target_charts
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.target_reports import ReportInForce
from tests.support.events import metric, raw

KEY = b"k" * 16
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _months(year: int, month: int, count: int) -> list[datetime]:
    return [datetime(year + (month - 1 + i) // 12, (month - 1 + i) % 12 + 1, 1, tzinfo=UTC)
            for i in range(count + 1)]  # fmt: skip


def _returns(name: str, starts: list[datetime], denominator: int) -> list[dict[str, object]]:
    return [
        metric(metric=name, occurred_at=(end + timedelta(days=10)).isoformat(),
               period_start=start.isoformat(), period_end=end.isoformat(),
               numerator=round(denominator * (0.7 + (i % 5) / 50)), denominator=denominator,
               target=0.75)
        for i, (start, end) in enumerate(itertools.pairwise(starts))
    ]  # fmt: skip


def _judged(*batches: list[dict[str, object]]) -> tuple[list[BoardRow], list[BoardRow]]:
    """Board rows and target rows of every judgement, in the order they were written."""
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), KEY)
    results = [engine.process(raw(*b), NOW) for b in batches] + [engine.finish(NOW)]
    return [r for x in results for r in x.board], [r for x in results for r in x.targets]


def _stored(rows: list[BoardRow]) -> dict[str, BoardRow]:
    """What `mdc_targets FINAL` holds of one unit's rows written in order: per metric the
    highest version (the later written of equal ones)."""
    held: dict[str, BoardRow] = {}
    for r in rows:
        if r.metric not in held or r.version >= held[r.metric].version:
            held[r.metric] = r
    return held


def test_every_metric_has_its_row_and_the_main_one_is_the_boards_target_row() -> None:
    months = _months(2024, 1, 12)
    events = [*_returns("cat1_mean", months, 900), *_returns("cat2_mean", months, 400)]
    board, targets = _judged(events)
    stored = _stored(targets)
    assert set(stored) == {"cat1_mean", "cat2_mean"}
    main = max((r for r in board if r.measure == "target"), key=lambda r: r.version)
    assert main.metric == "cat1_mean" and stored["cat1_mean"] == main  # the most activity
    further = stored["cat2_mean"]
    numerators = [float(str(e["numerator"])) for e in events[12:]]
    periods = itertools.pairwise(months)
    returns = [
        ReportInForce(NOW, str(i), "cat2_mean", start, end, n, 400, 0.75, True)
        for i, ((start, end), n) in enumerate(zip(periods, numerators, strict=True))
    ]
    chart = target_charts(returns).get("cat2_mean")
    assert chart is not None and further.points == 12
    assert further.point_values == chart.values
    assert further.point_types == tuple(p.point_type.value for p in chart.chart.points)
    assert (further.mean, further.lpl, further.upl) == (
        chart.chart.points[-1].mean,
        chart.chart.points[-1].lpl,
        chart.chart.points[-1].upl,
    )
    assert further.measure == "target" and further.variation != WITHDRAWN


def test_a_further_metric_too_short_after_a_gap_is_withdrawn_in_any_batching() -> None:
    main = _returns("cat1_mean", _months(2023, 1, 24), 900)
    early = _returns("cat2_mean", _months(2023, 1, 6), 400)
    after_gap = _returns("cat2_mean", _months(2024, 11, 2), 400)
    cut = "2023-08"
    first = [e for e in [*main, *early] if str(e["period_start"]) < cut]
    rest = [e for e in [*main, *after_gap] if str(e["period_start"]) >= cut]
    _, in_turn = _judged(first, rest)
    _, at_once = _judged([*main, *early, *after_gap])
    assert any(r.metric == "cat2_mean" and r.points == 6 for r in in_turn)  # stored at first
    assert _stored(in_turn) == _stored(at_once)
    withdrawn = _stored(in_turn)["cat2_mean"]
    assert withdrawn.variation == WITHDRAWN and withdrawn.points == 0
    assert withdrawn.point_values == () and withdrawn.assurance is None
    assert _stored(in_turn)["cat1_mean"].points == 24


def test_a_metric_that_stopped_is_withdrawn_once_no_charted_window_holds_it() -> None:
    # Weekly windows: the board charts the latest 104, about two years. A metric reported
    # in 2021 alone has no return in them by 2024.
    stopped = _returns("cat3_mean", _months(2021, 1, 12), 300)
    main = _returns("cat1_mean", _months(2021, 1, 48), 900)
    _, targets = _judged([*stopped, *main])
    stored = _stored(targets)
    assert stored["cat3_mean"].variation == WITHDRAWN
    assert stored["cat1_mean"].variation != WITHDRAWN
