"""What moves every unit of an organisation at once, for the CUSUM to leave out.

Winter pressure, a trust-wide staffing crisis or a slow shared drift move every unit's
experience and harm together. A unit's own baseline lags behind such a movement (it follows
26 weeks), so each unit's z runs a little high for weeks; single-window rules barely notice,
but accumulated evidence does: in simulation a CUSUM of the plain z raised ten times its
nominal false alarms, nearly all in winter. The story the CUSUM is for is one unit drifting
away from what it usually is *while the rest of its organisation does not*, so it accumulates
the unit's z less the organisation's common movement in the same window, when at least
`MIN_OTHERS` other units were judged (`common_levels._level`): the others' common relative
shift, estimated from the z of their Shewhart-only monitors weighted by their precision,
trimmed and shrunk towards 0, and expressed as the z it gives this unit. The shift is estimated
over the window and the `DetectionConfig.common_windows` - 1 before it
(`common_offsets.pooled_offsets`): the season moves slowly, and a baseline that lags it
is off by about 10% for months (spring after a winter, the start of winter), a bias that one
window's estimate cannot tell from chance and so shrank to nothing. Weighting by precision
matters because one winter dip gives a unit of 120 responses a week a z several times that of a unit
of 12: the plain mean z of the others under-corrects the big units and over-corrects the small
ones. The Shewhart rules still judge the plain z, so a large shift that hits every unit is
still raised.

The levels of one window are computed in detection/common_levels.py, and the offsets are kept
per organisation and measure between judgements (recomputed only where a window changed) in
detection/common_offsets.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.arrivals import reports_arrived
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.common_levels import window_scores
from pipeline.core.detection.common_offsets import Scored, measure_offsets, pooled_offsets
from pipeline.core.detection.measures import Measure, UnitFigures, unit_figures
from pipeline.core.detection.resume import MISSING, Memo
from pipeline.core.detection.rules import Rules
from pipeline.core.detection.stats import monitor

Offsets = dict[Measure, list[float]]


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
        else pooled_offsets((owner, m, rules, pool), scored[m], pool)
        for m in Measure
    }
    return {unit: {m: by_measure[m][unit] for m in Measure} for unit in units}


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
    # how far the incident reports have arrived decides the figures too (arrivals.py)
    key = (
        config,
        tuple((unit, reports_arrived(units[unit]), tuple(map(id, s))) for unit, s in held),
    )
    hit = _SHARED.get(key)
    if hit is MISSING:
        figures = org_series_figures(units)
        owner = next((s[0].org_id for s in units.values() if s), "")
        hit = (held, figures, common_offsets(figures, config, owner))
        _SHARED.put(key, hit, (config, owner))  # the organisation's latest windows only
    return hit[1], hit[2]
