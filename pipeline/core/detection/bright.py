"""Bright spots: units significantly better than their own baseline AND than their peers.

A bright spot is a finding to learn from, never an alert: nothing here makes an `Alert`, and
the engine stores bright spots in their own table (contract v1.1), never on the alert routes.

The discipline mirrors the alerts' (`pipeline.core.detection.stats`), so false bright spots are
as rare as false alarms:

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
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache, partial
from statistics import NormalDist

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.common import (
    Scored,
    measure_columns,
    measure_offsets,
    window_scores,
)
from pipeline.core.detection.measures import (
    Measure,
    MeasureTrace,
    UnitFigures,
    episodes,
    unit_figures,
)
from pipeline.core.detection.mirrored import mirrored_rules
from pipeline.core.detection.predictive import lower_tail, upper_tail
from pipeline.core.detection.resume import MISSING, Memo
from pipeline.core.detection.silence import silence_trace
from pipeline.core.detection.stats import monitor

PEER_MARGIN = 0.2
MIN_EXPECTED = 10.0
REPORTING_FELL_Z = 2.0
ONGOING, ENDED, NONE = "ongoing", "ended", "none"
_NORMAL = NormalDist()
BRIGHT = "bright"  # tells its reused window scores from `common`'s


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
    key = _key(units, config)
    held = _SPOTS.get(key)
    if held is MISSING:
        held = (tuple(units.values()), _bright_spots(units, config))
        _SPOTS.put(key, held)
    spots: list[BrightSpot] = held[1][:]
    return spots


def improvement_detectors(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> dict[str, dict[Measure, list[str]]]:
    """ONE organisation's units (as for `bright_spots`): per unit and measure, per closed
    window, the detector ("shewhart" for the mirrored run rules, `CUSUM`) that flagged the
    window as better than the unit's own baseline, in an episode that passes the own-baseline
    tests (reporting held; pooled lower-tail z at least `peer_sigma`); "" elsewhere. The
    improvement verdicts (`detection.verdicts`) read exactly these, and every bright spot is
    one of these episodes that is also better than its peers."""
    judge = _org_judge(units, config)
    out: dict[str, dict[Measure, list[str]]] = {}
    for unit in sorted(judge.figures):
        size = len(judge.figures[unit].windows)
        out[unit] = {}
        for measure in Measure:
            flagged = [""] * size
            for improvement, _, _, _, shown in judge.improvements(unit, measure):
                for t in shown:
                    flagged[t] = improvement.detector[t]
            out[unit][measure] = flagged
    return out


def _key(units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig) -> object:
    return (config, tuple(sorted((unit, tuple(map(id, s))) for unit, s in units.items())))


def _org_judge(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> _OrgJudge:
    """One judge per organisation's very windows: the verdicts and the bright spots share it."""
    key = _key(units, config)
    held = _JUDGES.get(key)
    if held is MISSING:
        held = (tuple(units.values()), _OrgJudge(units, config))
        _JUDGES.put(key, held)
    judge: _OrgJudge = held[1]
    return judge


_SPOTS = Memo("bright")  # per organisation: its spots, by its frozen windows (held)
_JUDGES = Memo("bright")  # per organisation: its judge (improvements judged once), likewise


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
    judge = _org_judge(units, config)
    return [
        spot
        for unit in sorted(judge.figures)
        for measure in Measure
        for spot in judge.episodes(unit, measure)
    ]


def _judged(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> list[tuple[str, Measure, Sequence[UnitWindowAggregate], int, BrightSpot | None]]:
    judge = _org_judge(units, config)
    judged = []
    for unit in sorted(judge.figures):
        for measure in Measure:
            found = judge.episodes(unit, measure)
            judged.append((unit, measure, units[unit], judge.version, found[-1] if found else None))
    return judged


@lru_cache(maxsize=65536)
def improvement_z(count: int, mean: float, extra: float, trials: int | None) -> float:
    """-Φ⁻¹(P(X ≤ count)) on the predictive: 3 means as unusually LOW as 3 sigma."""
    tail = lower_tail(count, mean, extra, trials) if count < mean else (
        1.0 - upper_tail(count + 1, mean, extra, trials)
    )  # fmt: skip
    return -_NORMAL.inv_cdf(min(max(tail, 1e-300), 1.0 - 1e-12))


@dataclass(frozen=True, slots=True)
class _Improvement:
    """Per window of one unit and measure: improvement z (NaN: not judged), the window whose
    closing flagged it (-1: never), the detector that did, and whether the CUSUM was still
    accumulating evidence of improvement when it closed."""

    trace: MeasureTrace
    z: list[float]
    signalled_at: list[int]
    detector: list[str]
    accumulating: list[bool]


_Episode = tuple[_Improvement, int, int, bool, list[int]]
"""An improvement episode: its monitor, first and last window, whether ongoing, and the
windows the rules flagged in it."""


class _OrgJudge:
    def __init__(
        self, units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
    ) -> None:
        self.config = config
        self.series = {unit: series for unit, series in units.items() if series}
        self.figures: dict[str, UnitFigures] = {
            unit: unit_figures(series) for unit, series in self.series.items()
        }
        self.version = sum(a.contributions for s in self.series.values() for a in s)
        self._traces: dict[str, dict[Measure, MeasureTrace]] = {}
        # Per measure, every unit's (window start, (improvement z, precision)): what moved the
        # whole organisation (`detection.common`) is left out of the CUSUM.
        scored: dict[Measure, dict[str, Scored]] = {m: {} for m in Measure}
        self._scored: dict[tuple[str, Measure], list[tuple[float, float]]] = {}
        # Bright spots keep the spread as estimated (their false rate was measured so; the
        # least spread of the ninth round is the alerts' allowance, docs/detection.md).
        rules = replace(config.rules, min_between_logit_sd=0.0, cusum_spread_prior_windows=0)
        org_id = ""
        for unit, figures in self.figures.items():
            traces = self._traces[unit] = {}
            org_id = self.series[unit][0].org_id
            starts = [window.start for window in figures.windows]
            for measure, counts, scales, trials in measure_columns(figures):
                trace = MeasureTrace(measure, counts, scales,
                                     monitor(counts, scales, trials, None, rules))  # fmt: skip
                traces[measure] = trace
                slot = (org_id, unit, measure, BRIGHT)
                scores = self._scored[unit, measure] = window_scores(
                    slot, trace.trace, counts, partial(_window_z, trace)
                )
                scored[measure][unit] = (starts, scores)
        self._offsets = {
            measure: measure_offsets((org_id, measure, BRIGHT), scored[measure])
            for measure in Measure
        }
        self._totals: dict[Measure, dict[datetime, list[float]]] | None = None
        self._episodes: dict[tuple[str, Measure], list[_Episode]] = {}

    def _total(self, measure: Measure, start: datetime) -> list[float] | None:
        """(count, scale) of every unit pooled on `measure` in the window starting at `start`
        (summed once, when a bright spot first asks)."""
        if self._totals is None:
            self._totals = {m: {} for m in Measure}
            for figures in self.figures.values():
                for measure_of, counts, scales, _ in measure_columns(figures):
                    pooled = measure_of is not Measure.HARMFUL_INCIDENT_RATE or (
                        figures.per_activity
                    )
                    for t, window in enumerate(figures.windows):
                        if pooled and scales[t] > 0:
                            total = self._totals[measure_of].setdefault(window.start, [0.0, 0.0])
                            total[0] += counts[t]
                            total[1] += scales[t]
        return self._totals[measure].get(start)

    def episodes(self, unit: str, measure: Measure) -> list[BrightSpot]:
        """The bright spots of one unit and measure: its improvement episodes (`improvements`)
        that are also better than its peers."""
        found = []
        for improvement, first, last, ongoing, shown in self.improvements(unit, measure):
            spot = self._spot(unit, improvement, first, last, ongoing, shown)
            if spot is not None:
                found.append(spot)
        return found

    def improvements(self, unit: str, measure: Measure) -> list[_Episode]:
        """The episodes in which one unit and measure is better than its own baseline: the
        mirrored rules signalled, reporting held, and the pooled lower-tail z over the
        flagged windows (`shown`) is at least `peer_sigma` (judged once per judge)."""
        held = self._episodes.get((unit, measure))
        if held is None:
            held = self._episodes[unit, measure] = self._improvements(unit, measure)
        return held

    def _improvements(self, unit: str, measure: Measure) -> list[_Episode]:
        figures = self.figures[unit]
        if measure is Measure.HARMFUL_INCIDENT_RATE and not figures.per_activity:
            return []
        improvement = self._improvement(unit, measure)
        if all(at < 0 for at in improvement.signalled_at):
            return []  # the usual case: nothing to check the reporting of
        judged = [not math.isnan(z) for z in improvement.z]
        silence_flagged: list[bool] = [False] * len(judged)
        silence_z: list[float] = [math.nan] * len(judged)
        if measure is Measure.HARMFUL_INCIDENT_RATE:
            series = self.series[unit]
            silence = silence_trace(series, figures, self.config)
            silence_flagged = [at >= 0 for at in silence.signalled_at]
            judged = [j and not math.isnan(z) for j, z in zip(judged, silence.z, strict=True)]
            # The same judgement of the no-harm reports alone: the reporting culture, which a
            # real fall in harm leaves alone.
            no_harm = [replace(a, incidents_by_harm=a.incidents_by_harm[:1]) for a in series]
            silence_z = silence_trace(no_harm, figures, self.config).z
        # A window that does not signal but keeps the CUSUM accumulating neither extends nor
        # ends an episode: after a signal the statistic restarts, and the unit is still better.
        states: list[bool | None] = [
            True if improvement.signalled_at[t] >= 0 else
            None if improvement.accumulating[t] else False
            if judged[t] else None
            for t in range(len(judged))
        ]  # fmt: skip
        found: list[_Episode] = []
        for first, last, ongoing in episodes(states, self.config.max_gap_windows):
            shown = [t for t in range(first, last + 1) if states[t]]
            if any(silence_flagged[first : last + 1]) or _stouffer(silence_z, shown) >= (
                REPORTING_FELL_Z
            ):
                continue
            if _own_z(improvement.trace, shown) >= self.config.peer_sigma:
                found.append((improvement, first, last, ongoing, shown))
        return found

    def _improvement(self, unit: str, measure: Measure) -> _Improvement:
        trace = self._traces[unit][measure]
        z = [score for score, _ in self._scored[unit, measure]]
        # Only a common improvement is taken out: the others getting worse must never make a
        # unit that merely held its level look better than its own baseline.
        offsets = [max(0.0, level) for level in self._offsets[measure][unit]]
        return _Improvement(trace, z, *mirrored_rules(z, offsets, self.config))

    def _spot(
        self,
        unit: str,
        improvement: _Improvement,
        first: int,
        last: int,
        ongoing: bool,
        shown: list[int],
    ) -> BrightSpot | None:
        trace, config = improvement.trace, self.config
        figures = self.figures[unit]
        measure = trace.measure
        binomial = trace.trace.trials is not None
        size = own_mean = own_extra = peer_mean = peer_extra = 0.0
        count = trials = 0
        for t in shown:
            predictive = trace.trace.predictive(t)
            total = self._total(measure, figures.windows[t].start)
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
            org_id=self.series[unit][0].org_id,
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
            version=self.version,
        )


def _window_z(trace: MeasureTrace, t: int) -> float:
    # `trace.trace.predictive(t)`, read off its columns (this runs for every window).
    monitored = trace.trace
    z = monitored.z[t]
    if z != z:  # NaN: not judged
        return math.nan
    trials = monitored.trials[t] if monitored.trials is not None else None
    return improvement_z(trace.counts[t], monitored.mean[t], monitored.extra_variance[t], trials)


def _own_z(trace: MeasureTrace, shown: Sequence[int]) -> float:
    """The pooled lower-tail z of the flagged windows against their own predictives."""
    count, mean, extra, trials = 0, 0.0, 0.0, 0
    for t in shown:
        predictive = trace.trace.predictive(t)
        if predictive is None:
            continue
        count += trace.counts[t]
        mean += predictive.mean
        extra += predictive.extra_variance
        trials += predictive.trials or 0
    if mean <= 0:
        return 0.0
    n = trials if trace.trace.trials is not None else None
    cap = n * (1.0 - 1e-9) if n else math.inf
    return improvement_z(count, min(mean, cap), extra, n)


def _stouffer(z: Sequence[float], shown: Sequence[int]) -> float:
    judged = [z[t] for t in shown if not math.isnan(z[t])]
    return math.fsum(judged) / math.sqrt(len(judged)) if judged else 0.0


def _round(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


__all__ = [
    "BrightSpot",
    "bright_episodes",
    "bright_spots",
    "improvement_detectors",
    "improvement_z",
    "org_bright_spots",
]
