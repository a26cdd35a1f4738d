"""What `stats.monitor` says of each window of a monitored series (split from stats.py, whose
fold it is the result of; importable from either)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.detection.predictive import Predictive


@dataclass(frozen=True, slots=True)
class Trace:
    """Per window of a monitored series (index-aligned with the input).

    `z` is NaN where the window was not judged (no data, or too little baseline before it);
    `mean` and `extra_variance` describe its predictive distribution. `signalled_at` is the
    index of the window whose closing flagged this one (-1: never); a run flags all its windows
    when its last one closes. `rule` names the rule ("" when not flagged): a run rule, or
    `cusum` or `cusum_small_shift` for the accumulated-evidence detectors
    (`pipeline.core.detection.cusum`), which flag the latest unbroken stretch of windows whose
    z was above their reference when they signal. `cusum` and `cusum_small` are those two
    one-sided CUSUM statistics at each judged window's close (NaN when not judged or the
    detector is off); after a signal (a statistic at or beyond its limit) both restart from 0.
    `rate_rise` is the rates' likelihood-ratio CUSUM (rule `cusum_rate_rise`; NaN where it is
    off: shares, peer comparisons), flagging the latest unbroken stretch of windows whose
    count was likelier under the rise; every statistic restarts after any signal.
    """

    z: list[float]
    mean: list[float]
    extra_variance: list[float]
    trials: Sequence[int] | None
    signalled_at: list[int]
    rule: list[str]
    cusum: list[float]
    cusum_small: list[float]
    rate_rise: list[float]
    # Window t was judged on baseline entries [_first_entry[t], _end_entry[t]) of _entries,
    # each (window index, count, scale, pair terms).
    _entries: list[tuple[int, int, float, float, float, float]]
    _first_entry: list[int]
    _end_entry: list[int]

    def flagged(self, index: int) -> bool:
        return self.signalled_at[index] >= 0

    def flagged_when_closed(self, index: int) -> bool:
        """Whether the window had signalled by the time it closed (a later run can still flag
        it, but only once a later window closes)."""
        return 0 <= self.signalled_at[index] <= index

    def predictive(self, index: int) -> Predictive | None:
        if math.isnan(self.z[index]):
            return None
        trials = self.trials[index] if self.trials is not None else None
        return Predictive(self.mean[index], self.extra_variance[index], trials)

    def baseline_windows(self, index: int) -> list[int]:
        """Indices of the windows the level of window `index` was estimated on."""
        return [
            entry[0] for entry in self._entries[self._first_entry[index] : self._end_entry[index]]
        ]

    def baseline(self, index: int) -> tuple[int, int, int]:
        """(first window index, last window index, windows) of a window's baseline; (-1, -1, 0)
        when the window was not judged."""
        first, end = self._first_entry[index], self._end_entry[index]
        if first == end:
            return -1, -1, 0
        return self._entries[first][0], self._entries[end - 1][0], end - first
