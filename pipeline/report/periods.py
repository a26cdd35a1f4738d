"""Every unit and organisation over a period: against its own baseline, against the rest of
its organisation, and the periods the report offers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.core.alerts import AlertKind, AlertStatus
from pipeline.report.figures import (
    BASELINE_WINDOWS,
    MAX_PERIODS,
    MIN_BASELINE_WINDOWS,
    RECENT_WINDOWS,
    Pooled,
    comparable,
    pool,
    without,
)
from pipeline.report.records import AlertRecord, VerdictRecord, WindowFigures
from pipeline.report.verdicts import CONCERN, EXPERIENCE, SAFETY, period_class

UnitKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class UnitView:
    org_id: str
    unit_id: str
    recent: Pooled
    baseline: Pooled
    alerts: tuple[AlertRecord, ...]
    verdicts: tuple[VerdictRecord, ...] = ()
    """The pipeline's stored verdicts on the unit's windows in the period."""

    @property
    def key(self) -> UnitKey:
        return (self.org_id, self.unit_id)

    @property
    def worst_target(self) -> tuple[str, float, str] | None:
        """The worst target in its worst window: (metric, margin in its unit, unit). Targets
        in different units are compared by `comparable` margins."""
        recent = self.recent
        if not recent.lowest:
            return None
        metric = min(recent.lowest, key=lambda m: (self._comparable(m), m))
        return metric, recent.lowest[metric], recent.units.get(metric, "")

    @property
    def worst_margin(self) -> tuple[str, float] | None:
        """The worst target in its worst window on one scale for every unit (`comparable`):
        (metric, margin), >= 0 when met."""
        worst = self.worst_target
        return None if worst is None else (worst[0], self._comparable(worst[0]))

    def _comparable(self, metric: str) -> float:
        target = self.recent.targets[metric][2]
        return comparable(self.recent.lowest[metric], target, self.recent.units.get(metric, ""))

    @property
    def share_change(self) -> float | None:
        if self.recent.share is None or self.baseline.share is None:
            return None
        return self.recent.share - self.baseline.share

    @property
    def experience_class(self) -> str | None:
        """The stored verdicts' class of the unit's experience over the period (positive and
        negative share; any concern in the period is a concern), None when not judged."""
        return period_class(self.verdicts, EXPERIENCE)

    @property
    def safety_class(self) -> str | None:
        """The stored verdicts' class of its harm rate (a harm fall whose reporting fell is a
        `reporting_concern`, never an improvement)."""
        return period_class(self.verdicts, SAFETY)

    @property
    def experience_worse(self) -> bool:
        """A concern in the stored verdicts: the alerts' own judgement, not the report's."""
        return self.experience_class == CONCERN

    @property
    def safety_worse(self) -> bool:
        return self.safety_class == CONCERN

    @property
    def hitting_target_missing_point(self) -> bool:
        """The pipeline found it so in the period: a `target_experience_divergence` alert the
        safety team did not dismiss (the alerts' judgement, week by week, never the report's:
        a unit that missed another target in other weeks of the period is still named)."""
        divergences = self.alerts_of(AlertKind.TARGET_EXPERIENCE_DIVERGENCE)
        return any(a.status != AlertStatus.DISMISSED for a in divergences)

    def alerts_of(self, kind: AlertKind | None = None) -> list[AlertRecord]:
        """The unit's alerts (of `kind`) whose weeks overlap the period."""
        return [a for a in self.alerts if kind in (None, a.kind)]

    def alerts_about(self, measure: str) -> list[AlertRecord]:
        """The unit's alerts in the period about `experience` or `safety`."""
        return [a for a in self.alerts if measure in alert_measures(a)]


def alert_measures(alert: AlertRecord) -> set[str]:
    """What an alert is about, `experience` and/or `safety`: the measures its evidence flags,
    else what its kind suggests."""
    found = set()
    measures = alert.evidence.get("measures")
    if isinstance(measures, dict):
        for name, entry in measures.items():
            windows = entry.get("windows") if isinstance(entry, dict) else None
            if any(isinstance(w, dict) and w.get("rule") for w in windows or []):
                found.add("safety" if "incident" in name else "experience")
    if not found:
        safety = alert.kind in (AlertKind.SAFETY_SIGNAL, AlertKind.REPORTING_SILENCE)
        found.add("safety" if safety else "experience")
    return found


@dataclass(frozen=True, slots=True)
class Standing:
    """A unit's positive share against the rest of its organisation, now and as usual.

    Units differ for good reasons (an emergency department is never rated like a maternity
    ward), so the report shows how far a unit has moved from its *usual* standing, not merely
    how far it is below the rest. Figures only: whether a unit is a dark spot is the pipeline's
    `masked_dark_spot` alert, never judged here.
    """

    share: float
    rest: float
    usual_gap: float
    before: float
    """The unit's own share in the baseline."""

    @property
    def gap(self) -> float:
        return self.share - self.rest

    @property
    def expected(self) -> float:
        """Where the unit would be now had it kept its usual standing."""
        return min(1.0, max(0.0, self.rest + self.usual_gap))

    @property
    def slipped(self) -> float:
        return self.gap - self.usual_gap


def standing(
    unit_now: Pooled, rest_now: Pooled, unit_before: Pooled, rest_before: Pooled
) -> Standing | None:
    shares = [unit_now, rest_now, unit_before, rest_before]
    if any(s.share is None for s in shares):
        return None
    p = [s.share or 0.0 for s in shares]
    return Standing(share=p[0], rest=p[1], usual_gap=p[2] - p[3], before=p[2])


@dataclass(frozen=True, slots=True)
class OrgView:
    org_id: str
    units: tuple[UnitView, ...]
    recent: Pooled
    baseline: Pooled
    standings: dict[UnitKey, Standing]
    dark_spots: tuple[UnitView, ...]
    """Units with a `masked_dark_spot` alert in the period: the pipeline found them masked by
    the organisation's overall figure (which had not signalled on its own chart)."""


def org_view(
    org: str,
    units: Sequence[UnitView],
    recent: Callable[[UnitKey], list[WindowFigures]],
    before: Callable[[UnitKey], list[WindowFigures]],
) -> OrgView:
    """`recent` and `before` give a unit's windows in the latest period and its baseline, and
    each unit's `recent` and `baseline` must be pooled from those very windows: the rest of
    the organisation is its whole less the unit (`without`), so linear in its units."""
    whole = pool([w for u in units for w in recent(u.key)])
    earlier = pool([w for u in units for w in before(u.key)])
    standings = {}
    for unit in units:
        rest_now, rest_before = without(whole, unit.recent), without(earlier, unit.baseline)
        found = standing(unit.recent, rest_now, unit.baseline, rest_before)
        if found is not None:
            standings[unit.key] = found
    spots = tuple(u for u in units if u.alerts_of(AlertKind.MASKED_DARK_SPOT))
    return OrgView(org, tuple(units), whole, earlier, standings, spots)


@dataclass(frozen=True, slots=True)
class PeriodView:
    """Every unit and organisation over one period, against the windows before it."""

    start: datetime
    end: datetime
    baseline_start: datetime
    windows: int
    baseline_windows: int
    window_kind: str
    units: tuple[UnitView, ...]
    orgs: tuple[OrgView, ...]

    @property
    def missing_the_point(self) -> list[UnitView]:
        return [u for u in self.units if u.hitting_target_missing_point]

    @property
    def dark_spots(self) -> list[tuple[OrgView, UnitView]]:
        """Units the pipeline found masked by their organisation (`OrgView.dark_spots`)."""
        return [(o, u) for o in self.orgs for u in o.dark_spots]


def period_bounds(count: int, window_kind: str) -> list[tuple[int, int, int]]:
    """(baseline first, first, stop) window indices of each period, latest first: blocks of
    13 weeks (3 months) back from the end, each against up to 26 weeks (12 months) before it.
    The latest period is always offered; earlier ones only with enough baseline."""
    size = RECENT_WINDOWS.get(window_kind, 13)
    baseline = BASELINE_WINDOWS.get(window_kind, 26)
    if count < 2 * size:
        size = max(1, count // 2)
    out: list[tuple[int, int, int]] = []
    stop = count
    while stop - size >= 0 and len(out) < MAX_PERIODS:
        first = stop - size
        if out and first < MIN_BASELINE_WINDOWS:
            break
        out.append((max(0, first - baseline), first, stop))
        stop = first
    return out


def period_view(
    by_unit: dict[UnitKey, list[WindowFigures]],
    starts: Sequence[datetime],
    bounds: tuple[int, int, int],
    alerts: Sequence[AlertRecord],
    window_kind: str,
    verdicts: Mapping[UnitKey, Sequence[VerdictRecord]] | None = None,
) -> PeriodView:
    """Figures for one period; `starts` are the window starts, `alerts` every standing alert,
    `verdicts` the stored verdicts of each unit."""
    base_first, first, stop = bounds
    begin = starts[first]
    # The baseline is the calendar's weeks (months) before the period, not the windows with
    # data before it wherever they fell: a gap of years leaves them out.
    baseline_start = max(starts[base_first], _baseline_floor(begin, window_kind))
    baseline_windows = sum(baseline_start <= s < begin for s in starts[base_first:first])
    end = starts[stop] if stop < len(starts) else max(w.end for s in by_unit.values() for w in s)

    def recent(key: UnitKey) -> list[WindowFigures]:
        return [w for w in by_unit[key] if begin <= w.start < end]

    def before(key: UnitKey) -> list[WindowFigures]:
        return [w for w in by_unit[key] if baseline_start <= w.start < begin]

    overlapping: dict[UnitKey, list[AlertRecord]] = {}
    for a in alerts:
        if a.window_start < end and a.window_end > begin:
            overlapping.setdefault((a.org_id, a.unit_id), []).append(a)
    units = []
    by_org: dict[str, list[UnitView]] = {}
    for key in sorted(by_unit):
        during = tuple(overlapping.get(key, ()))
        judged = tuple(v for v in (verdicts or {}).get(key, ()) if begin <= v.window_start < end)
        units.append(UnitView(key[0], key[1], pool(recent(key)), pool(before(key)), during, judged))
        by_org.setdefault(key[0], []).append(units[-1])
    orgs = [org_view(org, by_org[org], recent, before) for org in sorted(by_org)]
    return PeriodView(
        begin, end, baseline_start, stop - first, baseline_windows, window_kind,
        tuple(units), tuple(orgs),
    )  # fmt: skip


def _baseline_floor(begin: datetime, window_kind: str) -> datetime:
    """The earliest start of a period's baseline: `BASELINE_WINDOWS` weeks (months) before."""
    windows = BASELINE_WINDOWS.get(window_kind, 26)
    if window_kind == "month":
        months = begin.year * 12 + begin.month - 1 - windows
        return begin.replace(year=months // 12, month=months % 12 + 1)
    return begin - timedelta(weeks=windows)


def offered_periods(periods: Sequence[PeriodView]) -> tuple[PeriodView, ...]:
    """The periods the report offers (latest first): the latest always, an earlier one only
    with at least `MIN_BASELINE_WINDOWS` windows of baseline in the calendar before it."""
    return tuple(
        p for i, p in enumerate(periods) if i == 0 or p.baseline_windows >= MIN_BASELINE_WINDOWS
    )
