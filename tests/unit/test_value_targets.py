"""Targets in the value form (contract v1.1): a time in minutes against a standard, with the
distance to the target kept, not just met or missed."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.core.decode import RawMessage, Rejection, RejectReason, decode
from pipeline.core.detection.text import in_unit, targets_evidence
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.events import MAX_VALUE, MIN_VALUE_TARGET, TargetMetric
from pipeline.core.target_reports import TargetAttainment
from pipeline.core.windows import WindowKind, window_of
from tests.support.events import feedback, metric

NOW = datetime(2024, 6, 1, tzinfo=UTC)
KEY = b"test-key-0123456789abcdef"


def value_metric(value: float, **changes: object) -> dict[str, object]:
    event = metric(metric="amb_c2_mean", value=value, unit="minutes", target=18.0)
    event.update(higher_is_better=False, **changes)
    del event["numerator"], event["denominator"]
    return event


def test_a_value_target_decodes_and_says_which_form_it_is() -> None:
    event = decode(json.dumps(value_metric(27.4)).encode())
    assert isinstance(event, TargetMetric)
    assert (event.is_share, event.value, event.unit, event.target) == (False, 27.4, "minutes", 18)


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"unit": ...}, RejectReason.MISSING_FIELD, "unit"),
        ({"unit": "seconds"}, RejectReason.INVALID_VALUE, "unit"),
        ({"value": -1.0}, RejectReason.INVALID_VALUE, "value"),
        ({"value": "27"}, RejectReason.WRONG_TYPE, "value"),
        ({"numerator": 1}, RejectReason.INVALID_VALUE, ""),
        ({"target": 0}, RejectReason.INVALID_VALUE, "target"),
    ],
)
def test_a_bad_value_target_is_refused(
    changes: dict[str, object], reason: RejectReason, field: str
) -> None:
    event = value_metric(27.4)
    for name, value in changes.items():
        if value is ...:
            event.pop(name)
        else:
            event[name] = value
    outcome = decode(json.dumps(event).encode())
    assert isinstance(outcome, Rejection)
    assert (outcome.reason, outcome.field) == (reason, field)


@pytest.mark.parametrize(
    ("value", "target"), [(1.7e308, 18.0), (27.4, 1.7e308), (27.4, 5e-324), (1e13, 1e13)]
)
def test_extreme_values_are_valid_by_the_contract_and_dead_lettered_with_the_reason(
    value: float, target: float
) -> None:
    # The shared contract takes any value >= 0 and any positive target: such an event is
    # valid (publish --check accepts it), and the engine dead-letters it as processing_error,
    # naming the figure, rather than summing it into overflow (judging raised on it before).
    raw = json.dumps(value_metric(value, target=target)).encode()
    assert isinstance(decode(raw), TargetMetric)
    engine = Engine(EngineConfig(window=WindowKind.WEEK), KEY)
    result = engine.process([RawMessage(raw, "t:0")], NOW)
    assert not result.accepted and len(result.rejected) == 1
    rejection = result.rejected[0].rejection
    assert rejection.reason is RejectReason.PROCESSING_ERROR
    named = value if value > MAX_VALUE else target
    assert f"{named:g}" in rejection.detail


def test_a_value_target_above_one_is_fine_where_a_share_is_not() -> None:
    assert not isinstance(decode(json.dumps(value_metric(120.0, target=120.0)).encode()), Rejection)
    share = decode(json.dumps(metric(target=1.5)).encode())
    assert isinstance(share, Rejection) and share.field == "target"


def weeks_of_extreme_values(value: float, target: float) -> list[dict[str, object]]:
    """30 weekly returns alternating `value` and 0 against `target`, with a second metric at
    `value` against `value`, and feedback every week (so the unit's board is judged)."""
    events: list[dict[str, object]] = []
    for week in range(30):
        start = datetime(2023, 10, 2, tzinfo=UTC) + timedelta(weeks=week)
        period = {
            "period_start": start.isoformat(),
            "period_end": (start + timedelta(weeks=1)).isoformat(),
            "occurred_at": (start + timedelta(weeks=1)).isoformat(),
        }
        events.append(value_metric(value if week % 2 else 0.0, target=target, **period))
        events.append(value_metric(value, target=value, metric="amb_c1_mean", **period))
        occurred = (start + timedelta(days=1)).isoformat()
        events += [feedback(rating=1 + i % 5, occurred_at=occurred) for i in range(40)]
    return events


def test_values_and_targets_at_their_bounds_are_judged() -> None:
    # Near the float maximum a month's summed values overflowed and judging raised on valid
    # events (a worker would fail on them again at every restart); within the bounds every
    # figure stays finite, a huge value beside a tiny target included.
    engine = Engine(EngineConfig(window=WindowKind.WEEK), KEY)
    events = weeks_of_extreme_values(MAX_VALUE, MIN_VALUE_TARGET)
    result = engine.process(
        [RawMessage(json.dumps(e).encode(), f"t:{i}") for i, e in enumerate(events)], NOW
    )
    assert not result.rejected and len(result.windows) == 30
    assert {row.measure for row in result.board} >= {"experience", "target"}
    assert all(math.isfinite(row.value) for row in result.board)


def test_lower_is_better_is_met_at_or_below_the_target_and_keeps_its_distance() -> None:
    missed = TargetAttainment("amb_c2_mean", 27.0, 1.0, 18.0, False, "minutes")
    met = TargetAttainment("amb_c2_mean", 18.0, 1.0, 18.0, False, "minutes")
    assert (missed.met, missed.distance, missed.margin) == (False, 9.0, -9.0)
    assert (met.met, met.distance) == (True, 0.0)
    assert not missed.is_share and met.unit == "minutes"


def test_weeks_inside_a_month_carry_its_value_and_a_straddling_week_the_blend() -> None:
    engine = Engine(EngineConfig(window=WindowKind.WEEK), KEY)
    april = value_metric(
        30.0, period_start="2024-04-01T00:00:00Z", period_end="2024-05-01T00:00:00Z"
    )
    may = value_metric(16.0, period_start="2024-05-01T00:00:00Z", period_end="2024-06-01T00:00:00Z")
    result = engine.process(
        [RawMessage(json.dumps(e).encode(), f"t:{i}") for i, e in enumerate([april, may])], NOW
    )
    by_start = {w.window.start: w.targets[0] for w in result.windows}
    inside = by_start[datetime(2024, 4, 8, tzinfo=UTC)]
    assert inside.attainment == pytest.approx(30.0) and not inside.met
    straddle = by_start[datetime(2024, 4, 29, tzinfo=UTC)]  # 2 days of April, 5 of May
    assert straddle.attainment == pytest.approx((2 * 30 / 30 + 5 * 16 / 31) / (2 / 30 + 5 / 31))
    assert by_start[datetime(2024, 5, 13, tzinfo=UTC)].met


def test_a_value_target_is_no_activity_for_the_incident_rate() -> None:
    engine = Engine(EngineConfig(window=WindowKind.MONTH), KEY)
    events = [value_metric(27.0, period_start="2024-03-01T00:00:00Z"), feedback()]
    result = engine.process(
        [RawMessage(json.dumps(e).encode(), f"t:{i}") for i, e in enumerate(events)], NOW
    )
    (window,) = result.windows
    assert window.targets[0].unit == "minutes"
    assert window.activity is None and window.targets_met is False


def test_evidence_and_words_give_the_figure_in_its_unit() -> None:
    t = TargetAttainment("amb_c2_mean", 27.4, 1.0, 18.0, False, "minutes")
    (entry,) = targets_evidence(window_of(NOW, WindowKind.MONTH), [t])["metrics"]
    assert entry["unit"] == "minutes" and entry["distance"] == pytest.approx(9.4)
    assert "numerator" not in entry
    assert in_unit(27.4, "minutes") == "27.4 minutes"
    assert in_unit(0.781, "") == "78%"
    assert in_unit(120.0, "minutes") == "120 minutes"
