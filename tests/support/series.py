"""Hand-made unit and organisation series for the detector tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertKind
from pipeline.core.detection import Finding
from pipeline.core.target_reports import ReportInForce, TargetAttainment
from pipeline.core.windows import Window

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def week(index: int) -> Window:
    start = START + timedelta(weeks=index)
    return Window(start, start + timedelta(days=7))


def aggregate(
    index: int,
    *,
    responses: int = 40,
    negative: int = 2,
    harmful: int = 1,
    met: bool | None = True,
    unit: str = "ward-7",
    org: str = "RXA",
    activity: float = 400.0,
    severe: int = 0,
) -> UnitWindowAggregate:
    neutral = 2 if responses - negative >= 2 else 0
    positive = responses - negative - neutral
    ratings = (positive - positive // 3, positive // 3, neutral, negative - negative // 2,
               negative // 2, 1)  # fmt: skip
    harm = (3, harmful - severe, 0, severe, 0)
    targets: tuple[TargetAttainment, ...] = ()
    reports: tuple[ReportInForce, ...] = ()
    if met is not None:
        attainment = 0.95 if met else 0.85
        targets = (TargetAttainment("rtt_18w", attainment * activity, activity, 0.92, True),)
        span = week(index)  # a weekly return: the report in force behind the window's target
        reports = (ReportInForce(span.end, f"rtt-{index}", "rtt_18w", span.start, span.end,
                                 attainment * activity, activity, 0.92, True),)  # fmt: skip
    return UnitWindowAggregate(
        org_id=org,
        unit_id=unit,
        window=week(index),
        fft_counts=ratings,
        incidents_by_harm=harm,
        incidents_by_category=(sum(harm), 0, 0, 0, 0, 0, 0, 0, 0, 0),
        targets=targets,
        contributions=responses + sum(harm) + len(targets),
        reports=reports,
    )


def quiet(weeks: int, seed: int = 1, **fields: Any) -> list[UnitWindowAggregate]:
    """A stable unit: about 5% negative of ~40 responses, about one harmful incident a week."""
    rng = random.Random(seed)
    series = []
    for index in range(weeks):
        responses = rng.randint(32, 48)
        negative = sum(rng.random() < 0.05 for _ in range(responses))
        harmful = sum(rng.random() < 0.25 for _ in range(4))
        series.append(aggregate(index, responses=responses, negative=negative,
                                harmful=harmful, **fields))  # fmt: skip
    return series


def with_weeks(
    series: list[UnitWindowAggregate], weeks: range, **fields: Any
) -> list[UnitWindowAggregate]:
    """`series` with the given weeks rebuilt from `fields` (the rest of each week as it was)."""
    changed = list(series)
    for index in weeks:
        old = series[index]
        values: dict[str, Any] = {
            "responses": old.fft_responses,
            "negative": old.fft_negative,
            "harmful": old.harmful_incidents,
            "met": old.targets_met,
            "unit": old.unit_id,
            "org": old.org_id,
        }
        values.update(fields)
        changed[index] = aggregate(index, **values)
    return changed


def kinds(findings: list[Finding]) -> list[AlertKind]:
    return [finding.kind for finding in findings]


SIZES = {"ED": (250, 350), "AMU": (80, 120), "ward-7": (30, 50), "ward-9": (15, 25)}
SHARES = {"ED": 0.15, "AMU": 0.06, "ward-7": 0.05, "ward-9": 0.05}


def organisation(weeks: int, *, seed: int = 100) -> dict[str, list[UnitWindowAggregate]]:
    """Four units of one organisation; the emergency department always hears more complaints
    (15% negative against about 5%), which is its nature, not a dark spot."""
    units = {}
    for i, unit in enumerate(SIZES):
        rng = random.Random(seed + i)
        series = []
        for index in range(weeks):
            responses = rng.randint(*SIZES[unit])
            negative = sum(rng.random() < SHARES[unit] for _ in range(responses))
            harmful = sum(rng.random() < 0.25 for _ in range(4))
            series.append(aggregate(index, responses=responses, negative=negative,
                                    harmful=harmful, unit=unit))  # fmt: skip
        units[unit] = series
    return units
