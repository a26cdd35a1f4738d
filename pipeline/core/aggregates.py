"""Per unit-window state: what one unit did in one event-time window.

Everything here is a sum (or "the report in force"), so the aggregate of a set of events does not
depend on the order or the batches they arrived in.

Target metrics are spread over the windows their periods overlap (`target_reports.py`); a
later report for the same metric and period supersedes the earlier one (a revision), decided
by `occurred_at` and then `event_id`, never by arrival.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Self

from pipeline.core.events import Harm, IncidentCategory, TargetMetric
from pipeline.core.target_reports import (
    ReportInForce,
    ReportKey,
    TargetAttainment,
    allocated_targets,
)
from pipeline.core.windows import Window

HARM_ORDER: tuple[Harm, ...] = tuple(Harm)
CATEGORY_ORDER: tuple[IncidentCategory, ...] = tuple(IncidentCategory)
_HARM_INDEX = {harm: i for i, harm in enumerate(HARM_ORDER)}
_CATEGORY_INDEX = {category: i for i, category in enumerate(CATEGORY_ORDER)}
# Weights for the harm-weighted incident rate, after the NRLS degree-of-harm scale: reporting of
# no-harm incidents is a sign of a healthy safety culture, so they weigh nothing.
HARM_WEIGHTS: dict[Harm, int] = {
    Harm.NONE: 0,
    Harm.LOW: 1,
    Harm.MODERATE: 3,
    Harm.SEVERE: 10,
    Harm.DEATH: 20,
}
FFT_RATINGS = 6  # 1 very good .. 5 very poor, 6 don't know


def spread_counts(
    counts: Sequence[int], start: datetime, end: datetime, windows: Sequence[Window]
) -> list[tuple[int, ...]]:
    """Allocate whole responses per rating over `windows` in proportion to their overlap with
    [start, end), as that many single responses spread evenly over the period would fall.

    Integer-exact: each rating's counts sum to its total (largest remainders get the spare
    responses, the earlier window on a tie), so nothing is made up or lost.
    """
    micro = timedelta(microseconds=1)
    overlaps = [max(timedelta(0), min(w.end, end) - max(w.start, start)) // micro for w in windows]
    total = sum(overlaps)
    shares = [[0] * len(counts) for _ in windows]
    for rating, n in enumerate(counts):
        quotas = [divmod(n * o, total) for o in overlaps]
        spare = n - sum(q for q, _ in quotas)
        order = sorted(range(len(windows)), key=lambda i: (-quotas[i][1], i))
        for i, (whole, _) in enumerate(quotas):
            shares[i][rating] = whole
        for i in order[:spare]:
            shares[i][rating] += 1
    return [tuple(s) for s in shares]


@dataclass(frozen=True, slots=True)
class UnitWindowAggregate:
    """A frozen snapshot of one unit in one window, with the figures detection reads."""

    org_id: str
    unit_id: str
    window: Window
    fft_counts: tuple[int, ...]
    incidents_by_harm: tuple[int, ...]
    incidents_by_category: tuple[int, ...]
    targets: tuple[TargetAttainment, ...]
    contributions: int
    """Events applied to this window so far; grows with every event, so it orders versions."""
    themes: tuple[tuple[str, int], ...] = ()
    """FFT comment themes and how many responses named each, by name."""
    reports: tuple[ReportInForce, ...] = ()
    """The target returns in force behind `targets`, by key: each return's own period and
    figures as published (the board charts one point per return from these)."""

    @property
    def reported(self) -> bool:
        """True when feedback or incidents were reported in the window (not only a target
        return's share, which can reach past the latest data)."""
        return any(self.incidents_by_harm) or any(self.fft_counts)

    @property
    def fft_responses(self) -> int:
        """Responses that gave a view (rating 1 to 5); "don't know" is excluded."""
        return sum(self.fft_counts[:5])

    @property
    def fft_positive(self) -> int:
        return self.fft_counts[0] + self.fft_counts[1]

    @property
    def fft_negative(self) -> int:
        return self.fft_counts[3] + self.fft_counts[4]

    @property
    def positive_share(self) -> float | None:
        n = self.fft_responses
        return self.fft_positive / n if n else None

    @property
    def negative_share(self) -> float | None:
        n = self.fft_responses
        return self.fft_negative / n if n else None

    @property
    def incidents(self) -> int:
        return sum(self.incidents_by_harm)

    @property
    def harmful_incidents(self) -> int:
        """Incidents with at least low harm."""
        return sum(self.incidents_by_harm[1:])

    @property
    def harm_weighted(self) -> int:
        return sum(
            n * HARM_WEIGHTS[h] for h, n in zip(HARM_ORDER, self.incidents_by_harm, strict=True)
        )

    @property
    def activity(self) -> float | None:
        """The broadest population the unit reports a share target on (e.g. attendances)."""
        return max((t.denominator for t in self.targets if t.is_share), default=None)

    @property
    def harm_weighted_rate(self) -> float | None:
        """Harm-weighted incidents per 1,000 activity, when activity is known."""
        activity = self.activity
        return 1000.0 * self.harm_weighted / activity if activity else None

    @property
    def targets_met(self) -> bool | None:
        """True when every target is met, False when any is missed, None with no target data."""
        if not self.targets:
            return None
        return all(t.met for t in self.targets)


@dataclass(slots=True)
class UnitWindowState:
    """The mutable accumulator behind a `UnitWindowAggregate`."""

    org_id: str
    unit_id: str
    window: Window
    fft_counts: list[int] = field(default_factory=lambda: [0] * FFT_RATINGS)
    incidents_by_harm: list[int] = field(default_factory=lambda: [0] * len(HARM_ORDER))
    incidents_by_category: list[int] = field(default_factory=lambda: [0] * len(CATEGORY_ORDER))
    reports: dict[ReportKey, ReportInForce] = field(default_factory=dict)
    themes: dict[str, int] = field(default_factory=dict)
    contributions: int = 0
    _snapshot: UnitWindowAggregate | None = None

    def add_feedback(self, rating: int, themes: Sequence[str] | None = None) -> None:
        self.fft_counts[rating - 1] += 1
        if themes:  # once per response: no empty set made for the many without themes
            counted = self.themes
            for theme in set(themes):
                counted[theme] = counted.get(theme, 0) + 1
        self.contributions += 1
        self._snapshot = None

    def add_responses(self, counts: Sequence[int], responses: int) -> None:
        """`responses` single responses without themes, `counts` of them per rating 1..6:
        what as many `add_feedback` calls would add (a batch's are folded in at once)."""
        fft = self.fft_counts
        for rating, n in enumerate(counts):
            fft[rating] += n
        self.contributions += responses
        self._snapshot = None

    def add_feedback_counts(self, counts: Sequence[int]) -> None:
        """A batch of responses (per rating 1..6) allocated to this window."""
        for rating, n in enumerate(counts):
            self.fft_counts[rating] += n
        self._changed()

    def add_incident(self, harm: Harm, category: IncidentCategory) -> None:
        self.incidents_by_harm[_HARM_INDEX[harm]] += 1
        self.incidents_by_category[_CATEGORY_INDEX[category]] += 1
        self._changed()

    def remove_incident(self, harm: Harm, category: IncidentCategory) -> None:
        """Retract an incident a later revision of the same report superseded.

        `contributions` does not grow: it counts the events seen for this window, so the same
        set of events gives the same row whatever order the revisions came in.
        """
        self.incidents_by_harm[_HARM_INDEX[harm]] -= 1
        self.incidents_by_category[_CATEGORY_INDEX[category]] -= 1
        self._snapshot = None

    def count_superseded(self) -> None:
        """An incident revision that arrived already superseded: seen, but not counted."""
        self._changed()

    def _changed(self) -> None:
        self.contributions += 1
        self._snapshot = None

    def add_report(self, report: TargetMetric) -> None:
        """Keep the report in force for its metric and period (latest `occurred_at`, then id)."""
        self._changed()
        candidate = ReportInForce.of(report)
        key = candidate.key
        current = self.reports.get(key)
        if current is None or (candidate.occurred_at, candidate.event_id) > (
            current.occurred_at,
            current.event_id,
        ):
            self.reports[key] = candidate

    @classmethod
    def restored(cls, aggregate: UnitWindowAggregate, reports: Iterable[ReportInForce]) -> Self:
        """The accumulator behind a stored aggregate and its reports in force."""
        state = cls(
            aggregate.org_id,
            aggregate.unit_id,
            aggregate.window,
            list(aggregate.fft_counts),
            list(aggregate.incidents_by_harm),
            list(aggregate.incidents_by_category),
            {r.key: r for r in reports},
            dict(aggregate.themes),
            aggregate.contributions,
        )
        return state

    def snapshot(self) -> UnitWindowAggregate:
        """The current figures, frozen (cached until the next change)."""
        if self._snapshot is None:
            self._snapshot = self._freeze()
        return self._snapshot

    def _freeze(self) -> UnitWindowAggregate:
        return UnitWindowAggregate(
            org_id=self.org_id,
            unit_id=self.unit_id,
            window=self.window,
            fft_counts=tuple(self.fft_counts),
            incidents_by_harm=tuple(self.incidents_by_harm),
            incidents_by_category=tuple(self.incidents_by_category),
            targets=allocated_targets(self.window, self.reports),
            contributions=self.contributions,
            themes=tuple(sorted(self.themes.items())),
            reports=tuple(self.reports[key] for key in sorted(self.reports)),
        )
