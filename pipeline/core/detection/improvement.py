"""Better than its own baseline: the improvement signals the verdicts and the bright spots share.

Each measure's own-baseline monitor (`stats.monitor`, the same predictive distributions the
alerts read, with the spread as estimated) gives every judged window's predictive; its *lower*
tail gives the window's improvement z, -Φ⁻¹(P(X ≤ x)) (the count judged is negative responses,
responses that are not positive, or harmful incidents: fewer is better). The mirrored rules
(`detection.mirrored`: the run rules and the one-sided CUSUM) run on that z, with a common
*improvement* of the organisation left out of the CUSUM (`detection.common`). An episode of their
signals is an improvement when reporting held (a harm rate is judged only for units that report
activity, only where `reporting_silence`'s trace judged the window, and not when the silence
detector flagged any window of the episode nor when the no-harm reports per activity fell
significantly, pooled lower-tail z beyond `REPORTING_FELL_Z`) and its flagged windows pool to a
lower-tail z of at least `peer_sigma` against their own predictives.

The improvement verdicts (`detection.verdicts`) are exactly these windows; a bright spot
(`detection.bright`) is such an episode that is also better than its peers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache, partial
from statistics import NormalDist

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.arrivals import reports_arrived
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.common import measure_columns
from pipeline.core.detection.common_levels import window_scores
from pipeline.core.detection.common_offsets import Scored, measure_offsets
from pipeline.core.detection.episodes import episodes
from pipeline.core.detection.measure_trace import MeasureTrace
from pipeline.core.detection.measures import Measure, UnitFigures, unit_figures
from pipeline.core.detection.mirrored import mirrored_rules
from pipeline.core.detection.predictive import lower_tail, upper_tail
from pipeline.core.detection.resume import MISSING, Memo
from pipeline.core.detection.silence import silence_trace
from pipeline.core.detection.stats import monitor

REPORTING_FELL_Z = 2.0
_NORMAL = NormalDist()
BRIGHT = "bright"  # tells its reused window scores from `common`'s


def improvement_detectors(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> dict[str, dict[Measure, list[str]]]:
    """ONE organisation's units (as for `bright_spots`): per unit and measure, per closed
    window, the detector ("shewhart" for the mirrored run rules, `CUSUM`) that flagged the
    window as better than the unit's own baseline, in an episode that passes the own-baseline
    tests (reporting held; pooled lower-tail z at least `peer_sigma`); "" elsewhere. The
    improvement verdicts (`detection.verdicts`) read exactly these, and every bright spot is
    one of these episodes that is also better than its peers."""
    judge = org_improvements(units, config)
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


def org_key(units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig) -> object:
    return (
        config,
        tuple(sorted((unit, reports_arrived(s), tuple(map(id, s))) for unit, s in units.items())),
    )


def org_slot(units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig) -> object:
    """What `org_key` is a version of: the organisation (and the config), so a store keeps
    the organisation's latest windows only (`Memo.put`'s slot)."""
    return config, next((s[0].org_id for s in units.values() if s), "")


def org_improvements(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> OrgImprovements:
    """ONE organisation's improvements, judged once for its very windows (the same objects):
    the verdicts and the bright spots of one judgement share them."""
    key = org_key(units, config)
    held = _JUDGES.get(key)
    if held is MISSING:
        held = (tuple(units.values()), OrgImprovements(units, config))
        _JUDGES.put(key, held, org_slot(units, config))
    judge: OrgImprovements = held[1]
    return judge


_JUDGES = Memo("bright")  # per organisation: its judge (improvements judged once), by its windows


@lru_cache(maxsize=65536)
def improvement_z(count: int, mean: float, extra: float, trials: int | None) -> float:
    """-Φ⁻¹(P(X ≤ count)) on the predictive: 3 means as unusually LOW as 3 sigma."""
    tail = lower_tail(count, mean, extra, trials) if count < mean else (
        1.0 - upper_tail(count + 1, mean, extra, trials)
    )  # fmt: skip
    return -_NORMAL.inv_cdf(min(max(tail, 1e-300), 1.0 - 1e-12))


@dataclass(frozen=True, slots=True)
class Improvement:
    """Per window of one unit and measure: improvement z (NaN: not judged), the window whose
    closing flagged it (-1: never), the detector that did, and whether the CUSUM was still
    accumulating evidence of improvement when it closed."""

    trace: MeasureTrace
    z: list[float]
    signalled_at: list[int]
    detector: list[str]
    accumulating: list[bool]


Episode = tuple[Improvement, int, int, bool, list[int]]
"""An improvement episode: its monitor, first and last window, whether ongoing, and the
windows the rules flagged in it."""


class OrgImprovements:
    """ONE organisation's own-baseline improvement monitors (unit_id -> closed windows in time
    order): `improvements` per unit and measure, judged once each."""

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
        self._episodes: dict[tuple[str, Measure], list[Episode]] = {}

    def pooled_total(self, measure: Measure, start: datetime) -> list[float] | None:
        """(count, scale) of every unit pooled on `measure` in the window starting at `start`
        (summed once, when first asked: the bright spots' peers)."""
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

    def improvements(self, unit: str, measure: Measure) -> list[Episode]:
        """The episodes in which one unit and measure is better than its own baseline: the
        mirrored rules signalled, reporting held, and the pooled lower-tail z over the
        flagged windows (`shown`) is at least `peer_sigma` (judged once per judge)."""
        held = self._episodes.get((unit, measure))
        if held is None:
            held = self._episodes[unit, measure] = self._improvements(unit, measure)
        return held

    def _improvements(self, unit: str, measure: Measure) -> list[Episode]:
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
            silence_z = silence_trace(no_harm, figures, self.config, variant="no harm").z
        # A window that does not signal but keeps the CUSUM accumulating neither extends nor
        # ends an episode: after a signal the statistic restarts, and the unit is still better.
        states: list[bool | None] = [
            True if improvement.signalled_at[t] >= 0 else
            None if improvement.accumulating[t] else False
            if judged[t] else None
            for t in range(len(judged))
        ]  # fmt: skip
        found: list[Episode] = []
        for first, last, ongoing in episodes(states, self.config.max_gap_windows):
            shown = [t for t in range(first, last + 1) if states[t]]
            if any(silence_flagged[first : last + 1]) or _stouffer(silence_z, shown) >= (
                REPORTING_FELL_Z
            ):
                continue
            if _own_z(improvement.trace, shown) >= self.config.peer_sigma:
                found.append((improvement, first, last, ongoing, shown))
        return found

    def _improvement(self, unit: str, measure: Measure) -> Improvement:
        trace = self._traces[unit][measure]
        z = [score for score, _ in self._scored[unit, measure]]
        # Only a common improvement is taken out: the others getting worse must never make a
        # unit that merely held its level look better than its own baseline.
        offsets = [max(0.0, level) for level in self._offsets[measure][unit]]
        return Improvement(trace, z, *mirrored_rules(z, offsets, self.config))


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
