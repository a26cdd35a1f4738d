"""A unit beside the rest of its organisation: every unit's figures aligned on the
organisation's windows, the pooled figure, and the comparison with the peers.

The comparison is indirect standardisation: the count expected of a unit in a window is the
rest of the organisation's share (or harmful-incident rate) in that window times the unit's
usual ratio to them over its own baseline windows (so it inherits their exclusion of earlier
episodes). It is only worked out where it matters, where the unit's own chart signals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.measure_trace import MeasureTrace
from pipeline.core.detection.measures import Measure, UnitFigures
from pipeline.core.detection.predictive import Predictive, baseline_predictive
from pipeline.core.detection.rules import Rules
from pipeline.core.detection.stats import monitor
from pipeline.core.windows import Window


class View:
    """One measure of one unit: against its own baseline, against its peers in the same window,
    and the organisation's pooled figure against its own baseline."""

    __slots__ = (
        "_peer",
        "max_between_cv",
        "own",
        "peer_rate",
        "peer_relvar",
        "peer_scale",
        "pooled",
    )

    def __init__(
        self,
        own: MeasureTrace,
        pooled: MeasureTrace,
        peer_scale: list[float],
        peer_relvar: list[float],
        peer_rate: list[float | None],
        max_between_cv: float,
    ) -> None:
        self.own, self.pooled = own, pooled
        self.peer_scale, self.peer_relvar, self.peer_rate = peer_scale, peer_relvar, peer_rate
        self.max_between_cv = max_between_cv
        self._peer: dict[int, Predictive | None] = {}

    def judged(self, t: int) -> bool:
        return (
            self.peer_scale[t] > 0
            and not math.isnan(self.own.trace.z[t])
            and not math.isnan(self.pooled.trace.z[t])
        )

    def peer(self, t: int) -> Predictive | None:
        """The count expected from the peers' figure and the unit's usual ratio to them."""
        if t not in self._peer:
            baseline = [s for s in self.own.trace.baseline_windows(t) if self.peer_scale[s] > 0]
            self._peer[t] = (
                baseline_predictive(
                    self.own.counts, self.peer_scale, self.own.trace.trials, baseline, t,
                    self.peer_relvar[t], self.max_between_cv,
                )
                if baseline and self.peer_scale[t] > 0
                else None
            )  # fmt: skip
        return self._peer[t]

    def shows(self, t: int, peer_sigma: float) -> bool:
        """The unit signals, stands out from its peers, and the pooled figure looked fine when
        the window closed (judged then, so that a run the pooled figure starts later cannot
        withdraw an alert the board report really did mask at the time)."""
        if not self.own.trace.flagged(t) or self.pooled.trace.flagged_when_closed(t):
            return False
        peer = self.peer(t)
        return peer is not None and peer.z(self.own.counts[t]) >= peer_sigma


class OrgFigures:
    """Every unit's figures aligned on the union of the organisation's windows, with totals."""

    def __init__(self, figures: Mapping[str, UnitFigures], config: DetectionConfig) -> None:
        self.config = config
        self._rules: Rules = config.shewhart_rules
        self.windows: list[Window] = sorted({w for f in figures.values() for w in f.windows})
        slot = {window: t for t, window in enumerate(self.windows)}
        size = len(self.windows)
        self.units: dict[str, dict[str, list[Any]]] = {}
        totals: dict[str, list[Any]] = {
            name: [0] * size for name in ("negative", "responses", "harmful")
        }
        totals["exposure"] = [0.0] * size
        for unit, unit_figs in figures.items():
            aligned: dict[str, list[Any]] = {name: [0] * size for name in totals}
            aligned["exposure"] = [0.0] * size
            aligned["severe"] = [0] * size
            for i, window in enumerate(unit_figs.windows):
                t = slot[window]
                aligned["negative"][t] = unit_figs.negative[i]
                aligned["responses"][t] = unit_figs.responses[i]
                aligned["severe"][t] = unit_figs.severe_harm[i]
                # Rates pool only over units that report activity and incidents.
                if unit_figs.per_activity and unit_figs.incident_feed[i]:
                    aligned["harmful"][t] = unit_figs.harmful[i]
                    aligned["exposure"][t] = unit_figs.exposure[i]
            for name, values in totals.items():
                for t in range(size):
                    values[t] += aligned[name][t]
            self.units[unit] = aligned
        self.totals = totals
        self._pooled = {
            Measure.NEGATIVE_SHARE: self._trace(
                Measure.NEGATIVE_SHARE, totals["negative"], totals["responses"], None
            ),
            Measure.HARMFUL_INCIDENT_RATE: self._trace(
                Measure.HARMFUL_INCIDENT_RATE, totals["harmful"], totals["exposure"], None
            ),
        }

    def views(self, unit: str) -> list[View]:
        aligned = self.units[unit]
        views = [self._view(unit, Measure.NEGATIVE_SHARE, "negative", "responses")]
        if any(aligned["exposure"]):
            views.append(self._view(unit, Measure.HARMFUL_INCIDENT_RATE, "harmful", "exposure"))
        return views

    def severe(self, unit: str, t: int) -> int:
        severe: int = self.units[unit]["severe"][t]
        return severe

    def _view(self, unit: str, measure: Measure, count_name: str, size_name: str) -> View:
        counts, sizes = self.units[unit][count_name], self.units[unit][size_name]
        binomial = measure is Measure.NEGATIVE_SHARE
        scales, relvars = [0.0] * len(counts), [0.0] * len(counts)
        rates: list[float | None] = [None] * len(counts)
        for t, (count, size) in enumerate(zip(counts, sizes, strict=True)):
            rest_count = self.totals[count_name][t] - count
            rest_size = self.totals[size_name][t] - size
            if size <= 0 or rest_count < self.config.min_reference_count or rest_size <= 0:
                continue
            rate = rest_count / rest_size
            rates[t] = rate
            scales[t] = size * rate
            # The peers' own figure is a sample too: its relative binomial or Poisson variance.
            relvars[t] = ((1.0 - rate) if binomial else 1.0) / rest_count
        own = self._trace(measure, counts, sizes, sizes if binomial else None)
        return View(own, self._pooled[measure], scales, relvars, rates, self.config.max_between_cv)

    def _trace(
        self, measure: Measure, counts: list[int], sizes: list[Any], trials: list[int] | None
    ) -> MeasureTrace:
        return MeasureTrace(
            measure, counts, sizes, monitor(counts, sizes, trials, None, self._rules)
        )
