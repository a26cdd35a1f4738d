"""The statistics behind the report: sums over windows, and whether a change is real.

A change counts as real only when it is beyond chance (|z| >= 3, with the windows' own
overdispersion and a continuity correction allowed for) and big enough to matter (3 points of
positive feedback; a quarter more harmful incidents; 5 points of standing against the rest of
the organisation). docs/report.md explains each choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.core.proportions import laney_sigma_z
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
    activity: float = 0.0
    targets: dict[str, tuple[float, float, float, bool]] = field(default_factory=dict)
    lowest: dict[str, float] = field(default_factory=dict)
    """Per metric, the lowest margin of any one window (see `margins`), in the metric's unit."""
    units: dict[str, str] = field(default_factory=dict)
    """Per metric, its unit ("" for a share)."""
    windows_with_targets: int = 0
    windows_met: int = 0
    share_dispersion: float = 1.0
    harm_dispersion: float = 1.0
    """How much more the windows vary than sampling alone explains (Laney's sigma_z squared,
    at least 1): real units have good and bad weeks, so a binomial or Poisson test on pooled
    counts would call ordinary variation a change."""

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

    @property
    def targets_met_throughout(self) -> bool:
        """Every target met in every window: a unit that missed its target in the very weeks
        its experience fell is not "hitting the target". Targets are monthly returns, so for
        weekly windows this is every month of the period."""
        return bool(self.lowest) and min(self.lowest.values()) >= 0


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
        activity=sum(w.activity or 0.0 for w in windows),
        targets=targets,
        share_dispersion=_dispersion(
            [(w.fft_positive, w.fft_responses) for w in windows if w.fft_responses], binomial=True
        ),
        harm_dispersion=_dispersion(
            [(w.harmful_incidents, w.activity or 1.0) for w in windows], binomial=False
        ),
    )


def without(whole: Pooled, part: Pooled) -> Pooled:
    """The counts of `whole` less those of `part`, pooled from some of its windows: windows,
    responses, positive and harmful, exact (whole numbers), so that an organisation is pooled
    once and every unit's rest found from it. Nothing else is kept (activity, targets and the
    dispersions are left empty): what `standing` reads of the rest is its share and responses."""
    return Pooled(
        windows=whole.windows - part.windows,
        responses=whole.responses - part.responses,
        positive=whole.positive - part.positive,
        harmful=whole.harmful - part.harmful,
    )


def _dispersion(rows: Sequence[tuple[float, float]], *, binomial: bool) -> float:
    """sigma_z squared of (count, size) rows about their pooled rate, at least 1."""
    if len(rows) < 3:
        return 1.0
    rate = sum(c for c, _ in rows) / sum(n for _, n in rows)
    if rate <= 0 or (binomial and rate >= 1):
        return 1.0
    spread = [rate * (1 - rate) / n if binomial else rate / n for _, n in rows]
    z = [(c / n - rate) / math.sqrt(v) for (c, n), v in zip(rows, spread, strict=True)]
    return max(1.0, laney_sigma_z(z) ** 2)


def share_z(recent: Pooled, baseline: Pooled) -> float | None:
    """Two-proportion z of the change in positive share (negative: worse)."""
    if not recent.responses or not baseline.responses:
        return None
    p = (recent.positive + baseline.positive) / (recent.responses + baseline.responses)
    se = math.sqrt(
        p * (1 - p) * (1 / recent.responses + 1 / baseline.responses) * baseline.share_dispersion
    )
    change = (recent.share or 0.0) - (baseline.share or 0.0)
    return corrected(change, recent.responses, baseline.responses) / se if se else 0.0


def corrected(change: float, n1: int, n2: int) -> float:
    """`change` moved towards 0 by Yates' continuity correction (small samples overstate z)."""
    correction = 0.5 * (1 / n1 + 1 / n2)
    return math.copysign(max(0.0, abs(change) - correction), change)


def harm_change(recent: Pooled, baseline: Pooled) -> tuple[float, float] | None:
    """Relative change in the harmful-incident rate, and its z (Poisson; positive: worse).

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
    r1, r0 = recent.harmful / e1, baseline.harmful / e0
    relative = (recent.harmful + 0.5) / e1 / ((baseline.harmful + 0.5) / e0) - 1
    pooled = (recent.harmful + baseline.harmful) / (e1 + e0)
    se = math.sqrt(pooled * (1 / e1 + 1 / e0) * baseline.harm_dispersion)
    return relative, ((r1 - r0) / se if se else 0.0)
