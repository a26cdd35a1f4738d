"""What a monitor made of one measure of a unit (`MeasureTrace`), and the evidence of a judged
window as a ward manager's chart would show it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.cusum import CUSUM, CUSUM_RULES, RATE_RISE
from pipeline.core.detection.measures import Measure
from pipeline.core.detection.rules import BEYOND_LIMIT
from pipeline.core.detection.trace import Trace
from pipeline.core.windows import Window

SMALL_SAMPLE = 30
"""A window with fewer responses is judged like any other (its limits are exact, so wide),
and flagged as small in evidence, sentences and the report."""


@dataclass(frozen=True, slots=True)
class MeasureTrace:
    """A monitored measure: the counts and sizes it was judged on, and the verdicts.

    `sizes` are responses (shares) or exposure in thousands (rates); a share's value is
    count / size, a rate's count / size per 1,000.
    """

    measure: Measure
    counts: Sequence[int]
    sizes: Sequence[float]
    trace: Trace

    def value(self, count: float, size: float) -> float:
        """The measure's own reading of a count (positive share is 1 - the share judged)."""
        if self.measure is Measure.POSITIVE_SHARE:
            return 1.0 - count / size
        return count / size

    def window_evidence(
        self, index: int, window: Window, config: DetectionConfig
    ) -> dict[str, Any]:
        """The figures of one judged window, as a ward manager's chart would show them: the
        value, the unit's usual level (centre), the process limit and, for a window flagged
        by a run, the line the run crossed."""
        size = self.sizes[index]
        predictive = self.trace.predictive(index)
        entry: dict[str, Any] = {
            "window_start": window.start.isoformat(),
            "size": _round(size),
            "count": self.counts[index],
            "value": _round(self.value(self.counts[index], size)) if size > 0 else None,
        }
        if self.measure is not Measure.HARMFUL_INCIDENT_RATE:
            entry["small"] = size < SMALL_SAMPLE
        if predictive is not None:
            entry["centre"] = _round(self.value(predictive.mean, size))
            limit = predictive.highest_usual_count(config.limit_sigma)
            entry["limit"] = _round(self.value(limit, size))
            rule = self.trace.rule[index]
            if rule and rule != BEYOND_LIMIT and rule not in CUSUM_RULES:
                line = predictive.highest_usual_count(config.sigma_of(rule))
                entry["run_line"] = _round(self.value(line, size))
            entry["z"] = _round(self.trace.z[index], 2)
            entry["baseline_windows"] = self.trace.baseline(index)[2]
            cusum = self.trace.cusum[index]
            if not math.isnan(cusum):
                entry["cusum"] = _round(cusum, 2)
                entry["cusum_limit"] = config.cusum_limit
            small = self.trace.cusum_small[index]
            if not math.isnan(small):
                entry["cusum_small"] = _round(small, 2)
                entry["cusum_small_limit"] = config.cusum_small_limit
            rise = self.trace.rate_rise[index]
            if not math.isnan(rise):
                entry["rate_rise"] = _round(rise, 2)
                entry["rate_rise_limit"] = config.rate_rise_limit
        rule = self.trace.rule[index]
        entry["rule"] = rule or None
        entry["detector"] = _detector(rule)
        if rule in CUSUM_RULES:
            statistic, signal_limit = self.cusum_signal(index, config)
            entry["cusum_signal"] = _round(statistic, 2)
            entry["cusum_signal_limit"] = signal_limit
        return entry

    def cusum_signal(self, index: int, config: DetectionConfig) -> tuple[float, float]:
        """(statistic, limit) of the CUSUM that flagged window `index`, when it signalled."""
        at = self.trace.signalled_at[index]
        if self.trace.rule[index] == CUSUM:
            return self.trace.cusum[at], config.cusum_limit
        if self.trace.rule[index] == RATE_RISE:
            return self.trace.rate_rise[at], config.rate_rise_limit
        return self.trace.cusum_small[at], config.cusum_small_limit


def _detector(rule: str) -> str | None:
    """Which detector flagged a window: 'cusum' (accumulated evidence, either design; `rule`
    says which) or 'shewhart' (a point beyond the limit, or a run)."""
    if not rule:
        return None
    return "cusum" if rule in CUSUM_RULES else "shewhart"


def _round(value: float, digits: int = 4) -> float | None:
    return round(value, digits) if math.isfinite(value) else None
