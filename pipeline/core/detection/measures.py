"""The measures detection watches, read off a unit's windows (what a monitor made of them is in
detection/measure_trace.py, the episodes read from it in detection/episodes.py).

- `negative_share`: FFT responses rating care poor or very poor, out of responses that gave a
  view ("don't know" excluded); higher is worse.
- `positive_share`: responses rating care good or very good; lower is worse (judged as the
  share that is *not* positive, so every monitor looks for a rise).
- `harmful_incident_rate`: incidents with at least low harm per 1,000 activity (the unit's
  largest target denominator, e.g. attendances); higher is worse. No-harm incidents are left
  out: reporting them is a sign of a healthy safety culture, not of harm.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.arrivals import reports_arrived
from pipeline.core.detection.resume import MISSING, Memo, common_length
from pipeline.core.windows import Window

PER_ACTIVITY = 1000.0
_EXPOSURE_WINDOWS = 4


class Measure(StrEnum):
    NEGATIVE_SHARE = "negative_share"
    POSITIVE_SHARE = "positive_share"
    HARMFUL_INCIDENT_RATE = "harmful_incident_rate"


@dataclass(frozen=True, slots=True)
class UnitFigures:
    """One unit's windows as parallel lists, in time order."""

    windows: list[Window]
    responses: list[int]
    negative: list[int]
    not_positive: list[int]
    harmful: list[int]
    severe_harm: list[int]
    # Activity in thousands (see `_exposure`); 1.0 in every window of a unit that never reports
    # any, whose rate is then per window.
    exposure: list[float]
    exposure_reported: list[bool]
    per_activity: bool
    targets_met: list[bool | None]
    # True from the unit's first incident report (of any harm) on, up to the windows its
    # organisation's incident reports have not passed yet (arrivals.py). Before it the unit
    # has no incident feed (its trust sends only feedback or activity), after it the reports
    # are still to come: a window there holds no evidence about harm or reporting, so it is
    # neither judged on them nor learnt from.
    incident_feed: list[bool]


_FIGURES = Memo("unit_figures")
_GROWN = Memo("unit_grown")  # per unit: its latest figures and activity, grown from


def unit_figures(series: Sequence[UnitWindowAggregate]) -> UnitFigures:
    """The unit's figures per window (read-only: computed once for the same frozen windows,
    matched by identity; the entry holds them, so their ids cannot be taken by others). A unit
    seen before is read again only from its first window that changed (a window closed since,
    a late event): every column but the exposure reads its own window alone, and the
    exposure resumes from the activity known before that window. Windows beyond those the
    organisation's incident reports have passed (`arrivals.reports_arrived`) have no incident
    feed yet."""
    arrived = reports_arrived(series)
    key = (arrived, *map(id, series))
    hit = _FIGURES.get(key)
    if hit is MISSING:
        slot = (series[0].org_id, series[0].unit_id) if series else None
        grown = _GROWN.get(slot)
        held = tuple(series)
        if grown is MISSING:
            computed = _unit_figures(held, 0, None, None)
        else:
            before, old, old_activity = grown
            computed = _unit_figures(held, common_length(before, held), old, old_activity)
        figures = computed[0]
        if arrived < len(held) and any(figures.incident_feed[arrived:]):
            feed = figures.incident_feed[:arrived] + [False] * (len(held) - arrived)
            figures = replace(figures, incident_feed=feed)
        hit = (held, figures)
        _FIGURES.put(key, hit, slot)  # the unit's latest windows only
        _GROWN.put(slot, (held, *computed))
    found: UnitFigures = hit[1]
    return found


def _unit_figures(
    series: Sequence[UnitWindowAggregate],
    same: int,
    old: UnitFigures | None,
    old_activity: list[float | None] | None,
) -> tuple[UnitFigures, list[float | None]]:
    """The figures (and activity) of `series`, whose first `same` windows are those `old`
    was read from (`old_activity` its activity)."""
    # Columns by comprehension, not the aggregates' properties: this runs for every window
    # that changed.
    if old is None or old_activity is None:
        same = 0
    fresh = series[same:]
    ratings = [aggregate.fft_counts for aggregate in fresh]
    responses = [c[0] + c[1] + c[2] + c[3] + c[4] for c in ratings]
    harms = [aggregate.incidents_by_harm for aggregate in fresh]
    targets = [aggregate.targets for aggregate in fresh]
    activity = [
        max([t.denominator for t in window if t.is_share], default=None) for window in targets
    ]
    if old is not None and old_activity is not None and same:
        activity = old_activity[:same] + activity
        exposure = _exposure(activity, same, old.exposure if old.per_activity else None)
        return UnitFigures(
            windows=old.windows[:same] + [aggregate.window for aggregate in fresh],
            responses=old.responses[:same] + responses,
            negative=old.negative[:same] + [c[3] + c[4] for c in ratings],
            not_positive=old.not_positive[:same]
            + [views - c[0] - c[1] for views, c in zip(responses, ratings, strict=True)],
            harmful=old.harmful[:same] + [h[1] + h[2] + h[3] + h[4] for h in harms],
            severe_harm=old.severe_harm[:same] + [h[3] + h[4] for h in harms],
            exposure=exposure if exposure is not None else [1.0] * len(series),
            exposure_reported=old.exposure_reported[:same]
            + [value is not None for value in activity[same:]],
            per_activity=exposure is not None,
            targets_met=old.targets_met[:same]
            + [all([t.met for t in window]) if window else None for window in targets],
            incident_feed=old.incident_feed[:same]
            + _incident_feed(harms, same > 0 and old.incident_feed[same - 1]),
        ), activity
    exposure = _exposure(activity)
    return UnitFigures(
        windows=[aggregate.window for aggregate in series],
        responses=responses,
        negative=[c[3] + c[4] for c in ratings],
        not_positive=[views - c[0] - c[1] for views, c in zip(responses, ratings, strict=True)],
        harmful=[h[1] + h[2] + h[3] + h[4] for h in harms],
        severe_harm=[h[3] + h[4] for h in harms],
        exposure=exposure if exposure is not None else [1.0] * len(series),
        exposure_reported=[value is not None for value in activity],
        per_activity=exposure is not None,
        targets_met=[all([t.met for t in window]) if window else None for window in targets],
        incident_feed=_incident_feed(harms, False),
    ), activity


def _incident_feed(harms: Sequence[Sequence[int]], started: bool) -> list[bool]:
    """Per window: whether the unit had reported any incident by then (`started`: before
    the first of these windows)."""
    feed = []
    for counts in harms:
        started = started or any(counts)
        feed.append(started)
    return feed


def _exposure(
    activity: list[float | None], same: int = 0, old: list[float] | None = None
) -> list[float] | None:
    """Activity in thousands per window: the largest of the latest `_EXPOSURE_WINDOWS` known.

    Target returns are monthly and arrive after the month, so while a unit is being judged its
    latest weeks have no activity yet and the week across the month boundary holds only the
    old month's few days. Taken alone, such a partial week passes for a quiet one: in a
    streaming replay it made harm rates 25 times too high and raised alerts that later had to
    be withdrawn. Until four values are known (a unit's first return may start mid-week), the
    largest of its first four stands in; those weeks are never judged, only learnt from.

    `old`: the exposure of a series whose activity began with `activity[:same]`; once four
    values are known among those, windows from `same` on are all that is computed again.
    """
    recent: deque[float] = deque(maxlen=_EXPOSURE_WINDOWS)
    if old is not None and same:
        # The latest four known before `same` (searched backwards), if there are four.
        at = same
        while at > 0 and len(recent) < _EXPOSURE_WINDOWS:
            at -= 1
            value = activity[at]
            if value:
                recent.appendleft(value)
        if len(recent) == _EXPOSURE_WINDOWS:
            exposure = old[:same]
            for value in activity[same:]:
                if value:
                    recent.append(value)
                exposure.append(max(recent) / PER_ACTIVITY)
            return exposure
        recent.clear()
    known = [value for value in activity if value]
    if not known:
        return None
    first = max(known[:_EXPOSURE_WINDOWS])
    exposure = []
    for value in activity:
        if value:
            recent.append(value)
        largest = max(recent) if len(recent) == _EXPOSURE_WINDOWS else first
        exposure.append(largest / PER_ACTIVITY)
    return exposure
