import json
from datetime import datetime

import pytest

from pipeline.core.aggregates import UnitWindowState
from pipeline.core.events import EVENT_ADAPTER, Harm, IncidentCategory, TargetMetric
from pipeline.core.windows import WindowKind, window_of
from tests.support.events import metric

WEEK = window_of(datetime.fromisoformat("2024-03-05T00:00:00+00:00"), WindowKind.WEEK)


def report(**overrides: object) -> TargetMetric:
    event = EVENT_ADAPTER.validate_json(json.dumps(metric(**overrides)))
    assert isinstance(event, TargetMetric)
    return event


def state() -> UnitWindowState:
    return UnitWindowState("RXA", "ED", WEEK)


def test_fft_shares_exclude_dont_know() -> None:
    s = state()
    for rating in (1, 1, 2, 3, 4, 5, 6, 6):
        s.add_feedback(rating)
    agg = s.snapshot()
    assert agg.fft_responses == 6
    assert agg.fft_positive == 3
    assert agg.fft_negative == 2
    assert agg.positive_share == pytest.approx(0.5)
    assert agg.negative_share == pytest.approx(2 / 6)


def test_no_feedback_has_no_share() -> None:
    assert state().snapshot().positive_share is None


def test_incidents_by_harm_and_weighted_rate_per_activity() -> None:
    s = state()
    s.add_incident(Harm.NONE, IncidentCategory.FALL)
    s.add_incident(Harm.MODERATE, IncidentCategory.MEDICATION)
    s.add_incident(Harm.SEVERE, IncidentCategory.FALL)
    s.add_report(
        report(
            numerator=500,
            denominator=1000,
            period_start="2024-03-04T00:00:00+00:00",
            period_end="2024-03-11T00:00:00+00:00",
        )
    )
    agg = s.snapshot()
    assert agg.incidents == 3
    assert agg.harmful_incidents == 2
    assert agg.harm_weighted == 13
    assert agg.activity == pytest.approx(1000)
    assert agg.harm_weighted_rate == pytest.approx(13.0)


def test_monthly_report_is_spread_over_the_weeks_it_overlaps() -> None:
    # The week 26 Feb - 4 Mar overlaps February by 4 days and March by 3.
    straddling = window_of(datetime.fromisoformat("2024-02-27T00:00:00+00:00"), WindowKind.WEEK)
    s = UnitWindowState("RXA", "ED", straddling)
    s.add_report(
        report(
            period_start="2024-02-01T00:00:00+00:00",
            period_end="2024-03-01T00:00:00+00:00",
            numerator=900,
            denominator=1000,
        )
    )
    s.add_report(report(numerator=990, denominator=1000))  # March
    (target,) = s.snapshot().targets
    february_share, march_share = 4 / 29, 3 / 31
    expected = (900 * february_share + 990 * march_share) / (
        1000 * february_share + 1000 * march_share
    )
    assert target.attainment == pytest.approx(expected)
    assert target.met is False


def test_a_revision_supersedes_whatever_the_arrival_order() -> None:
    first = report(numerator=900, occurred_at="2024-04-02T00:00:00+00:00")
    revision = report(numerator=960, occurred_at="2024-04-09T00:00:00+00:00")
    in_order, reversed_order = state(), state()
    in_order.add_report(first)
    in_order.add_report(revision)
    reversed_order.add_report(revision)
    reversed_order.add_report(first)
    assert in_order.snapshot().targets == reversed_order.snapshot().targets
    assert in_order.snapshot().targets[0].attainment == pytest.approx(0.96)
    assert in_order.snapshot().targets_met is True


def test_lower_is_better_target() -> None:
    s = state()
    s.add_report(
        report(
            metric="falls_rate", numerator=3, denominator=100, target=0.05, higher_is_better=False
        )
    )
    assert s.snapshot().targets_met is True


def test_contributions_grow_with_every_event_and_snapshot_is_refreshed() -> None:
    s = state()
    before = s.snapshot()
    s.add_feedback(1)
    after = s.snapshot()
    assert (before.contributions, after.contributions) == (0, 1)
    assert after.fft_positive == 1
