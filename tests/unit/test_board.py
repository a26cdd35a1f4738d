"""The board's Making Data Count summary, and FFT themes counted per window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.core.aggregates import UnitWindowAggregate, UnitWindowState
from pipeline.core.board import board_rows
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
    assert "target" not in rows  # no target reported
    calm = {r.measure: r for r in board_rows(weeks([*steady, 41]))}
    assert calm["experience"].variation == "common_cause"


def test_a_target_gets_an_assurance_and_rates_are_per_activity() -> None:
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), b"k" * 16)
    events = [
        feedback(occurred_at=(T0 + n * WEEK + timedelta(hours=9)).isoformat(), rating=1 + n % 2)
        for n in range(9)
    ]
    for n, seen in enumerate([960, 940, 955, 945, 950, 965, 935, 958, 942]):
        start, end = T0 + n * WEEK, T0 + (n + 1) * WEEK
        events.append(
            metric(period_start=start.isoformat(), period_end=end.isoformat(), numerator=seen)
        )
    result = engine.process(raw(*events), T0 + 20 * WEEK)
    final = engine.finish(T0 + 20 * WEEK)
    rows = {r.measure: r for r in result.board + final.board}
    assert rows["target"].metric == "ae_4h" and rows["target"].target == 0.95
    assert rows["target"].assurance == "inconsistent"  # 93.5% to 96.5% around a 95% target
    assert rows["target"].value == 0.942 and rows["target"].sample_size == 1000
    assert rows["safety"].metric == "per_1000"
    assert rows["experience"].version == sum(
        w.contributions for w in engine.closed_series()[("RXA", "ED")]
    )


def test_themes_are_counted_once_per_response() -> None:
    (window,) = weeks([3], poor=2)
    assert dict(window.themes) == {"food": 2, "kindness": 3, "waiting": 2}
