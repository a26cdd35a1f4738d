"""`Detector`: what the closed windows of a unit, or of an organisation, show now.

`Detector.unit_findings` finds a unit's episodes of `target_experience_divergence` (it meets
its targets while its patients' experience, or its harm, is significantly worse than its own
baseline) and `safety_signal` (harm significantly above its own baseline, targets or not);
`Detector.org_findings` finds `masked_dark_spot`s (a unit far worse than the rest of its
organisation while the organisation's pooled figure looks fine).

Both are pure: the same closed windows give the same findings, whatever order the events came
in, and each window is judged on earlier windows only, so a finding never depends on the
future. The engine calls them whenever a unit's closed windows change and diffs the findings
into alert versions. The method, its justification and its measured quality are in
docs/detection.md; the statistics are in `pipeline.core.detection.stats`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection.base import DetectionConfig, Finding
from pipeline.core.detection.common import org_figures_and_offsets
from pipeline.core.detection.org import org_findings
from pipeline.core.detection.unit import unit_findings

DEFAULT_CONFIG = DetectionConfig()


class Detector:
    """Stateless apart from its configuration; safe to share."""

    def __init__(self, config: DetectionConfig = DEFAULT_CONFIG) -> None:
        self.config = config

    def unit_findings(self, series: Sequence[UnitWindowAggregate]) -> list[Finding]:
        """series: one unit's CLOSED windows in time order (gaps possible). Episodes of
        target_experience_divergence and safety_signal, in order of kind then first window."""
        return unit_findings(series, self.config)

    def units_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        """All units of ONE organisation (unit_id -> closed windows): every unit's episodes of
        target_experience_divergence and safety_signal, in order of unit, with what moved the
        whole organisation left out of the accumulated evidence (`detection.common`). This is what
        the engine calls; `unit_findings` judges a unit alone."""
        figures, offsets = org_figures_and_offsets(units, self.config)
        return [
            finding
            for unit in sorted(figures)
            for finding in unit_findings(units[unit], self.config, offsets[unit], figures[unit])
        ]

    def org_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        """All units of ONE organisation (unit_id -> closed windows). Episodes of
        masked_dark_spot, in order of unit then first window."""
        return org_findings(units, self.config)


__all__ = ["DEFAULT_CONFIG", "Detector"]
