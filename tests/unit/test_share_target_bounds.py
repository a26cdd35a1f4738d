"""Share targets with huge counts (contract v1.1: integers up to 2^63 - 1): processed within the
pipeline's bound, dead-lettered with the reason beyond it, never a judging failure."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.adapters.metrics import PipelineMetrics
from pipeline.core.decode import RawMessage, Rejection, RejectReason, decode
from pipeline.core.engine import BatchResult, Engine, EngineConfig
from pipeline.core.events import MAX_INT64, MAX_SHARE_COUNT, TargetMetric
from pipeline.core.stored import FreeTextPolicy, to_stored
from pipeline.core.windows import WindowKind
from pipeline.runtime.step import Step
from tests.support.events import feedback, incident, metric
from tests.support.memory_store import MemoryStore
from tests.unit.test_judging_failures import stored_verdicts

NOW = datetime(2024, 6, 1, tzinfo=UTC)
KEY = b"test-key-0123456789abcdef"
START = datetime(2023, 10, 2, tzinfo=UTC)


def _step(store: MemoryStore, metrics: PipelineMetrics | None = None) -> Step:
    return Step(
        lambda: Engine(EngineConfig(window=WindowKind.WEEK), KEY),
        store,
        metrics=metrics,
        clock=lambda: NOW,
    )


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


def _stored_before_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[dict[str, object]], list[RawMessage], MemoryStore, BatchResult]:
    """The weeks with a return of 0 of 2^63 - 1, their lines, and a store they were processed
    into by a version without the bound, with what processing them gave."""
    events = weeks_with_a_huge_return(0, MAX_INT64)
    lines = [RawMessage(json.dumps(e).encode(), f"t:{i}") for i, e in enumerate(events)]
    store = MemoryStore()
    with monkeypatch.context() as old_version:
        old_version.setattr("pipeline.core.events.MAX_SHARE_COUNT", MAX_INT64)
        step = _step(store)
        step.restore()
        stored = step.process(lines, {"t": len(lines)}, "t0")
    return events, lines, store, stored


def _stored_now(lines: list[RawMessage]) -> tuple[MemoryStore, BatchResult]:
    """A new store `lines` were processed into with the bound, and what that gave."""
    store = MemoryStore()
    step = _step(store)
    step.restore()
    return store, step.process(lines, {"t": len(lines)}, "t0")


def test_a_store_holding_a_return_beyond_the_bound_restores_it_set_aside_and_judged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A store written before the bound (the twenty-first session) holds the return in a
    # window's reports in force: every restart and replay failed judging its organisation.
    events, lines, store, stored = _stored_before_the_bound(monkeypatch)
    assert [f.error for f in stored.judging_failures] == ["OverflowError"]
    assert not stored.rejected

    metrics = PipelineMetrics()
    again = _step(store, metrics)
    with caplog.at_level(logging.WARNING, logger="pipeline.step"):
        restored = again.restore()

    assert restored.judging_failures == []
    (org,) = {e["org_id"] for e in events}
    assert [m.org_id for m in restored.judged] == [org] and restored.verdicts and restored.board
    (aside,) = restored.set_aside
    assert f"{MAX_INT64:,}" in aside.reason and f"{MAX_SHARE_COUNT:,}" in aside.reason
    assert metrics.registry.get_sample_value("pipeline_restore_set_aside_total") == 1
    assert any(aside.event_id in r.getMessage() for r in caplog.records)
    # As a new store would judge it: the same verdicts as when the return is dead-lettered.
    new_store, dead_lettered = _stored_now(lines)
    assert len(dead_lettered.rejected) == 1
    assert stored_verdicts(store.verdicts) == stored_verdicts(new_store.verdicts)
    assert again.restore().judging_failures == []  # and at every restart after


def test_a_legacy_store_re_read_event_by_event_sets_the_return_aside() -> None:
    events = weeks_with_a_huge_return(0, MAX_INT64)
    engine = Engine(EngineConfig(window=WindowKind.WEEK), KEY)
    payloads = []
    for i, e in enumerate(events):
        raw = json.dumps(e).encode()
        decoded = decode(raw)
        assert not isinstance(decoded, Rejection)
        policy = FreeTextPolicy.REDACTED
        stored = to_stored(decoded, raw, origin=f"t:{i}", late=False, policy=policy, key=KEY)
        payloads.append(stored.payload.encode())
    result = engine.restore(payloads, [], NOW)
    assert result.judging_failures == [] and result.verdicts
    (aside,) = result.set_aside
    assert f"{MAX_INT64:,}" in aside.reason


def test_a_window_whose_return_is_set_aside_is_stored_again_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Seen from outside (twenty-first session): after the restore set the return aside, the
    # stored window still held it (activity 9.2e18, the return among its targets), so the
    # report, which reads the stored windows, put a harm change of +16692733364316554% and an
    # 'ae 4h weekly' miss of -76 pts beside verdicts judged without it.
    _, lines, store, _ = _stored_before_the_bound(monkeypatch)

    _step(store).restore()

    new_store, _ = _stored_now(lines)

    def figures(store: MemoryStore) -> dict[object, object]:
        # `contributions` is the stored row's version: the set-aside return stays counted
        # there, so that the row stored again replaces the one holding it
        return {
            k: (replace(r.aggregate, contributions=0), r.reports) for k, r in store.windows.items()
        }

    assert figures(store) == figures(new_store)


def test_a_return_is_set_aside_once_and_not_again_at_later_restarts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The window is stored again without the return, so the next restart reads nothing to set
    # aside: the count on the dashboard is of returns set aside, not of restarts.
    _, _, store, _ = _stored_before_the_bound(monkeypatch)
    first = PipelineMetrics()
    assert len(_step(store, first).restore().set_aside) == 1
    assert first.registry.get_sample_value("pipeline_restore_set_aside_total") == 1

    later = PipelineMetrics()
    restored = _step(store, later).restore()
    assert restored.set_aside == [] and restored.judging_failures == []
    assert later.registry.get_sample_value("pipeline_restore_set_aside_total") == 0
