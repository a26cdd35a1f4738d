"""The worker benchmark's events: a simulated trust, plus weeks made to raise alerts."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.simulation import SimulationConfig, simulate_trust

BENCH_ORG, BENCH_UNIT = "BEN01", "ED"


def trust_events(count: int) -> list[dict[str, Any]]:
    """`count` events of a simulated trust, in delivery order."""
    scale = max(0.05, count / 100_000)
    events = simulate_trust(
        SimulationConfig(orgs=3, units_per_org=6, weeks=64, feedback_scale=scale, seed=11)
    ).events
    return events[:count]


def _event(rng: random.Random, event_type: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_type": event_type,
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "org_id": BENCH_ORG,
        "unit_id": BENCH_UNIT,
        "occurred_at": at.isoformat(),
        "source": "benchmark",
        **fields,
    }


def bench_week(rng: random.Random, monday: datetime, bad: bool) -> list[dict[str, Any]]:
    """One week of the benchmark department: its 4-hour target met, 16 feedback responses
    (mostly poor when `bad`), the target return last, on the Sunday evening."""
    ratings = (1, 2, 3, 4, 4, 5, 5, 5) if bad else (1, 1, 1, 1, 2, 2, 2, 3, 6)
    week = [
        _event(
            rng,
            "patient_feedback",
            monday + timedelta(minutes=rng.randrange(6 * 24 * 60)),
            rating=rng.choice(ratings),
        )
        for _ in range(16)
    ]
    week.append(
        _event(
            rng,
            "target_metric",
            monday + timedelta(days=6, hours=23),
            metric="ae_4h",
            period_start=monday.isoformat(),
            period_end=(monday + timedelta(days=7)).isoformat(),
            numerator=965,
            denominator=1000,
            target=0.95,
        )
    )
    return week


def latest_monday(events: list[dict[str, Any]]) -> datetime:
    latest = max(datetime.fromisoformat(e["occurred_at"]) for e in events).astimezone(UTC)
    midnight = latest.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=midnight.weekday())
