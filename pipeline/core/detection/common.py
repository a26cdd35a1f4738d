"""What moves every unit of an organisation at once, for the CUSUM to leave out.

Winter pressure, a trust-wide staffing crisis or a slow shared drift move every unit's
experience and harm together. A unit's own baseline lags behind such a movement (it follows
26 weeks), so each unit's z runs a little high for weeks; single-window rules barely notice,
but accumulated evidence does: in simulation a CUSUM of the plain z raised ten times its
nominal false alarms, nearly all in winter. The story the CUSUM is for is one unit drifting
away from what it usually is *while the rest of its organisation does not*, so it accumulates
the unit's z less the organisation's common movement in the same window, when at least
`MIN_OTHERS` other units were judged (`_level`): the others' common relative shift,
estimated from the z of their Shewhart-only monitors weighted by their precision, trimmed and
shrunk towards 0, and expressed as the z it gives this unit. The shift is estimated over the
window and the `DetectionConfig.common_windows` - 1 before it (`_pooled_offsets`): the
season moves slowly, and a baseline that lags it is off by about 10% for months (spring
after a winter, the start of winter), a bias that one window's estimate cannot tell from
chance and so shrank to nothing. Weighting by precision matters
because one winter dip gives a unit of 120 responses a week a z several times that of a unit
of 12: the plain mean z of the others under-corrects the big units and over-corrects the small
ones. The Shewhart rules still judge the plain z, so a large shift that hits every unit is
still raised.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.measures import Measure, UnitFigures, unit_figures
from pipeline.core.detection.resume import MISSING, Memo, Suffixes, common_length
from pipeline.core.detection.rules import Rules
from pipeline.core.detection.stats import CUSUM_Z_RANGE, monitor
from pipeline.core.detection.trace import Trace

# Fewer judged units than this beside the unit in a window: nothing is taken out.
MIN_OTHERS = 3
Offsets = dict[Measure, list[float]]
Z_LOW, Z_HIGH = CUSUM_Z_RANGE
TRIM_FROM = 5


def measure_columns(
    figures: UnitFigures,
) -> tuple[tuple[Measure, list[int], list[float], list[int] | None], ...]:
    """(measure, counts, scales, binomial trials) of each measure a unit is watched on."""
    responses = [float(n) for n in figures.responses]
    # Harm is measured only once the unit has an incident feed (`UnitFigures.incident_feed`).
    exposure = [
        e if fed else 0.0 for e, fed in zip(figures.exposure, figures.incident_feed, strict=True)
    ]
    return (
        (Measure.NEGATIVE_SHARE, figures.negative, responses, figures.responses),
        (Measure.POSITIVE_SHARE, figures.not_positive, responses, figures.responses),
        (Measure.HARMFUL_INCIDENT_RATE, figures.harmful, exposure, None),
    )


def common_offsets(
    units: Mapping[str, UnitFigures], config: DetectionConfig, owner: str = ""
) -> dict[str, Offsets]:
    """Per unit and measure, aligned with the unit's windows: the level of the other units
    judged in the same window (0.0 where fewer than `MIN_OTHERS` were). `owner` (the
    organisation) only tells apart the results kept for reuse (`detection.resume`)."""
    rules: Rules = config.shewhart_rules
    scored: dict[Measure, dict[str, Scored]] = {m: {} for m in Measure}
    for unit, figures in units.items():
        for measure, counts, scales, trials in measure_columns(figures):
            trace = monitor(counts, scales, trials, None, rules)
            scores = window_scores((owner, unit, measure), trace, counts, trace.z.__getitem__)
            scored[measure][unit] = (figures.windows, scores)
    pool = config.common_windows
    by_measure = {
        m: measure_offsets((owner, m, rules), scored[m])
        if pool <= 1
        else _pooled_offsets((owner, m, rules, pool), scored[m], pool)
        for m in Measure
    }
    return {unit: {m: by_measure[m][unit] for m in Measure} for unit in units}


Scored = tuple[Sequence[Any], Sequence[tuple[float, float]]]
"""A unit's windows (or any sorted keys that tell them apart) and each one's (z, precision)."""
_Grouped = tuple[
    dict[str, Scored],  # what the offsets were computed from
    dict[Any, list[tuple[str, float, float]]],  # per window, its judged units
    dict[Any, dict[str, float]],  # per window, each unit's level
    dict[str, list[float]],  # the offsets
]
_GROUPED = Memo("offsets")


def measure_offsets(slot: Hashable, scored: dict[str, Scored]) -> dict[str, list[float]]:
    """One measure's offsets of every unit (`others_levels` of the units judged in each
    window, in the units' order), aligned with its windows. Kept per `slot` (an organisation
    and measure): the next call groups again only the windows where some unit's window or
    score changed (and those after it, in that unit), found by comparing each unit's columns
    with the last call's."""
    held: _Grouped | Any = _GROUPED.get(slot)
    if held is MISSING or list(held[0]) != list(scored):
        groups: dict[Any, list[tuple[str, float, float]]] = {}
        for unit, (windows, scores) in scored.items():
            for window, (z, weight) in zip(windows, scores, strict=True):
                if z == z:  # not NaN: judged
                    groups.setdefault(window, []).append((unit, z, weight))
        levels = {w: others_levels(judged) for w, judged in groups.items()}
        offsets = {
            unit: [levels.get(w, NOBODY).get(unit, 0.0) for w in windows]
            for unit, (windows, _) in scored.items()
        }
    else:
        before, groups, levels, kept = held[0], dict(held[1]), dict(held[2]), held[3]
        same: dict[str, int] = {}
        changed: set[Any] = set()
        for unit, (windows, scores) in scored.items():
            old_windows, old_scores = before[unit]
            same[unit] = min(common_length(old_windows, windows), common_length(old_scores, scores))
            changed.update(windows[same[unit] :], old_windows[same[unit] :])
        for window in changed:
            judged = _judged_in(window, scored)
            if judged:
                groups[window], levels[window] = judged, others_levels(judged)
            else:
                groups.pop(window, None)
                levels.pop(window, None)
        offsets = {}
        for unit, (windows, _) in scored.items():
            first = min([same[unit], *(i for w in changed if (i := _index(windows, w)) >= 0)])
            offsets[unit] = kept[unit][:first] + [
                levels.get(w, NOBODY).get(unit, 0.0) for w in windows[first:]
            ]
    _GROUPED.put(slot, (scored, groups, levels, offsets))
    return offsets


_POOLED = Memo("pooled")
_Pooled = tuple[
    dict[str, tuple[list[Any], list[tuple[float, float]]]],  # what they were computed from
    dict[Any, list[tuple[str, float, float]]],  # per window, its judged units
    list[Any],  # the windows with judged units, in order
    list[dict[str, tuple[float, float]]],  # the others' sums of each of them
    dict[Any, dict[str, float]],  # per window, each judged unit's level
    dict[str, list[float]],  # the offsets
]


def _pooled_offsets(slot: Hashable, scored: dict[str, Scored], pool: int) -> dict[str, list[float]]:
    """Per unit, aligned with its windows: the others' common level estimated over each
    window and the `pool` - 1 windows with judged units before it (`_pooled_level`). Kept per
    `slot` (an organisation and measure): the next call computes again only from the earliest
    window where some unit's window or score changed (a window's level reads only the sums of
    the windows before it), found by comparing each unit's columns with the last call's."""
    inputs = {unit: (list(windows), list(scores)) for unit, (windows, scores) in scored.items()}
    names = tuple(scored)
    held: _Pooled | Any = _POOLED.get(slot)
    same: dict[str, int] = {}
    kept: dict[str, list[float]] | None = None
    earliest: Any = None
    if held is MISSING or tuple(held[0]) != names:
        groups: dict[Any, list[tuple[str, float, float]]] = {}
        for unit, (windows, scores) in inputs.items():
            for window, (z, weight) in zip(windows, scores, strict=True):
                if z == z:  # not NaN: judged
                    groups.setdefault(window, []).append((unit, z, weight))
        order, since = sorted(groups), 0
        sums: list[dict[str, tuple[float, float]]] = []
        levels: dict[Any, dict[str, float]] = {}
    else:
        before, groups, order, sums, levels, kept = held
        changed: set[Any] = set()
        for unit, (windows, scores) in inputs.items():
            old_windows, old_scores = before[unit]
            same[unit] = min(common_length(old_windows, windows), common_length(old_scores, scores))
            changed.update(windows[same[unit] :], old_windows[same[unit] :])
        if not changed:
            return kept
        groups = dict(groups)
        for window in changed:
            judged = _judged_in(window, scored)
            if judged:
                groups[window] = judged
            else:
                groups.pop(window, None)
        earliest = min(changed)
        since = bisect_left(order, earliest)
        tail = {w for w in order[since:] if w in groups} | {w for w in changed if w in groups}
        order = order[:since] + sorted(tail)
        sums, levels = sums[:since], dict(levels)
        for window in changed:
            levels.pop(window, None)
    for i in range(since, len(order)):
        window = order[i]
        sums.append(_others_sums(tuple(groups[window]), names))
        recent = sums[max(0, i - pool + 1) : i + 1]
        levels[window] = {unit: _pooled_level(recent, unit, w) for unit, _, w in groups[window]}
    offsets: dict[str, list[float]] = {}
    for unit, (windows, _) in inputs.items():
        # Windows before the earliest changed one keep their levels, so their offsets.
        first = 0 if kept is None else min(same[unit], bisect_left(windows, earliest))
        offsets[unit] = (kept[unit][:first] if kept is not None else []) + [
            levels.get(w, NOBODY).get(unit, 0.0) for w in windows[first:]
        ]
    _POOLED.put(slot, (inputs, groups, order, sums, levels, offsets))
    return offsets


_SUMS = Memo("sums")


def _others_sums(
    judged: tuple[tuple[str, float, float], ...], names: tuple[str, ...]
) -> dict[str, tuple[float, float]]:
    """Per unit of `names`, (Σ w z, Σ w²) of the other units judged in one window (z clipped,
    the highest and lowest left out from `TRIM_FROM`, as `_level` does); absent where fewer
    than `MIN_OTHERS` remain. Computed once for the same window's figures."""
    key = (judged, names)
    sums: dict[str, tuple[float, float]] | Any = _SUMS.get(key)
    if sums is MISSING:
        sums = {}
        for unit in names:
            here = sorted(
                (min(max(z, Z_LOW), Z_HIGH), w) for name, z, w in judged if name != unit and w > 0.0
            )
            if len(here) >= TRIM_FROM:
                here = here[1:-1]
            if len(here) >= MIN_OTHERS:
                sums[unit] = (math.fsum(z * w for z, w in here), math.fsum(w * w for _, w in here))
        _SUMS.put(key, sums)
    return sums


def _pooled_level(
    recent: Sequence[Mapping[str, tuple[float, float]]], unit: str, weight: float
) -> float:
    """`_level` over several windows: the others' sums of each (`_others_sums`) pooled into
    one precision-weighted estimate of the common shift, shrunk by the same empirical-Bayes
    factor, times this unit's own precision capped at the others' together in a window (the
    estimate's error, which lasts for weeks, reaches a unit times its precision: a big ED
    among small wards gets the offset the rest of its organisation together would, no more;
    issue 13's tenth round)."""
    pairs = [window[unit] for window in recent if unit in window]
    if weight <= 0.0 or not pairs:
        return 0.0
    squares = math.fsum(square for _, square in pairs)
    shift = math.fsum(product for product, _ in pairs) / squares
    significance = shift * shift * squares
    if significance <= 1.0:
        return 0.0
    others = math.sqrt(squares / len(pairs))
    return shift * (1.0 - 1.0 / significance) * min(weight, others)


def _index(windows: Sequence[Any], window: Any) -> int:
    """The index of `window` among `windows` (in time order), or -1."""
    i = bisect_left(windows, window)
    return i if i < len(windows) and windows[i] == window else -1


def _judged_in(window: Any, scored: Mapping[str, Scored]) -> list[tuple[str, float, float]]:
    """(unit, z, precision) of every unit judged in `window`, in the units' order."""
    judged = []
    for unit, (windows, scores) in scored.items():
        i = _index(windows, window)
        if i >= 0:
            z, weight = scores[i]
            if z == z:
                judged.append((unit, z, weight))
    return judged


NOBODY: dict[str, float] = {}
"""The levels of a window no unit was judged in (read-only)."""
_SCORES: Suffixes[tuple[float, float]] = Suffixes("peers")
_LEVELS = Memo("levels")


def window_scores(
    slot: Hashable, trace: Trace, counts: Sequence[int], score: Callable[[int], float]
) -> list[tuple[float, float]]:
    """Per window, (score, precision) of a monitored measure, (NaN, 0.0) where it was not
    judged. `score(t)` must read only the trace's predictive at t and `counts[t]` (and what
    `slot` fixes)."""

    def at(t: int) -> tuple[float, float]:
        z = score(t)
        return (math.nan, 0.0) if math.isnan(z) else (z, _precision(trace, t))

    columns: list[Sequence[Any]] = [trace.z, trace.mean, trace.extra_variance, counts]
    if trace.trials is not None:
        columns.append(trace.trials)
    return _SCORES.pointwise(slot, columns, at)


def others_levels(judged: Sequence[tuple[str, float, float]]) -> dict[str, float]:
    """`_level` of every unit judged in a window ((unit, z, precision) of each), computed once
    for the same figures (a unit judged again when a window closes has the same figures in
    most earlier windows). A unit not judged there has level 0.0 (its precision is 0)."""
    key = tuple(judged)
    levels: dict[str, float] | Any = _LEVELS.get(key)
    if levels is MISSING:
        levels = {unit: _level(key, unit, weight) for unit, _, weight in key}
        _LEVELS.put(key, levels)
    return levels


def _precision(trace: Trace, t: int) -> float:
    """The window's expected count over its predictive sd: the z a 100% rise would give it."""
    predictive = trace.predictive(t)
    assert predictive is not None
    mean = predictive.mean
    extra = predictive.extra_variance
    n = predictive.trials
    spread = mean + extra if n is None else mean - mean * mean / n + extra - extra / n
    return mean / math.sqrt(spread) if spread > 0.0 else 0.0


def _level(judged: tuple[tuple[str, float, float], ...], unit: str, weight: float) -> float:
    """The others' common relative shift in this window, as the z it gives this unit.

    Each other unit's z is the common shift times its precision w (expected count over
    predictive sd) plus noise of sd 1, so the shift's least-squares estimate is Σ w z / Σ w²,
    with variance 1 / Σ w² (the highest and lowest z left out once there are `TRIM_FROM`:
    another unit's own episode must not mask this one's). Only the part of it that stands out
    from that noise is taken out: the estimate is shrunk towards 0 by the empirical-Bayes
    factor 1 - variance / estimate² (0 when the movement is within the noise), so a weak,
    chance movement of the others neither hides a unit's own shift nor invents one, while a
    strong common movement (winter) is taken out nearly whole. Times this unit's own w."""
    others = sorted(
        (min(max(z, Z_LOW), Z_HIGH), w) for name, z, w in judged if name != unit and w > 0.0
    )
    if len(others) < MIN_OTHERS or weight <= 0.0:
        return 0.0
    if len(others) >= TRIM_FROM:
        others = others[1:-1]
    squares = math.fsum(w * w for _, w in others)
    shift = math.fsum(z * w for z, w in others) / squares
    significance = shift * shift * squares  # the estimate over its variance, squared
    if significance <= 1.0:
        return 0.0
    return shift * (1.0 - 1.0 / significance) * weight


def org_series_figures(
    units: Mapping[str, Sequence[UnitWindowAggregate]],
) -> dict[str, UnitFigures]:
    """`unit_figures` of every unit with windows."""
    return {unit: unit_figures(series) for unit, series in units.items() if series}


_SHARED = Memo("figures")


def org_figures_and_offsets(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> tuple[dict[str, UnitFigures], dict[str, Offsets]]:
    """`org_series_figures` and their `common_offsets`, computed once for the same windows.

    One judgement asks twice (the stored verdicts, then the alerts) on the very same closed
    windows: frozen snapshots, matched here by identity (the entry holds them, so no other
    object can take their ids). Equal inputs give equal results, so the second asks nothing
    new; callers must not change what they are given (nobody does: all of it is read-only).
    """
    held = tuple((unit, tuple(series)) for unit, series in units.items())
    key = (config, tuple((unit, tuple(map(id, series))) for unit, series in held))
    hit = _SHARED.get(key)
    if hit is MISSING:
        figures = org_series_figures(units)
        owner = next((s[0].org_id for s in units.values() if s), "")
        hit = (held, figures, common_offsets(figures, config, owner))
        _SHARED.put(key, hit)
    return hit[1], hit[2]
