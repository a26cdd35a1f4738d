"""Bright spots: units significantly better than their own baseline AND than their peers.

A bright spot is a finding to learn from, never an alert: nothing here makes an `Alert`, and
the engine stores bright spots in their own table (contract v1.1), never on the alert routes.

The discipline mirrors the alerts' (`pipeline.core.detection.stats`), so false bright spots are
as rare as false alarms. The own-baseline, pooled and reporting tests are
`detection.improvement`'s, whose episodes the improvement verdicts read too; the peer test is
this module's, so every bright spot's flagged windows are stored improvements:

- **Own baseline.** Each measure's own-baseline monitor (`stats.monitor`, the same predictive
  distributions the alerts read) gives every judged window's predictive; its *lower* tail gives
  the window's improvement z, -Φ⁻¹(P(X ≤ x)) (the count judged is negative responses, responses
  that are not positive, or harmful incidents: fewer is better). The mirrored rules then run on
  that z: the run rules (`DetectionConfig.run_rules`) and the one-sided CUSUM (same reference
  and limit, z clipped to the same range), with what moved the whole organisation left out of
  the CUSUM as for the alerts (`detection.common`). A single extreme week is not sustained, so
  the single-point rule is not mirrored.
- **Pooled.** Over the windows the rules flagged, the unit's count must also be significantly
  below its own predictive (pooled lower-tail z of at least `peer_sigma`), and the CUSUM takes
  out only a common *improvement* of the organisation, never a common deterioration.
- **Peers.** Over the windows the rules flagged, the unit's count must be significantly below
  what the rest of its organisation's figure in the same windows predicts at its size (lower
  tail beyond `peer_sigma`, the peers' own sampling noise allowed for, as `detection.peers`
  does) and by at least `PEER_MARGIN` of it. The data carries no service type, so the peers are
  the rest of the organisation.
- **Reporting.** A harm rate that fell because reporting fell is never a bright spot: the harm
  measure is judged only for units that report activity, only where `reporting_silence`'s
  trace (`detection.silence`) judged the window (its activity held), and not when the silence
  detector flagged any window of the episode, nor when the unit's no-harm reports per activity
  (the reporting culture, which a real fall in harm leaves alone), judged by the same trace,
  fell significantly over the flagged windows (pooled lower-tail z beyond `REPORTING_FELL_Z`).
- **Too little data.** A window is judged only after `min_baseline_windows` of baseline; the
  peers need `min_reference_count` events a window; the flagged windows need `MIN_EXPECTED`
  events expected at the peers' figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.improvement import (
    Improvement,
    OrgImprovements,
    improvement_z,
    org_improvements,
    org_key,
    org_slot,
)
from pipeline.core.detection.measures import Measure
from pipeline.core.detection.resume import MISSING, Memo

PEER_MARGIN = 0.2
MIN_EXPECTED = 10.0
ONGOING, ENDED, NONE = "ongoing", "ended", "none"


@dataclass(frozen=True, slots=True)
class BrightSpot:
    """One unit and measure: its latest bright-spot episode (`status` ongoing or ended), or
    `none` with the figures left empty. Values are the measure's own reading (a share, or a
    rate per 1,000 activity) over the flagged windows; `reduction_vs_*` is the relative fall
    of the adverse count (0.3: 30% fewer negative responses, non-positive responses or harmful
    incidents than expected). `z_*` are pooled lower-tail z over the flagged windows.
    `version` counts the events behind the organisation's closed windows (it orders versions)."""

    org_id: str
    unit_id: str
    measure: str
    status: str
    first_window: datetime | None = None
    last_window: datetime | None = None
    detected_in: datetime | None = None
    windows: int = 0
    detector: str | None = None
    value: float | None = None
    baseline: float | None = None
    peers: float | None = None
    reduction_vs_baseline: float | None = None
    reduction_vs_peers: float | None = None
    z_baseline: float | None = None
    z_peers: float | None = None
    sample_size: float | None = None
    version: int = 0


def bright_spots(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> list[BrightSpot]:
    """All units of ONE organisation (unit_id -> closed windows in time order): per unit and
    measure, its latest bright spot (or a `none` row when it has none), by unit and measure."""
    # Judged again on the very same windows (only an alert answered): the same spots.
    key = org_key(units, config)
    held = _SPOTS.get(key)
    if held is MISSING:
        held = (tuple(units.values()), _bright_spots(units, config))
        _SPOTS.put(key, held, org_slot(units, config))
    spots: list[BrightSpot] = held[1][:]
    return spots


_SPOTS = Memo("bright")  # per organisation: its spots, by its frozen windows (held)


def _bright_spots(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> list[BrightSpot]:
    return [
        latest or BrightSpot(series[0].org_id, unit, measure.value, NONE, version=version)
        for unit, measure, series, version, latest in _judged(units, config)
    ]


def org_bright_spots(
    series: Mapping[tuple[str, str], Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> list[BrightSpot]:
    """`bright_spots` of every organisation in `series` ((org_id, unit_id) -> closed windows),
    by organisation: what the engine stores for the organisations it judged."""
    orgs: dict[str, dict[str, Sequence[UnitWindowAggregate]]] = {}
    for (org, unit), windows in sorted(series.items()):
        orgs.setdefault(org, {})[unit] = windows
    return [spot for org in sorted(orgs) for spot in bright_spots(orgs[org], config)]


def bright_episodes(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> list[BrightSpot]:
    """Every bright-spot episode of every unit and measure (for evaluation)."""
    judge = org_improvements(units, config)
    return [
        spot
        for unit in sorted(judge.figures)
        for measure in Measure
        for spot in _episodes(judge, unit, measure)
    ]


def _judged(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> list[tuple[str, Measure, Sequence[UnitWindowAggregate], int, BrightSpot | None]]:
    judge = org_improvements(units, config)
    judged = []
    for unit in sorted(judge.figures):
        for measure in Measure:
            found = _episodes(judge, unit, measure)
            judged.append((unit, measure, units[unit], judge.version, found[-1] if found else None))
    return judged


def _episodes(judge: OrgImprovements, unit: str, measure: Measure) -> list[BrightSpot]:
    """The bright spots of one unit and measure: its improvement episodes that are also better
    than its peers."""
    found = []
    for improvement, first, last, ongoing, shown in judge.improvements(unit, measure):
        spot = _spot(judge, unit, improvement, first, last, ongoing, shown)
        if spot is not None:
            found.append(spot)
    return found


def _spot(
    judge: OrgImprovements,
    unit: str,
    improvement: Improvement,
    first: int,
    last: int,
    ongoing: bool,
    shown: list[int],
) -> BrightSpot | None:
    trace, config = improvement.trace, judge.config
    figures = judge.figures[unit]
    measure = trace.measure
    binomial = trace.trace.trials is not None
    size = own_mean = own_extra = peer_mean = peer_extra = 0.0
    count = trials = 0
    for t in shown:
        predictive = trace.trace.predictive(t)
        total = judge.pooled_total(measure, figures.windows[t].start)
        if predictive is None or total is None:
            continue
        rest_count, rest_size = total[0] - trace.counts[t], total[1] - trace.sizes[t]
        if rest_count < config.min_reference_count or rest_size <= 0:
            continue
        rate = rest_count / rest_size
        relvar = ((1.0 - rate) if binomial else 1.0) / rest_count
        count += trace.counts[t]
        size += trace.sizes[t]
        own_mean += predictive.mean
        own_extra += predictive.extra_variance
        expected = trace.sizes[t] * rate
        peer_mean += expected
        peer_extra += expected * expected * relvar
        trials += predictive.trials or 0
    if peer_mean < MIN_EXPECTED:
        return None
    n = trials if binomial else None
    cap = n * (1.0 - 1e-9) if n else math.inf  # a share's mean stays below its trials
    z_peers = improvement_z(count, min(peer_mean, cap), peer_extra, n)
    if z_peers < config.peer_sigma or count > (1.0 - PEER_MARGIN) * peer_mean:
        return None
    z_own = improvement_z(count, min(own_mean, cap), own_extra, n)
    if z_own < config.peer_sigma:
        return None  # not significantly better than its own baseline over those windows
    detected = min(improvement.signalled_at[t] for t in shown)
    return BrightSpot(
        org_id=judge.series[unit][0].org_id,
        unit_id=unit,
        measure=measure.value,
        status=ONGOING if ongoing else ENDED,
        first_window=figures.windows[first].start,
        last_window=figures.windows[last].start,
        detected_in=figures.windows[detected].start,
        windows=len(shown),
        detector=improvement.detector[shown[-1]],
        value=_round(trace.value(count, size)),
        baseline=_round(trace.value(own_mean, size)),
        peers=_round(trace.value(peer_mean, size)),
        reduction_vs_baseline=_round(1.0 - count / own_mean) if own_mean else None,
        reduction_vs_peers=_round(1.0 - count / peer_mean),
        z_baseline=_round(z_own),
        z_peers=_round(z_peers),
        sample_size=_round(size),
        version=judge.version,
    )


def _round(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


__all__ = [
    "BrightSpot",
    "bright_episodes",
    "bright_spots",
    "org_bright_spots",
]
