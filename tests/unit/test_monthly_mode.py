"""Monthly mode: the learning period is stated in months, and every month after it is judged,
small months included (with their wider limits, flagged as small)."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.core.decode import RawMessage
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.measures import unit_figures
from pipeline.core.detection.stats import monitor
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.windows import WindowKind

NOW = datetime(2023, 1, 1, tzinfo=UTC)
KEY = b"test-key-0123456789abcdef"
MONTHLY = DetectionConfig.for_window_kind(WindowKind.MONTH)
FIRST = datetime(2021, 9, 1, tzinfo=UTC)


def _months(n: int) -> list[tuple[datetime, datetime]]:
    out, start = [], FIRST
    for _ in range(n):
        end = (start + timedelta(days=32)).replace(day=1)
        out.append((start, end))
        start = end
    return out


def _event(kind: str, start: datetime, end: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_type": kind,
        "event_id": str(uuid.uuid4()),
        "org_id": "RX6",
        "unit_id": "see-and-convey",
        "occurred_at": end.isoformat(),
        "source": "test",
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        **fields,
    }


def _run(negative: dict[int, tuple[int, int]]) -> Engine:
    """13 months of feedback (index -> (responses, poor)) and a target met every month."""
    events = []
    for i, (start, end) in enumerate(_months(13)):
        responses, poor = negative.get(i, (200, 10))
        neither = min(4, responses - poor)
        counts = {"1": responses - poor - neither, "3": neither, "5": poor}
        events.append(_event("patient_feedback", start, end, counts=counts))
        events.append(
            _event(
                "target_metric", start, end, metric="amb_c2_mean", value=15.0, unit="minutes",
                target=18.0, higher_is_better=False,
            )
        )  # fmt: skip
    engine = Engine(EngineConfig(window=WindowKind.MONTH, detection=MONTHLY), KEY)
    result = engine.process(
        [RawMessage(json.dumps(e).encode(), f"t:{i}") for i, e in enumerate(events)], NOW
    )
    assert not result.rejected
    engine.finish(NOW)
    return engine


def test_the_monthly_learning_period_is_six_months() -> None:
    assert MONTHLY.min_baseline_windows == 6


def test_on_13_months_every_month_after_the_learning_period_is_judged() -> None:
    engine = _run({4: (14, 1)})  # a small month inside the learning period
    ((_, series),) = engine.closed_series().items()
    assert len(series) == 13
    figures = unit_figures(series)
    trace = monitor(figures.negative, figures.responses, figures.responses, None, MONTHLY.rules)
    judged = [t for t, z in enumerate(trace.z) if not math.isnan(z)]
    assert judged == list(range(6, 13))  # months 7 to 13: all seven after six months of learning


def test_the_first_month_after_learning_can_raise_an_alert_and_a_small_month_is_flagged() -> None:
    engine = _run({6: (200, 110), 7: (12, 10)})
    (alert,) = engine.alerts
    assert alert.kind == "target_experience_divergence"
    assert alert.window_start == FIRST.replace(month=3, year=2022)  # the 7th month
    windows = alert.evidence["measures"]["negative_share"]["windows"]
    assert [(w["size"], w["small"]) for w in windows] == [(200, False), (12, True)]
    assert "(a small sample)" in alert.summary
    quiet = _run({9: (12, 1)})
    assert not quiet.alerts  # a small month with one poor rating of 12 is no signal
