"""Calendar weeks and months of a simulation, and each unit's monthly target returns.

Returns report a calendar month; units meet or miss their target by a margin drawn once, lose
attainment at the height of winter, and sometimes publish a revision weeks later. Whether a
unit meets its target in a week follows from the returns exactly as the pipeline allocates
them onto weeks, so the ground truth and the detector agree on what "met" means.
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass
from datetime import date, timedelta

from pipeline.simulation.units import WINTER_ACTIVITY, UnitNature, winter


@dataclass(frozen=True, slots=True)
class Calendar:
    """Weeks from a Monday, and the calendar months they touch."""

    start: date
    weeks: int

    def week_start(self, week: int) -> date:
        return self.start + timedelta(weeks=week)

    def months(self) -> list[date]:
        first, end = self.start.replace(day=1), self.week_start(self.weeks)
        months = []
        while first < end:
            months.append(first)
            first = next_month(first)
        return months

    def weeks_inside(self, month: date) -> list[int]:
        """Weeks lying wholly inside `month`."""
        end = next_month(month)
        return [
            w
            for w in range(self.weeks)
            if self.week_start(w) >= month and self.week_start(w) + timedelta(days=7) <= end
        ]


def next_month(first: date) -> date:
    return first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)


@dataclass(frozen=True, slots=True)
class Report:
    """One monthly target return; `revised_numerator` is a later correction, if any."""

    unit: int
    month: date
    numerator: int
    denominator: int
    revised_numerator: int | None


def monthly_reports(
    rng: random.Random,
    natures: list[UnitNature],
    cal: Calendar,
    dips: dict[tuple[int, date], float],
) -> list[Report]:
    reports = []
    for unit, nature in enumerate(natures):
        profile = nature.profile
        for month in cal.months():
            days = calendar.monthrange(month.year, month.month)[1]
            season = winter(month + timedelta(days=14))
            activity = profile.activity_per_week * days / 7 * (1 + WINTER_ACTIVITY * season)
            denominator = max(1, round(activity * rng.gauss(1.0, 0.03)))
            attainment = (
                profile.target
                + nature.attainment_margin
                - profile.winter_attainment_dip * season
                - dips.get((unit, month), 0.0)
                + rng.gauss(0.0, 0.006)
            )
            numerator = round(denominator * min(max(attainment, 0.0), 1.0))
            revised = None
            if rng.random() < 0.05:
                revised = min(
                    denominator, max(0, numerator + round(rng.gauss(0, 0.003) * denominator))
                )
            reports.append(Report(unit, month, numerator, denominator, revised))
    return reports


def weekly_met(reports: list[Report], natures: list[UnitNature], cal: Calendar) -> list[list[bool]]:
    """Whether each unit meets its target in each week, allocating monthly returns onto weeks
    by overlap exactly as `pipeline.core.aggregates` does (revisions in force)."""
    sums = [[[0.0, 0.0] for _ in range(cal.weeks)] for _ in natures]
    for report in reports:
        end = next_month(report.month)
        days = (end - report.month).days
        numerator = (
            report.revised_numerator if report.revised_numerator is not None else report.numerator
        )
        for week in range(cal.weeks):
            start = cal.week_start(week)
            overlap = (min(end, start + timedelta(days=7)) - max(report.month, start)).days
            if overlap > 0:
                sums[report.unit][week][0] += numerator * overlap / days
                sums[report.unit][week][1] += report.denominator * overlap / days
    return [
        [num / den >= nature.profile.target for num, den in unit_sums]
        for nature, unit_sums in zip(natures, sums, strict=True)
    ]
