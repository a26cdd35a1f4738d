"""A unit whose activity return for one week arrives late (after a restart) and shows that
activity did not hold: its incident reporting verdict for that week must go (tests of
pipeline.core.verdict_book against the memory store and against ClickHouse)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.adapters.alert_topic import KafkaRoute
from pipeline.adapters.metrics import PipelineMetrics
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.verdicts import Verdict, org_verdicts
from pipeline.core.engine import Engine, EngineConfig
from pipeline.runtime.ports import Store
from pipeline.runtime.routing import Routes
from pipeline.runtime.step import RetryPolicy, Step
from tests.support.events import feedback, incident, metric

NOW = datetime(2030, 1, 1, tzinfo=UTC)
MONDAY = datetime(2024, 1, 1, tzinfo=UTC)
LATE = 14  # the week whose activity return arrives late, after the restart
Key = tuple[str, str, str, datetime]


def judged(engine: Engine) -> dict[Key, Verdict]:
    units = {unit: s for (org, unit), s in engine.closed_series().items() if org == "RXA"}
    return {
        (v.org_id, v.unit_id, v.measure, v.window.start): v
        for v in org_verdicts(units, DetectionConfig())
    }


def ed_week(week: int, rng: random.Random, *, activity: int | None = 1000) -> list[dict[str, Any]]:
    """A week of the ED: ~30 ratings, ~12 incidents and (unless None) its activity return."""
    monday = MONDAY + timedelta(weeks=week)

    def at(hours: float) -> str:
        return (monday + timedelta(hours=hours)).isoformat()

    events = [
        feedback(occurred_at=at(rng.uniform(1, 160)), rating=rng.choice((1, 1, 1, 2, 2, 3, 4)))
        for _ in range(rng.randint(25, 35))
    ]
    events += [
        incident(occurred_at=at(rng.uniform(1, 160)), harm=rng.choice(("none", "none", "low")))
        for _ in range(rng.randint(9, 15))
    ]
    if activity is not None:
        events.append(activity_return(week, activity))
    return events


def activity_return(week: int, activity: int) -> dict[str, Any]:
    start = MONDAY + timedelta(weeks=week)
    return metric(
        occurred_at=(start + timedelta(days=8)).isoformat(),
        period_start=start.isoformat(),
        period_end=(start + timedelta(weeks=1)).isoformat(),
        numerator=round(activity * 0.96),
        denominator=activity,
    )


def step(store: Store) -> Step:
    kafka = KafkaRoute(lambda records: None, alerts_topic="a", dead_letter_topic="d")
    return Step(
        lambda: Engine(EngineConfig(), b"unit-test-key-0123456789"),
        store,
        metrics=PipelineMetrics(),
        routes=Routes(kafka, None),
        retry=RetryPolicy(initial=0.001, maximum=0.004),
        clock=lambda: NOW,
    )
