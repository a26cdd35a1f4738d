"""The engine's bounded memory of event ids, and restore from the small state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.engine_state import RecentEvent, RestoredState, SeenIds, expiry_of_recent
from pipeline.core.windows import WindowKind
from tests.support.events import feedback, metric, raw

KEY = b"unit-test-key-0123456789"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
MONDAY = datetime(2024, 3, 4, tzinfo=UTC)


def test_ids_are_forgotten_once_their_windows_close_and_then_must_be_asked() -> None:
    seen = SeenIds()
    seen.add(1, MONDAY)
    seen.add(2, MONDAY + timedelta(weeks=1))
    assert not seen.needs_lookup(MONDAY)
    seen.evict(MONDAY)
    assert 1 not in seen and 2 in seen and len(seen) == 1
    assert seen.needs_lookup(MONDAY) and not seen.needs_lookup(MONDAY + timedelta(weeks=1))


def test_memory_holds_the_open_windows_ids_only_however_long_the_history() -> None:
    engine = Engine(EngineConfig(), KEY)
    asked: list[int] = []

    def known(ids: object) -> set[UUID]:
        asked.append(len(ids))  # type: ignore[arg-type]
        return set()

    for week in range(30):
        events = [
            feedback(occurred_at=(MONDAY + timedelta(weeks=week, hours=h)).isoformat())
            for h in range(20)
        ]
        engine.process(raw(*events), NOW, known)
    # the watermark (latest event less 7 days) leaves the last two weeks open
    assert engine.remembered_ids <= 40
    assert not any(asked), "no id asked while events come in time"


def test_a_target_reports_expiry_is_the_end_of_its_periods_last_window() -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    end = datetime(2024, 4, 1, tzinfo=UTC)  # a Monday: the period's last week ends there
    recent = RecentEvent(UUID(int=1), end, end)
    assert expiry_of_recent(recent, WindowKind.WEEK) == end
    mid = RecentEvent(UUID(int=2), start, datetime(2024, 3, 20, tzinfo=UTC))
    assert expiry_of_recent(mid, WindowKind.WEEK) == datetime(2024, 3, 25, tzinfo=UTC)


def test_restore_from_the_small_state_equals_the_engine_that_stored_it() -> None:
    first = Engine(EngineConfig(), KEY)
    events = [
        feedback(occurred_at=(MONDAY + timedelta(days=d)).isoformat(), rating=1 + d % 5)
        for d in range(60)
    ] + [metric(), metric(numerator=900, occurred_at="2024-03-06T10:00:00+00:00")]
    result = first.process(raw(*events), NOW)
    records = {(r.aggregate.unit_id, r.aggregate.window): r for r in result.window_state}
    latest = max(datetime.fromisoformat(e["occurred_at"]) for e in events)
    again = Engine(EngineConfig(), KEY)
    since = again.horizon(latest)
    assert since is not None
    recent = [
        RecentEvent(UUID(e["event_id"]), datetime.fromisoformat(e["occurred_at"]))
        for e in events
        if datetime.fromisoformat(e["occurred_at"]) >= since and e["event_type"] != "target_metric"
    ]
    again.restore_state(RestoredState(list(records.values()), recent, latest), NOW)
    assert again.closed_series() == first.closed_series()
    assert again.watermark == first.watermark
    late = feedback(occurred_at=MONDAY.isoformat())
    a = first.process(raw(late), NOW)
    b = again.process(raw(late), NOW, lambda ids: set())
    assert [w.fft_counts for w in a.windows] == [w.fft_counts for w in b.windows]
    assert json.dumps(sorted(str(k) for k in again.closed_series())) == json.dumps(
        sorted(str(k) for k in first.closed_series())
    )
