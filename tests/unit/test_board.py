"""The board's Making Data Count summary, and FFT themes counted per window."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.core.aggregates import UnitWindowAggregate, UnitWindowState
from pipeline.core.board import BoardRow, board_rows
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.verdicts import VerdictClass, unit_verdicts
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.events import Harm, IncidentCategory
from pipeline.core.windows import Window
from tests.support.events import feedback, metric, raw

T0 = datetime(2024, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)


def weeks(good: list[int], poor: int = 4, harmful: int = 2) -> list[UnitWindowAggregate]:
    out = []
    for n, positive in enumerate(good):
        state = UnitWindowState("RXA", "ED", Window(T0 + n * WEEK, T0 + (n + 1) * WEEK))
        for _ in range(positive):
            state.add_feedback(1, ["kindness"])
        for _ in range(poor):
            state.add_feedback(5, ["waiting", "waiting", "food"])
        for _ in range(harmful):
            state.add_incident(Harm.LOW, IncidentCategory.FALL)
        out.append(state.snapshot())
    return out


def test_the_latest_window_shows_its_variation_and_sample_size() -> None:
    steady = [40, 42, 41, 39, 40, 43, 41, 40, 42, 41]
    rows = {r.measure: r for r in board_rows(weeks([*steady, 10]))}
    experience = rows["experience"]
    assert experience.variation == "special_cause_concern"  # a fall in good ratings
    assert experience.sample_size == 14 and experience.value == 10 / 14
    assert experience.window_start == T0 + 10 * WEEK and experience.points == 11
    assert rows["safety"].variation == "common_cause" and rows["safety"].metric == ""
    assert rows["target"].variation == "withdrawn"  # no target reported: no current reading
    calm = {r.measure: r for r in board_rows(weeks([*steady, 41]))}
    assert calm["experience"].variation == "common_cause"


def test_a_target_gets_one_point_a_month_an_assurance_and_rates_are_per_activity() -> None:
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), b"k" * 16)
    events = [
        feedback(occurred_at=(T0 + n * WEEK + timedelta(hours=9)).isoformat(), rating=1 + n % 2)
        for n in range(26)  # January to June 2024
    ]
    months = [datetime(2024, m, 1, tzinfo=UTC) for m in range(1, 8)]
    for (start, end), seen in zip(
        itertools.pairwise(months), [960, 940, 955, 945, 958, 942], strict=True
    ):
        events.append(
            metric(period_start=start.isoformat(), period_end=end.isoformat(), numerator=seen)
        )
    result = engine.process(raw(*events), T0 + 40 * WEEK)
    final = engine.finish(T0 + 40 * WEEK)
    rows = {r.measure: r for r in result.board + final.board}
    target = rows["target"]
    assert target.metric == "ae_4h" and target.target == 0.95
    assert target.points == 6  # one a month, not one a week
    assert target.assurance == "inconsistent"  # 94% to 96% around a 95% target
    assert target.value == pytest.approx(0.942)  # June, as returned
    assert rows["safety"].metric == "per_1000"
    series = engine.closed_series()[("RXA", "ED")]
    assert target.version == sum(w.contributions for w in series)
    # Later weeks hold only June's and July's target returns, no feedback or incidents: the
    # latest week is the last one closed with feedback (the week of 24 June is still open).
    assert rows["experience"].window_start == T0 + 24 * WEEK
    assert rows["safety"].window_start == T0 + 24 * WEEK


def test_a_unit_that_sends_only_target_returns_has_its_target_summarised() -> None:
    """Imported A&E returns (`pipeline import ae-monthly`) hold no feedback or incidents: the
    board still shows the target's variation and assurance, and claims no experience or harm
    (a harm rate of 0 would read as a safe unit)."""
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), b"k" * 16)
    months = [datetime(2024, m, 1, tzinfo=UTC) for m in range(1, 9)]
    events = [
        metric(
            occurred_at=end.isoformat(),
            period_start=start.isoformat(),
            period_end=end.isoformat(),
            numerator=seen,
        )
        for (start, end), seen in zip(
            itertools.pairwise(months), [700, 720, 710, 690, 705, 715, 700], strict=True
        )
    ]
    result = engine.process(raw(*events), T0 + 40 * WEEK)
    final = engine.finish(T0 + 40 * WEEK)
    rows = {r.measure: r for r in result.board + final.board}
    assert {m for m, r in rows.items() if r.variation != "withdrawn"} == {"target"}
    target = rows["target"]
    assert target.metric == "ae_4h" and target.points == 7
    assert target.assurance == "consistent_fail"  # about 70% against 95%
    assert target.value == pytest.approx(0.700)  # July, as returned


def test_a_measure_missing_from_the_latest_window_shows_its_latest_figure_named() -> None:
    """A week without feedback, or weeks before the month's target return has come, keep the
    measure's latest figure with its own window (the report names it: `latest: week of …`),
    whether the worker judged week by week or a replay judged once at the end."""
    steady = [40, 42, 41, 39, 40, 43, 41, 40, 42, 41]
    *judged, quiet = weeks([*steady, 0], poor=0)
    rows = {r.measure: r for r in board_rows([*judged, quiet])}
    assert rows["safety"].window_start == quiet.window.start
    assert rows["experience"].window_start == judged[-1].window.start
    assert rows["experience"].variation == "common_cause" and rows["experience"].points == 10

    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), b"k" * 16)
    events = [
        feedback(occurred_at=(T0 + n * WEEK + timedelta(hours=9)).isoformat(), rating=1 + n % 2)
        for n in range(34)  # January to August 2024
    ]
    months = [datetime(2024, m, 1, tzinfo=UTC) for m in range(1, 8)]  # returns to June only
    for (start, end), seen in zip(
        itertools.pairwise(months), [960, 940, 955, 945, 958, 942], strict=True
    ):
        events.append(
            metric(period_start=start.isoformat(), period_end=end.isoformat(), numerator=seen)
        )
    result = engine.process(raw(*events), T0 + 40 * WEEK)
    rows = {r.measure: r for r in result.board + engine.finish(T0 + 40 * WEEK).board}
    assert rows["experience"].window_start == T0 + 32 * WEEK  # the latest closed
    target = rows["target"]
    assert target.points == 6 and target.value == pytest.approx(0.942)  # June, as returned
    assert target.window_start == datetime(2024, 6, 24, tzinfo=UTC)  # the last week of June's


def test_themes_are_counted_once_per_response() -> None:
    (window,) = weeks([3], poor=2)
    assert dict(window.themes) == {"food": 2, "kindness": 3, "waiting": 2}


def _week(n: int, good: int, poor: int) -> UnitWindowAggregate:
    state = UnitWindowState("RXA", "ED", Window(T0 + n * WEEK, T0 + (n + 1) * WEEK))
    for rating, count in ((1, good), (5, poor)):
        for _ in range(count):
            state.add_feedback(rating, [])
    for _ in range(2):
        state.add_incident(Harm.LOW, IncidentCategory.FALL)
    return state.snapshot()


def _judged(series: list[UnitWindowAggregate]) -> dict[str, BoardRow]:
    verdicts = {(v.measure, v.window.start): v for v in unit_verdicts(series, DetectionConfig())}
    return {r.measure: r for r in board_rows(series, verdicts)}


def test_the_board_shows_the_stored_verdict_of_a_judged_window() -> None:
    """Once a unit is judged, the board's variation is the verdict the alerts stand on."""
    steady = [40, 42, 41, 39, 40, 43, 41, 40, 42, 41, 40, 42, 41]
    # 10 good of 14: the summary's own XmR chart (limits from every point) calls it a concern,
    # but 4 poor ratings of 14 are within the unit's exact limits: no alert, and no concern.
    small = weeks([*steady, 10])
    assert {r.measure: r for r in board_rows(small)}["experience"].variation == (
        "special_cause_concern")  # fmt: skip
    assert _judged(small)["experience"].variation == "common_cause"
    # 20 good of 45 is far beyond them: a concern on both, with the verdict's centre and limits.
    fall = [*weeks(steady), _week(len(steady), 20, 25)]
    rows = _judged(fall)
    verdicts = {v.measure: v for v in unit_verdicts(fall, DetectionConfig())
                if v.window.start == fall[-1].window.start}  # fmt: skip
    shown = verdicts["positive_share"]
    assert rows["experience"].variation == "special_cause_concern"
    assert (rows["experience"].mean, rows["experience"].lpl, rows["experience"].upl) == (
        shown.centre, shown.lower_limit, shown.upper_limit)  # fmt: skip
    # A reporting concern on harm is shown as a concern, never an improvement.
    harm = verdicts["harmful_incident_rate"]
    fell = {("harmful_incident_rate", harm.window.start):
            replace(harm, verdict=VerdictClass.REPORTING_CONCERN)}  # fmt: skip
    assert {r.measure: r for r in board_rows(fall, fell)}["safety"].variation == (
        "special_cause_concern")  # fmt: skip


def test_the_safety_row_of_a_unit_whose_reporting_stopped_is_its_latest_judged_window() -> None:
    """Seen from outside (twenty-fourth session): a unit whose incident reports stopped (no
    feedback either) had nothing reported in its latest weeks, so the board's safety row
    stayed at its last report, "common cause", while the verdicts, charts and an open alert
    showed a reporting concern in every week since. The row is as of the latest window with a
    verdict, and shows it."""
    steady = [40, 42, 41, 39, 40, 43, 41, 40, 42, 41, 40, 42, 41]
    reported = weeks(steady)
    silent = [UnitWindowState("RXA", "ED", Window(T0 + n * WEEK, T0 + (n + 1) * WEEK)).snapshot()
              for n in range(len(steady), len(steady) + 3)]  # fmt: skip
    verdicts = {(v.measure, v.window.start): v for v in unit_verdicts(reported, DetectionConfig())}
    last = verdicts[("harmful_incident_rate", reported[-1].window.start)]
    for w in silent:
        verdicts[("harmful_incident_rate", w.window.start)] = replace(
            last, window=w.window, value=0.0, verdict=VerdictClass.REPORTING_CONCERN
        )
    rows = {r.measure: r for r in board_rows([*reported, *silent], verdicts)}
    safety = rows["safety"]
    assert (safety.window_start, safety.window_end) == (silent[-1].window.start,
                                                        silent[-1].window.end)  # fmt: skip
    assert safety.variation == "special_cause_concern" and safety.value == 0.0
    assert safety.sample_size == 0  # incidents reported in that window (no activity reported)
    assert rows["experience"].window_start == reported[-1].window.start  # its latest figure
