"""The engine: accounting, idempotency, lateness, privacy and order independence."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.core.decode import RawMessage
from pipeline.core.engine import BatchResult, Engine, EngineConfig
from pipeline.core.stored import FreeTextPolicy
from tests.support.events import feedback, incident, metric, raw, response

NOW = datetime(2024, 6, 1, tzinfo=UTC)
KEY = b"test-key-0123456789abcdef"


def engine(**config: Any) -> Engine:
    return Engine(EngineConfig(**config), KEY)


def test_accounting_holds_for_a_mixed_batch() -> None:
    good = feedback()
    batch = [*raw(good, good, incident(), metric(), response()), RawMessage(b"nope", "x:1")]
    result = engine().process(batch, NOW)
    assert result.read == 6
    assert (len(result.accepted), len(result.rejected), result.duplicates) == (4, 1, 1)
    assert result.read == len(result.accepted) + len(result.rejected) + result.duplicates


def test_the_same_event_id_across_batches_is_one_event() -> None:
    e = engine()
    event = feedback()
    assert len(e.process(raw(event), NOW).accepted) == 1
    again = e.process(raw(event), NOW)
    assert again.duplicates == 1 and not again.accepted and not again.windows


def test_free_text_is_redacted_and_patient_ref_pseudonymised() -> None:
    result = engine().process(
        raw(incident(description="Pt 943-476-5919 fell", patient_ref="MRN-42")), NOW
    )
    (stored,) = result.accepted
    assert stored.nhs_numbers_redacted == 1
    assert "9434765919" not in stored.payload and "943-476-5919" not in stored.payload
    assert "MRN-42" not in stored.payload
    assert json.loads(stored.payload)["description"] == "Pt [NHS-NUMBER] fell"


def test_drop_policy_keeps_no_free_text_at_all() -> None:
    result = engine(free_text=FreeTextPolicy.DROP).process(
        raw(feedback(comment="lovely staff, my number is 943 476 5919")), NOW
    )
    (stored,) = result.accepted
    assert "comment" not in json.loads(stored.payload)
    assert stored.free_text_chars == len("lovely staff, my number is 943 476 5919")


@pytest.mark.parametrize("make", [feedback, incident])
def test_free_text_with_nothing_to_redact_is_stored_in_the_line_as_received(make: Any) -> None:
    """Nothing changed for storage: the line as validated is the payload (not written again
    from the model), and it decodes again to the stored event."""
    field = "comment" if make is feedback else "description"
    line = json.dumps(make(**{field: "Kind staff, \u00e9clair at 9"}), indent=1).encode()
    (stored,) = engine().process([RawMessage(line, "t:1")], NOW).accepted
    assert stored.payload == line.decode()
    assert getattr(stored.event, field) == "Kind staff, \u00e9clair at 9"
    assert (stored.nhs_numbers_redacted, stored.other_identifiers_redacted) == (0, 0)
    again = engine().process([RawMessage(stored.payload.encode(), "t:2")], NOW).accepted
    assert [s.event for s in again] == [stored.event]


def test_late_event_is_stored_counted_and_its_window_updated() -> None:
    e = engine(allowed_lateness=timedelta(days=1))
    e.process(raw(feedback(occurred_at="2024-03-05T10:00:00+00:00")), NOW)
    e.process(raw(feedback(occurred_at="2024-03-20T10:00:00+00:00")), NOW)  # closes 4-10 March
    late = e.process(raw(feedback(occurred_at="2024-03-06T10:00:00+00:00", rating=5)), NOW)
    assert late.late == 1 and len(late.accepted) == 1 and late.accepted[0].late
    (window,) = late.windows
    assert window.fft_counts == (1, 0, 0, 0, 1, 0)


def test_a_monthly_metric_updates_every_week_it_overlaps() -> None:
    result = engine().process(raw(metric()), NOW)  # March 2024 touches 5 ISO weeks
    assert len(result.windows) == 5
    assert all(w.targets_met for w in result.windows)


def test_alert_responses_do_not_create_unit_windows() -> None:
    result = engine().process(raw(response()), NOW)
    assert len(result.accepted) == 1 and result.windows == []


def _final(result_batches: list[BatchResult]) -> dict[tuple[str, str, datetime], Any]:
    latest: dict[tuple[str, str, datetime], Any] = {}
    for batch in result_batches:
        for w in batch.windows:
            key = (w.org_id, w.unit_id, w.window.start)
            if key not in latest or w.contributions >= latest[key].contributions:
                latest[key] = w
    return latest


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_aggregates_do_not_depend_on_order_or_batch_size(seed: int) -> None:
    rng = random.Random(seed)
    events = []
    for day in range(60):
        stamp = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=9)).isoformat()
        for unit in ("ED", "AMU"):
            events += [
                feedback(unit_id=unit, occurred_at=stamp, rating=rng.randint(1, 6))
                for _ in range(3)
            ]
            events.append(incident(unit_id=unit, occurred_at=stamp))
    events.append(
        metric(period_start="2024-01-01T00:00:00+00:00", period_end="2024-02-01T00:00:00+00:00")
    )
    messages = raw(*events)

    def run(ordered: list[RawMessage], size: int) -> dict[tuple[str, str, datetime], Any]:
        e = engine()
        batches = [e.process(ordered[i : i + size], NOW) for i in range(0, len(ordered), size)]
        return _final(batches)

    shuffled = list(messages)
    rng.shuffle(shuffled)
    assert run(messages, len(messages)) == run(shuffled, 7) == run(shuffled[::-1], 50)
