"""The statistics behind the report: sums over windows, and whether a change is real.

A change counts as real only when it is beyond chance (|z| >= 3, with the windows' own
overdispersion and a continuity correction allowed for) and big enough to matter (3 points of
positive feedback; a quarter more harmful incidents; 5 points of standing against the rest of
the organisation). docs/report.md explains each choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.report.records import WindowFigures

RECENT_WINDOWS = {"week": 13, "month": 3}
BASELINE_WINDOWS = {"week": 26, "month": 12}
# Periods the report offers (latest first), and the fewest baseline windows an earlier one needs.
MAX_PERIODS = 4
MIN_BASELINE_WINDOWS = 8
UnitKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Pooled:
    """Sums over a run of windows."""

    windows: int = 0
    responses: int = 0
    positive: int = 0
    harmful: int = 0
    incidents: int = 0
    activity: float = 0.0
    targets: dict[str, tuple[float, float, float, bool]] = field(default_factory=dict)
    lowest: dict[str, float] = field(default_factory=dict)
    """Per metric, the lowest margin of any one window (see `margins`), in the metric's unit."""
    units: dict[str, str] = field(default_factory=dict)
    """Per metric, its unit ("" for a share)."""
    windows_with_targets: int = 0
    windows_met: int = 0

    @property
    def share(self) -> float | None:
        return self.positive / self.responses if self.responses else None

    def margins(self) -> dict[str, float]:
        """Attainment minus target per metric, signed so that >= 0 means met."""
        out = {}
        for metric, (num, den, target, higher) in self.targets.items():
            attainment = num / den
            out[metric] = attainment - target if higher else target - attainment
        return out

    @property
    def targets_met(self) -> bool | None:
        margins = self.margins()
        return all(m >= 0 for m in margins.values()) if margins else None


def comparable(margin: float, target: float, unit: str) -> float:
    """A margin put on one scale for every unit: a share's as it is (parts of 1), a value's as
    a fraction of its target (9 minutes over an 18-minute standard is -0.5)."""
    return margin if not unit else margin / target


def pool(windows: Sequence[WindowFigures]) -> Pooled:
    targets: dict[str, tuple[float, float, float, bool]] = {}
    units: dict[str, str] = {}
    for w in windows:
        for t in w.targets:
            units[t.metric] = t.unit
            num, den, _, _ = targets.get(t.metric, (0.0, 0.0, 0.0, True))
            targets[t.metric] = (
                num + t.numerator,
                den + t.denominator,
                t.target,
                t.higher_is_better,
            )
    with_targets = [w for w in windows if w.targets]
    lowest: dict[str, float] = {}
    for w in with_targets:
        for t in w.targets:
            lowest[t.metric] = min(t.margin, lowest.get(t.metric, t.margin))
    return Pooled(
        lowest=lowest,
        units=units,
        windows_with_targets=len(with_targets),
        windows_met=sum(all(t.met for t in w.targets) for w in with_targets),
        windows=len(windows),
        responses=sum(w.fft_responses for w in windows),
        positive=sum(w.fft_positive for w in windows),
        harmful=sum(w.harmful_incidents for w in windows),
        incidents=sum(w.incidents for w in windows),
        activity=sum(w.activity or 0.0 for w in windows),
        targets=targets,
    )


def without(whole: Pooled, part: Pooled) -> Pooled:
    """The counts of `whole` less those of `part`, pooled from some of its windows: windows,
    responses, positive and harmful, exact (whole numbers), so that an organisation is pooled
    once and every unit's rest found from it. Nothing else is kept (activity and targets are
    left empty): what `standing` reads of the rest is its share and responses."""
    return Pooled(
        windows=whole.windows - part.windows,
        responses=whole.responses - part.responses,
        positive=whole.positive - part.positive,
        harmful=whole.harmful - part.harmful,
    )


def harm_change(recent: Pooled, baseline: Pooled) -> float | None:
    """Relative change in the harmful-incident rate (positive: more harm), a figure only:
    whether it is a concern is the pipeline's stored verdict, never judged here.

    The rate is per unit of activity when both periods report activity, else per window. None
    when either period is empty or neither had a harmful incident: no change is claimed out of
    nothing (activity alone would otherwise make one)."""
    if not recent.windows or not baseline.windows:
        return None
    if recent.harmful == 0 and baseline.harmful == 0:
        return None
    use_activity = recent.activity > 0 and baseline.activity > 0
    e1 = recent.activity if use_activity else recent.windows
    e0 = baseline.activity if use_activity else baseline.windows
    return (recent.harmful + 0.5) / e1 / ((baseline.harmful + 0.5) / e0) - 1
