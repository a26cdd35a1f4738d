"""Feedback in the counts form (contract v1.1) is exactly that many single responses."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.publications import import_events
from pipeline.core.aggregates import spread_counts
from pipeline.core.decode import RawMessage, Rejection, decode
from pipeline.core.detection import DetectionConfig
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.events import PatientFeedback
from pipeline.core.windows import WindowKind, windows_between
from tests.support.events import feedback

FIXTURE = Path(__file__).parents[1] / "fixtures" / "publications" / "fft_monthly_provider.csv"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
KEY = b"test-key-0123456789abcdef"


def _engine() -> Engine:
    config = EngineConfig(
        window=WindowKind.MONTH, detection=DetectionConfig.for_window_kind(WindowKind.MONTH)
    )
    return Engine(config, KEY)


def _targets_met(unit: str) -> list[dict[str, Any]]:
    """A value target met in every month of the fixture (mean 15 minutes against 18)."""
    out = []
    month = datetime(2021, 9, 1, tzinfo=UTC)
    for _ in range(13):
        end = (month + timedelta(days=32)).replace(day=1)
        out.append(
            {
                "schema_version": 1,
                "event_type": "target_metric",
                "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"t/{month:%Y-%m}")),
                "org_id": "RX6",
                "unit_id": unit,
                "occurred_at": end.isoformat(),
                "source": "test",
                "metric": "amb_c2_mean",
                "period_start": month.isoformat(),
                "period_end": end.isoformat(),
                "value": 15.0,
                "unit": "minutes",
                "target": 18.0,
                "higher_is_better": False,
            }
        )
        month = end
    return out


def _singles(batch: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch as single responses, spread evenly over its period."""
    start = datetime.fromisoformat(batch["period_start"])
    end = datetime.fromisoformat(batch["period_end"])
    ratings = [int(r) for r, n in sorted(batch["counts"].items()) for _ in range(n)]
    step = (end - start) / len(ratings)
    return [
        feedback(
            org_id=batch["org_id"],
            unit_id=batch["unit_id"],
            rating=rating,
            occurred_at=(start + step * (i + 0.5)).isoformat(),
        )
        for i, rating in enumerate(ratings)
    ]


def _run(events: list[dict[str, Any]]) -> Engine:
    engine = _engine()
    messages = [RawMessage(json.dumps(e).encode(), f"t:{i}") for i, e in enumerate(events)]
    result = engine.process(messages, NOW)
    assert not result.rejected
    engine.finish(NOW)
    return engine


def test_an_fft_counts_fixture_gives_the_aggregates_and_verdicts_of_single_responses() -> None:
    batches = [json.loads(line) for line in import_events("fft-monthly", [FIXTURE])]
    assert len(batches) == 13 and all("counts" in b for b in batches)
    targets = _targets_met("all")
    singles = [one for batch in batches for one in _singles(batch)]
    assert len(singles) == sum(sum(b["counts"].values()) for b in batches)

    as_counts = _run(batches + targets)
    as_singles = _run(singles + targets)

    counts_series = as_counts.closed_series()
    singles_series = as_singles.closed_series()
    assert counts_series.keys() == singles_series.keys() == {("RX6", "all")}
    for unit, series in counts_series.items():
        other = singles_series[unit]
        assert [a.window for a in series] == [a.window for a in other]
        assert [a.fft_counts for a in series] == [a.fft_counts for a in other]
        assert [a.targets for a in series] == [a.targets for a in other]
    assert as_counts.alerts, "the fixture's last three months must raise an alert"
    assert [a.model_dump() for a in as_counts.alerts] == [a.model_dump() for a in as_singles.alerts]
    assert {a.kind for a in as_counts.alerts} == {"target_experience_divergence"}


def test_a_month_spread_over_weeks_keeps_every_response_and_follows_the_overlap() -> None:
    start, end = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)
    weeks = windows_between(start, end, WindowKind.WEEK)  # 29 Apr .. 3 Jun: 5 weeks
    counts = (101, 37, 5, 3, 1, 0)
    spread = spread_counts(counts, start, end, weeks)
    assert tuple(sum(column) for column in zip(*spread, strict=True)) == counts
    for week, share in zip(weeks, spread, strict=True):
        overlap = week.overlap_seconds(start, end) / (end - start).total_seconds()
        for rating, n in enumerate(counts):
            assert abs(share[rating] - n * overlap) < 1  # whole responses, never more than one off
    assert spread == spread_counts(counts, start, end, weeks)  # deterministic


def test_weekly_windows_hold_the_spread_of_a_monthly_batch() -> None:
    batch = feedback(
        rating=...,
        period_start="2024-05-01T00:00:00Z",
        period_end="2024-06-01T00:00:00Z",
        occurred_at="2024-06-01T00:00:00Z",
        counts={"1": 31, "4": 3},
    )
    del batch["rating"]
    engine = Engine(EngineConfig(window=WindowKind.WEEK), KEY)
    result = engine.process([RawMessage(json.dumps(batch).encode(), "t:1")], NOW)
    assert len(result.accepted) == 1 and len(result.windows) == 5
    assert sum(w.fft_counts[0] for w in result.windows) == 31
    assert sum(w.fft_counts[3] for w in result.windows) == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"counts": {"1": 0}}, ""),
        ({"counts": {"7": 1}}, "counts.7.[key]"),
        ({"counts": {"1": -1}}, "counts.1"),
        ({"counts": {"1": 1.0}}, "counts.1"),
        ({"period_end": ...}, "period_end"),
        ({"rating": 2}, ""),
    ],
)
def test_a_bad_batch_is_refused_at_its_field(changes: dict[str, Any], field: str) -> None:
    batch = {
        **feedback(),
        "period_start": "2024-05-01T00:00:00Z",
        "period_end": "2024-06-01T00:00:00Z",
        "counts": {"1": 3},
    }
    del batch["rating"]
    for name, value in changes.items():
        if value is ...:
            batch.pop(name)
        else:
            batch[name] = value
    outcome = decode(json.dumps(batch).encode())
    assert isinstance(outcome, Rejection)
    assert outcome.field == field


def test_a_batch_reads_back_as_its_counts() -> None:
    batch = {**feedback(), "period_start": "2024-05-01T00:00:00Z"}
    batch |= {"period_end": "2024-06-01T00:00:00Z", "counts": {"2": 4, "6": 1}}
    del batch["rating"]
    event = decode(json.dumps(batch).encode())
    assert isinstance(event, PatientFeedback)
    assert event.rating_counts == (0, 4, 0, 0, 0, 1)
    duplicated = json.dumps(batch).replace('"6": 1}', '"6": 1, "2": 5}').encode()
    assert isinstance(decode(duplicated), Rejection)
