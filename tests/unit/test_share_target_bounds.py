"""Share targets with huge counts (contract v1.1: integers up to 2^63 - 1): processed within the
pipeline's bound, dead-lettered with the reason beyond it, never a judging failure."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.core.decode import RawMessage, RejectReason, decode
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.events import MAX_INT64, MAX_SHARE_COUNT, TargetMetric
from pipeline.core.windows import WindowKind
from tests.support.events import feedback, incident, metric

NOW = datetime(2024, 6, 1, tzinfo=UTC)
KEY = b"test-key-0123456789abcdef"
START = datetime(2023, 10, 2, tzinfo=UTC)


def weeks_with_a_huge_return(numerator: int, denominator: int) -> list[dict[str, object]]:
    """20 weeks of feedback, incidents and a share return of 1,000 a week, then one return of
    `numerator` of `denominator`: the harm rate's activity is the returns' denominators."""
    events: list[dict[str, object]] = []
    for week in range(21):
        start = START + timedelta(weeks=week)
        huge = week == 20
        events.append(
            metric(
                period_start=start.isoformat(),
                period_end=(start + timedelta(weeks=1)).isoformat(),
                occurred_at=(start + timedelta(weeks=1)).isoformat(),
                numerator=numerator if huge else 900,
                denominator=denominator if huge else 1000,
                target=0.76,
            )
        )
        occurred = (start + timedelta(days=1)).isoformat()
        events += [feedback(rating=1 + i % 5, occurred_at=occurred) for i in range(40)]
        events += [incident(harm="low", occurred_at=occurred) for _ in range(1 + week % 3)]
    # a week of events after, so that the huge return's week is closed and judged
    later = (START + timedelta(weeks=23)).isoformat()
    return [*events, feedback(occurred_at=later), incident(occurred_at=later)]


def _process(events: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    engine = Engine(EngineConfig(window=WindowKind.WEEK), KEY)
    return engine.process(
        [RawMessage(json.dumps(e).encode(), f"t:{i}") for i, e in enumerate(events)], NOW
    )


@pytest.mark.parametrize(("numerator", "denominator"), [(0, MAX_INT64), (MAX_INT64, MAX_INT64)])
def test_a_return_beyond_the_bound_is_dead_lettered_and_its_organisation_judged(
    numerator: int, denominator: int
) -> None:
    # Seen from outside (twenty-first session): a valid return of 0 (or all) of 2^63 - 1
    # made the unit's harm rate predictive overflow (OverflowError in smooth_sum), so its
    # organisation's judgement failed at every batch and every restart, its alerts held back.
    events = weeks_with_a_huge_return(numerator, denominator)
    (huge,) = [e for e in events if e.get("denominator") == denominator]
    assert isinstance(decode(json.dumps(huge).encode()), TargetMetric)  # valid by the contract
    result = _process(events)
    assert result.judging_failures == []
    (rejected,) = result.rejected
    assert rejected.rejection.reason is RejectReason.PROCESSING_ERROR
    assert f"{denominator:,}" in rejected.rejection.detail
    assert f"{MAX_SHARE_COUNT:,}" in rejected.rejection.detail
    assert result.verdicts and result.board


def test_a_return_at_the_bound_is_judged_with_finite_figures() -> None:
    result = _process(weeks_with_a_huge_return(0, MAX_SHARE_COUNT))
    assert result.judging_failures == [] and not result.rejected
    assert all(math.isfinite(row.value) for row in result.board)
    harm = [r.verdict for r in result.verdicts if r.verdict.measure == "harmful_incident_rate"]
    assert harm and all(math.isfinite(row.value) for row in harm if row.verdict != "withdrawn")
