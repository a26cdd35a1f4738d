"""Target reports and what they give a window: the report in force per metric and period,
and each metric's attainment over a window, allocated by the overlap of periods with it.

A metric reports one period (often a calendar month) while feedback arrives daily: a weekly
window inside a monthly period gets that month's attainment; a week straddling two months gets
the overlap-weighted blend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pipeline.core.events import TargetMetric, ValueUnit, beyond_processable_range
from pipeline.core.windows import Window


@dataclass(frozen=True, slots=True)
class TargetAttainment:
    """One target metric over one window, after period-to-window allocation.

    A share (`unit` is "") is `numerator / denominator`, the reports' counts allocated by
    overlap. A value (`unit` names it, e.g. "minutes") is the overlap-weighted mean of the
    reports' values: `numerator` sums value x overlap share and `denominator` the overlap
    shares, so `attainment` reads the same way for both forms.
    """

    metric: str
    numerator: float
    denominator: float
    target: float
    higher_is_better: bool
    unit: str = ""

    @property
    def is_share(self) -> bool:
        return not self.unit

    @property
    def attainment(self) -> float:
        return self.numerator / self.denominator

    @property
    def distance(self) -> float:
        """Attainment minus target, in the target's own unit (a share's in parts of 1)."""
        return self.attainment - self.target

    @property
    def margin(self) -> float:
        """The distance signed so that >= 0 means met."""
        return self.distance if self.higher_is_better else -self.distance

    @property
    def met(self) -> bool:
        return self.margin >= 0


ReportKey = tuple[str, datetime, datetime]


@dataclass(frozen=True, slots=True)
class ReportInForce:
    """The figures of the target report in force for one metric and period: all a window needs
    of it (so state can be stored and restored in this small form)."""

    occurred_at: datetime
    event_id: str
    metric: str
    period_start: datetime
    period_end: datetime
    numerator: float | None
    denominator: float | None
    target: float
    higher_is_better: bool
    value: float | None = None
    unit: ValueUnit | None = None

    @classmethod
    def of(cls, report: TargetMetric) -> ReportInForce:
        return cls(
            report.occurred_at,
            str(report.event_id),
            report.metric,
            report.period_start,
            report.period_end,
            report.numerator,
            report.denominator,
            report.target,
            report.higher_is_better,
            report.value,
            report.unit,
        )

    @property
    def key(self) -> ReportKey:
        return (self.metric, self.period_start, self.period_end)

    def beyond_processable_range(self) -> str | None:
        """As `TargetMetric.beyond_processable_range`, for a report a store already holds."""
        count = None if self.denominator is None else int(self.denominator)
        return beyond_processable_range(self.value, self.target, count)


def allocated_targets(
    window: Window, reports: Mapping[ReportKey, ReportInForce]
) -> tuple[TargetAttainment, ...]:
    """Each metric's attainment over `window`, from the reports in force by their `key`:
    spread by their periods' overlap with it (shares by counts, values by an overlap-weighted
    mean)."""
    sums: dict[str, list[float]] = {}
    settings: dict[str, tuple[float, bool, str]] = {}
    # Sorted, so float sums are identical whatever order the reports arrived in.
    for key in sorted(reports):
        report = reports[key]
        period = (report.period_end - report.period_start).total_seconds()
        share = window.overlap_seconds(report.period_start, report.period_end) / period
        totals = sums.setdefault(report.metric, [0.0, 0.0])
        if report.value is not None:  # the value form: an overlap-weighted mean
            totals[0] += report.value * share
            totals[1] += share
        else:
            totals[0] += (report.numerator or 0) * share
            totals[1] += (report.denominator or 0) * share
        unit = report.unit.value if report.unit is not None else ""
        settings[report.metric] = (report.target, report.higher_is_better, unit)
    return tuple(
        TargetAttainment(metric, num, den, *settings[metric])
        for metric, (num, den) in sorted(sums.items())
        if den > 0
    )
