"""The common offsets of one measure for every unit of an organisation, aligned with each unit's
windows (`detection.common` says what they are for), kept per organisation and measure between
judgements: a call groups again only the windows where some unit's window or score changed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from pipeline.core.detection.common_levels import NOBODY, others_levels, others_sums, pooled_level
from pipeline.core.detection.resume import MISSING, Memo, common_length

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


def pooled_offsets(slot: Hashable, scored: dict[str, Scored], pool: int) -> dict[str, list[float]]:
    """Per unit, aligned with its windows: the others' common level estimated over each
    window and the `pool` - 1 windows with judged units before it (`pooled_level`). Kept per
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
        sums.append(others_sums(tuple(groups[window]), names))
        recent = sums[max(0, i - pool + 1) : i + 1]
        levels[window] = {unit: pooled_level(recent, unit, w) for unit, _, w in groups[window]}
    offsets: dict[str, list[float]] = {}
    for unit, (windows, _) in inputs.items():
        # Windows before the earliest changed one keep their levels, so their offsets.
        first = 0 if kept is None else min(same[unit], bisect_left(windows, earliest))
        offsets[unit] = (kept[unit][:first] if kept is not None else []) + [
            levels.get(w, NOBODY).get(unit, 0.0) for w in windows[first:]
        ]
    _POOLED.put(slot, (inputs, groups, order, sums, levels, offsets))
    return offsets


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
