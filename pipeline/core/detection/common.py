"""What moves every unit of an organisation at once, for the CUSUM to leave out.

Winter pressure, a trust-wide staffing crisis or a slow shared drift move every unit's
experience and harm together. A unit's own baseline lags behind such a movement (it follows
26 weeks), so each unit's z runs a little high for weeks; single-window rules barely notice,
but accumulated evidence does: in simulation a CUSUM of the plain z raised ten times its
nominal false alarms, nearly all in winter. The story the CUSUM is for is one unit drifting
away from what it usually is *while the rest of its organisation does not*, so it accumulates
the unit's z less the organisation's other units' level in the same window (the mean z of their
Shewhart-only monitors, trimmed and shrunk: `_others_level`), when at least `MIN_OTHERS` of
them were judged. The Shewhart rules
still judge the plain z, so a large shift that hits every unit is still raised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.measures import Measure, UnitFigures, unit_figures
from pipeline.core.detection.stats import CUSUM_Z_RANGE, Rules, monitor
from pipeline.core.windows import Window

# Fewer judged units than this beside the unit in a window: nothing is taken out.
MIN_OTHERS = 3
Offsets = dict[Measure, list[float]]
Z_LOW, Z_HIGH = CUSUM_Z_RANGE
SHRINK = 2.0
TRIM_FROM = 5


def measure_columns(
    figures: UnitFigures,
) -> tuple[tuple[Measure, list[int], list[float], list[int] | None], ...]:
    """(measure, counts, scales, binomial trials) of each measure a unit is watched on."""
    responses = [float(n) for n in figures.responses]
    return (
        (Measure.NEGATIVE_SHARE, figures.negative, responses, figures.responses),
        (Measure.POSITIVE_SHARE, figures.not_positive, responses, figures.responses),
        (Measure.HARMFUL_INCIDENT_RATE, figures.harmful, figures.exposure, None),
    )


def common_offsets(units: Mapping[str, UnitFigures], config: DetectionConfig) -> dict[str, Offsets]:
    """Per unit and measure, aligned with the unit's windows: the level of the other units
    judged in the same window (0.0 where fewer than `MIN_OTHERS` were)."""
    rules: Rules = config.shewhart_rules
    scores: dict[Measure, dict[Window, list[tuple[str, float]]]] = {m: {} for m in Measure}
    for unit, figures in units.items():
        for measure, counts, scales, trials in measure_columns(figures):
            trace = monitor(counts, scales, trials, None, rules)
            for window, z in zip(figures.windows, trace.z, strict=True):
                if not math.isnan(z):
                    scores[measure].setdefault(window, []).append((unit, z))
    offsets: dict[str, Offsets] = {}
    for unit, figures in units.items():
        offsets[unit] = {
            measure: [_others_level(scores[measure].get(w, ()), unit) for w in figures.windows]
            for measure in Measure
        }
    return offsets


def _others_level(judged: Sequence[tuple[str, float]], unit: str) -> float:
    """The others' mean z, the highest and lowest left out once there are `TRIM_FROM` (another
    unit's own episode must not mask this one's), shrunk towards 0 by `SHRINK` units."""
    others = sorted(min(max(z, Z_LOW), Z_HIGH) for name, z in judged if name != unit)
    if len(others) < MIN_OTHERS:
        return 0.0
    if len(others) >= TRIM_FROM:
        others = others[1:-1]
    return math.fsum(others) / (len(others) + SHRINK)


def org_series_figures(
    units: Mapping[str, Sequence[UnitWindowAggregate]],
) -> dict[str, UnitFigures]:
    """`unit_figures` of every unit with windows."""
    return {unit: unit_figures(series) for unit, series in units.items() if series}
