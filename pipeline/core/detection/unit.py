"""Findings about one unit against its own history: divergence and safety signals.

- `target_experience_divergence` (hitting the target, missing the point): in a window where the
  unit meets every target it reports, its negative FFT share is above, its positive share below,
  or its harmful-incident rate above the limits set by its own baseline. A window with a missed
  target is *not* this condition, whatever its experience (that is a different story, and ends
  an episode); a window whose targets are not yet reported is not judged.
- `safety_signal`: harmful incidents per 1,000 activity above the unit's own limits, whatever its
  targets.

Each measure is monitored by `pipeline.core.detection.stats.monitor`; an episode is a run of
windows that show the condition (`episodes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pipeline.core.aggregates import HARM_ORDER, UnitWindowAggregate
from pipeline.core.alerts import AlertKind
from pipeline.core.detection.base import DetectionConfig, Finding
from pipeline.core.detection.common import Offsets, measure_columns
from pipeline.core.detection.episodes import episode_evidence, episodes, raised_states, severity
from pipeline.core.detection.measure_trace import MeasureTrace
from pipeline.core.detection.measures import Measure, UnitFigures, unit_figures
from pipeline.core.detection.resume import MISSING, Memo
from pipeline.core.detection.silence import SilenceTrace, harm_raised, silence_trace
from pipeline.core.detection.silence_findings import silence_findings
from pipeline.core.detection.stats import monitor
from pipeline.core.detection.text import (
    duration,
    measure_phrase,
    rules_evidence,
    severe_phrase,
    targets_evidence,
    targets_phrase,
    window_label,
)

OWN_BASELINE_METHOD = (
    "exact probability limits (beta-binomial for shares, gamma-Poisson for incident rates) "
    "on the unit's own rolling baseline, with between-window variation estimated from "
    "successive differences (Laney p′ style) and the baseline's own uncertainty folded in"
)
_DIRECTION = {
    Measure.NEGATIVE_SHARE: "higher_is_worse",
    Measure.POSITIVE_SHARE: "lower_is_worse",
    Measure.HARMFUL_INCIDENT_RATE: "higher_is_worse",
}


def unit_findings(
    series: Sequence[UnitWindowAggregate],
    config: DetectionConfig,
    offsets: Offsets | None = None,
    figures: UnitFigures | None = None,
) -> list[Finding]:
    """Episodes of divergence and safety signals in one unit's closed windows (time order).

    `offsets`: per measure and window, what moved the unit's whole organisation (see
    `pipeline.core.detection.common`), left out of the CUSUM; None judges the unit alone.
    `figures`: `unit_figures(series)`, when the caller has it already."""
    if not series:
        return []
    figures = figures or unit_figures(series)
    negative, positive, harm, silence = unit_traces(series, figures, config, offsets)
    judge = _UnitJudge(series, figures, config)
    experience_and_harm = (negative, positive, harm)
    leaning = config.cusum_small_reference
    safety = _states((harm,), None, config.max_gap_windows, leaning)
    divergence = _states(experience_and_harm, figures.targets_met, config.max_gap_windows, leaning)
    findings = judge.findings(
        AlertKind.TARGET_EXPERIENCE_DIVERGENCE, divergence, experience_and_harm
    )
    findings.extend(judge.findings(AlertKind.SAFETY_SIGNAL, safety, (harm,)))
    findings.extend(silence_findings(series, figures, config, silence))
    return findings


_Traces = tuple[MeasureTrace, MeasureTrace, MeasureTrace]
_UnitTraces = tuple[MeasureTrace, MeasureTrace, MeasureTrace, SilenceTrace]
_TRACES = Memo("traces")  # units (one judgement asks for each twice); each entry holds its traces


def unit_traces(
    series: Sequence[UnitWindowAggregate],
    figures: UnitFigures,
    config: DetectionConfig,
    offsets: Offsets | None = None,
) -> _UnitTraces:
    """The unit's monitors as the alerts and the stored verdicts (`detection.verdicts`) judge
    them: negative share, positive share, harm rate and reporting (`silence.silence_trace`).

    The silence is judged on `measure_traces`' harm (its raised windows stay out of the
    reporting levels); the harm rate judged is then that monitor again with the windows the
    silence flagged out of its baseline from the window that flagged them (`stats.monitor`'s
    `held_out`): weeks of missing reports are not the unit's usual harm, and learnt as such
    they pull it down until an ordinary week reads as a rise. Each trace reads earlier
    monitors only, never itself."""
    negative, positive, harm = measure_traces(figures, config, offsets)
    silence = silence_trace(series, figures, config, harm_raised(harm.trace))
    if any(at >= 0 for at in silence.signalled_at):
        rules, moved = config.rules, offsets[harm.measure] if offsets else None
        without_silence = monitor(harm.counts, harm.sizes, None, None, rules, moved, None,
                                  _silent_windows(silence))  # fmt: skip
        harm = MeasureTrace(harm.measure, harm.counts, harm.sizes, without_silence)
    return negative, positive, harm, silence


def _silent_windows(silence: SilenceTrace) -> list[int]:
    """Per window, the window by whose close it was known to be silent (-1: never): those the
    silence flagged, and each window right after one found silent whose reports again pointed
    towards silence (the CUSUM, restarted by a signal, rose: the silence went on)."""
    found = list(silence.signalled_at)
    cusum = silence.cusum
    for t in range(1, len(found)):
        before = found[t - 1]
        if found[t] < 0 <= before <= t - 1:
            # Restarted at t - 1's close if the silence signalled there, else since counting.
            start = 0.0 if silence.signalled_at[t - 1] == t - 1 else cusum[t - 1]
            if cusum[t] > start:  # NaN (not judged) is never
                found[t] = t
    return found


def measure_traces(
    figures: UnitFigures, config: DetectionConfig, offsets: Offsets | None = None
) -> _Traces:
    """The unit's own monitors of negative share, positive share and harm rate, before any
    silence is held out of the harm rate's baseline (`unit_traces` has the traces judged).

    Computed once for the same `figures` and `offsets` objects (as `common.
    org_figures_and_offsets` hands both readers of one judgement): the entry holds them, so
    their ids cannot be taken by others while it lasts. The traces are read-only."""
    key = (id(figures), id(offsets), config)
    hit = _TRACES.get(key)
    if hit is MISSING:
        hit = (figures, offsets, _measure_traces(figures, config, offsets))
        _TRACES.put(key, hit)
    traces: _Traces = hit[2]
    return traces


def _measure_traces(
    figures: UnitFigures, config: DetectionConfig, offsets: Offsets | None
) -> _Traces:
    rules = config.rules
    # Experience counts towards a divergence only while targets are met, so its CUSUM restarts
    # at a missed target; harm's does not (a safety signal is whatever the targets).
    missed = [met is False for met in figures.targets_met]
    negative, positive, harm = (
        MeasureTrace(
            measure,
            counts,
            scales,
            monitor(
                counts,
                scales,
                trials,
                None,
                rules,
                offsets[measure] if offsets else None,
                None if measure is Measure.HARMFUL_INCIDENT_RATE else missed,
            ),
        )
        for measure, counts, scales, trials in measure_columns(figures)
    )
    return negative, positive, harm


def _states(
    measures: Sequence[MeasureTrace],
    targets_met: Sequence[bool | None] | None,
    max_gap: int,
    leaning: float,
) -> list[bool | None]:
    """Per window: True if any measure signals, False if judged and none does, else None, an
    open episode ending only on the measures that raised it (`raised_states`).
    `targets_met` (a divergence): a window whose targets are not reported is None, one with a
    missed target False.

    A judged window that no rule flagged but whose z is at least `leaning` (the sustained-shift
    CUSUM's reference: from there on a window is more likely under the shift that CUSUM looks
    for than under none) is None too, not clear: it neither extends nor ends an episode, so a
    deterioration that one weaker week interrupts stays one episode (one alert, not one
    resolved and another raised a week later). While an episode is open, a window in which any
    measure that raised it leans is None whatever the others say (`raised_states`)."""
    per_measure, per_measure_leaning = [], []
    for measure in measures:
        trace = measure.trace
        column: list[bool | None] = []
        leans: list[bool] = []
        for t, (signalled, z) in enumerate(zip(trace.signalled_at, trace.z, strict=True)):
            met = True if targets_met is None else targets_met[t]
            if not met:  # targets not reported (None), or missed: no divergence (False)
                column.append(met)
            else:  # z is NaN where the window was not judged
                column.append(True if signalled >= 0 else False if z < leaning else None)
            leans.append(bool(met) and signalled < 0 and z >= leaning)
        per_measure.append(column)
        per_measure_leaning.append(leans)
    return raised_states(per_measure, max_gap, per_measure_leaning)


class _UnitJudge:
    """Turns window states into findings with their severity, sentence and evidence."""

    def __init__(
        self,
        series: Sequence[UnitWindowAggregate],
        figures: UnitFigures,
        config: DetectionConfig,
    ) -> None:
        self._series = series
        self._figures = figures
        self._config = config

    def findings(
        self, kind: AlertKind, states: list[bool | None], measures: Sequence[MeasureTrace]
    ) -> list[Finding]:
        return [
            self._finding(kind, states, measures, first, last, ongoing)
            for first, last, ongoing in episodes(states, self._config.max_gap_windows)
        ]

    def _finding(
        self,
        kind: AlertKind,
        states: list[bool | None],
        measures: Sequence[MeasureTrace],
        first: int,
        last: int,
        ongoing: bool,
    ) -> Finding:
        config, figures = self._config, self._figures
        shown = [t for t in range(first, last + 1) if states[t]]
        flagged = [(m, t) for t in shown for m in measures if m.trace.signalled_at[t] >= 0]
        detected = min(m.trace.signalled_at[t] for m, t in flagged)
        peak = max(m.trace.z[t] for m, t in flagged)
        harm_flagged = any(m.measure is Measure.HARMFUL_INCIDENT_RATE for m, _ in flagged)
        severe = sum(figures.severe_harm[t] for t in shown) if harm_flagged else 0
        lead, at = max(flagged, key=lambda pair: (pair[1], pair[0].trace.z[pair[1]]))
        window = figures.windows[at]
        what = measure_phrase(lead, at, config, figures.per_activity)
        unit = self._series[0].unit_id
        if kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE:
            targets = self._series[at].targets
            summary = f"{unit} met {targets_phrase(targets)} but in {window_label(window)} {what}"
        else:
            summary = f"At {unit}, in {window_label(window)} {what}"
        summary += duration(len(shown), window) + severe_phrase(severe, len(shown)) + "."
        evidence: dict[str, Any] = {
            "method": OWN_BASELINE_METHOD,
            "rules": rules_evidence(config, sorted({m.trace.rule[t] for m, t in flagged})),
            "episode": episode_evidence(figures, first, last, detected, len(shown), ongoing, peak),
            "measures": {
                m.measure.value: self._measure_evidence(m, first, last, at) for m in measures
            },
        }
        if kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE:
            evidence["targets"] = targets_evidence(window, self._series[at].targets)
        if harm_flagged or kind is AlertKind.SAFETY_SIGNAL:
            evidence["incidents"] = self._incident_evidence(shown)
        return Finding(
            kind=kind,
            org_id=self._series[0].org_id,
            unit_id=unit,
            first_window=figures.windows[first],
            last_window=figures.windows[last],
            ongoing=ongoing,
            severity=severity(config, peak, len(shown), severe),
            summary=summary,
            evidence=evidence,
            detected_in=figures.windows[detected],
        )

    def _measure_evidence(
        self, measure: MeasureTrace, first: int, last: int, at: int
    ) -> dict[str, Any]:
        config, windows = self._config, self._figures.windows
        entry: dict[str, Any] = {"direction": _DIRECTION[measure.measure]}
        if measure.measure is Measure.HARMFUL_INCIDENT_RATE:
            entry["per"] = "1,000 activity" if self._figures.per_activity else "window"
            entry["activity_reported"] = self._figures.exposure_reported[at]
        base_first, base_last, base_windows = measure.trace.baseline(at)
        if base_windows:
            entry["baseline"] = {
                "windows": base_windows,
                "first_window": windows[base_first].start.isoformat(),
                "last_window": windows[base_last].start.isoformat(),
            }
        entry["windows"] = [
            measure.window_evidence(t, windows[t], config)
            for t in range(first, last + 1)
            if not math.isnan(measure.trace.z[t])
        ]
        return entry

    def _incident_evidence(self, shown: list[int]) -> dict[str, Any]:
        by_harm = [0] * len(HARM_ORDER)
        weighted = 0.0
        for t in shown:
            aggregate = self._series[t]
            for level, count in enumerate(aggregate.incidents_by_harm):
                by_harm[level] += count
            weighted += aggregate.harm_weighted
        exposure = sum(self._figures.exposure[t] for t in shown)
        return {
            "by_harm": {harm.value: count for harm, count in zip(HARM_ORDER, by_harm, strict=True)},
            "harm_weighted": weighted,
            "harm_weighted_rate": round(weighted / exposure, 3) if exposure else None,
        }
