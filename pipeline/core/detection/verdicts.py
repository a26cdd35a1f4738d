"""One verdict per unit, measure and window: what the alerts, the report and Grafana all show.

The verdict of a judged window is read off the very monitors the alerts come from
(`unit.unit_traces`: experience, harm, and `silence.silence_trace` for reporting), with the
organisation's common movement left out exactly as `Detector.units_findings` does, so a window
an alert flags is always a concern here; and off the bright spots' own-baseline signals
(`improvement.improvement_detectors`) for improvement, so a bright spot's windows are always
improvements here. Views colour what is stored, never a test of their own.

Classes (Making Data Count colours: orange concern, blue improvement, grey common cause):

- `concern`: the monitor flagged the window (a point beyond the limit, a run, or the CUSUM);
  `rule` and `detector` say which. The alerts' experience monitors restart at every week of a
  missed target (a divergence needs met targets); in a missed-target week, the verdicts also
  read the same monitor without those restarts (`_steady_experience`), so experience that
  falls while targets are missed is a concern here, though no divergence.
- `reporting_concern`: a fall in incident reporting. The reporting measure's window is one when
  the silence CUSUM flagged it, its reports are below the lower limit, or it is a window of a
  silence episode not flagged (yet) whose reports still lean towards silence
  (`silence_findings.silent_unflagged`: the alert is open there); a harm window whose
  reporting fell is one too, never an improvement (fewer harmful incidents reported because
  fewer incidents are reported is not safer care).
- `improvement`: better than the unit's own baseline, by the very signals the bright spots
  come from (`improvement.improvement_detectors`: the mirrored run rules or CUSUM on the lower-tail
  z, in an episode that passes their reporting and pooled tests; `rule` `BETTER_RUN` or
  `BETTER_CUSUM`), or a single point beyond the limit on the better side (the exact lower tail
  at `limit_sigma`, `BETTER_LIMIT`), as strict as the concern's single-point rule. So every
  window of a bright spot is an improvement here; a bright spot needs its peers as well.
- `common_cause`: judged, and none of the above.
- `withdrawn`: a window judged on an early view that later data left unjudged
  (`verdict_book`); views leave it out.

Limits are exact quantiles of the window's predictive count (beta-binomial for shares,
gamma-Poisson for rates: Poisson at the unit's usual rate, widened only by the between-window
variation its baseline shows), turned into the measure's own reading. They are never negative,
and for rare events (harm counts of a few a week, `RARE_EVENT_MEAN`) the lower limit is 0 until
a quiet window could be told from chance: such a chart is marked `rare_event`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.common import Offsets, measure_columns, org_figures_and_offsets
from pipeline.core.detection.improvement import improvement_detectors
from pipeline.core.detection.measure_trace import MeasureTrace
from pipeline.core.detection.measures import Measure, UnitFigures, unit_figures
from pipeline.core.detection.resume import Suffixes
from pipeline.core.detection.silence import SilenceTrace
from pipeline.core.detection.silence_findings import silent_unflagged
from pipeline.core.detection.stats import monitor
from pipeline.core.detection.unit import measure_traces, unit_traces
from pipeline.core.detection.verdict_model import (
    BETTER_CUSUM,
    BETTER_LIMIT,
    BETTER_RUN,
    INCIDENT_REPORTING,
    RARE_EVENT_MEAN,
    REPORTING_FELL,
    ChartKind,
    Verdict,
    VerdictClass,
)
from pipeline.core.detection.window_verdict import measure_verdict, reporting_verdict


def org_verdicts(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> list[Verdict]:
    """Every judged window of every measure of the units of ONE organisation (unit_id ->
    closed windows in time order), judged as `Detector.units_findings` judges them."""
    return [
        verdict
        for columns in org_verdict_columns(units, config).values()
        for column in columns
        for verdict in column
        if verdict is not None
    ]


def org_verdict_columns(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> dict[str, list[list[Verdict | None]]]:
    """`org_verdicts` per unit (sorted) as columns aligned with its closed windows (None: not
    judged): negative share, positive share, harm rate, reporting. A window whose inputs did
    not change since the last call holds the very object that call gave (`detection.resume`),
    so a caller finds what changed by comparing columns."""
    figures, offsets = org_figures_and_offsets(units, config)
    better = improvement_detectors(units, config)
    return {
        unit: _unit_columns(units[unit], config, offsets[unit], figures[unit], better[unit])
        for unit in sorted(figures)
    }


def unit_verdicts(
    series: Sequence[UnitWindowAggregate],
    config: DetectionConfig,
    offsets: Offsets | None = None,
    figures: UnitFigures | None = None,
) -> list[Verdict]:
    """The verdicts of one unit's closed windows (time order); `offsets` as for
    `unit.unit_findings` (None: the unit judged alone; its improvements are always judged
    alone)."""
    if not series:
        return []
    better = improvement_detectors({series[0].unit_id: series}, config)[series[0].unit_id]
    columns = _unit_columns(series, config, offsets, figures or unit_figures(series), better)
    return [verdict for column in columns for verdict in column if verdict is not None]


def _unit_columns(
    series: Sequence[UnitWindowAggregate],
    config: DetectionConfig,
    offsets: Offsets | None,
    figures: UnitFigures,
    better: Mapping[Measure, Sequence[str]],
) -> list[list[Verdict | None]]:
    *traces, silence = unit_traces(series, figures, config, offsets)
    steady = _steady_experience(figures, config, offsets)
    beyond = [_reporting_fell(silence, t, config) for t in range(len(series))]
    silent = silent_unflagged(silence, config)
    fell = [a or b for a, b in zip(beyond, silent, strict=True)]
    reported = [a.reported for a in series]
    org_id, unit_id = series[0].org_id, series[0].unit_id
    out: list[list[Verdict | None]] = []
    for measure in traces:
        trace = measure.trace
        rules = steady.get(measure.measure, trace.rule)
        columns = [figures.windows, measure.counts, measure.sizes, trace.z, trace.mean,
                   trace.extra_variance, rules, fell, better[measure.measure], reported,
                   trace.trials or ()]  # fmt: skip
        if trace.trials is None:
            columns.pop()
        slot = (org_id, unit_id, measure.measure, config)
        judge = _judge_measure((org_id, unit_id), measure, figures, config,
                               (fell, better[measure.measure], rules, reported))  # fmt: skip
        out.append(_MEASURES.pointwise(slot, columns, judge))
    columns = [series, figures.windows, silence.z, silence.signalled_at, silence.expected,
               silence.lower_limit, beyond, silent]  # fmt: skip
    judge_reporting = _judge_reporting(
        (org_id, unit_id), series, figures, silence, (beyond, silent)
    )
    out.append(
        _REPORTING.pointwise((org_id, unit_id, INCIDENT_REPORTING), columns, judge_reporting)
    )
    return out


def _judge_measure(
    ids: tuple[str, str],
    measure: MeasureTrace,
    figures: UnitFigures,
    config: DetectionConfig,
    columns: tuple[Sequence[bool], Sequence[str], Sequence[str], Sequence[bool]],
) -> Callable[[int], Verdict | None]:
    """Per window: (reporting fell, improvement signal, rule, anything reported)."""
    fell, better, rules, reported = columns
    return lambda t: measure_verdict(
        *ids, measure, figures, t, config, fell[t], better[t], rules[t], reported[t]
    )


def _judge_reporting(
    ids: tuple[str, str],
    series: Sequence[UnitWindowAggregate],
    figures: UnitFigures,
    silence: SilenceTrace,
    columns: tuple[Sequence[bool], Sequence[bool]],
) -> Callable[[int], Verdict | None]:
    """Per window: (reporting fell: flagged or beyond the limit, inside an open silence)."""
    beyond, silent = columns

    def judge(t: int) -> Verdict | None:
        if math.isnan(silence.z[t]):
            return None
        return reporting_verdict(
            *ids, series[t], figures.windows[t], silence, t, beyond[t], silent[t]
        )

    return judge


def _steady_experience(
    figures: UnitFigures, config: DetectionConfig, offsets: Offsets | None
) -> dict[Measure, list[str]]:
    """At a unit with a missed-target window: per experience measure, the rule that flagged
    each window in the alerts' monitor (`unit.measure_traces`), else, in a missed-target
    window, in the same monitor without its restarts there ("" for neither). A met-target
    window reads the alerts' monitor alone, so its concern is always a divergence's. Empty
    elsewhere: there the two monitors are one."""
    missed = [met is False for met in figures.targets_met]
    if not any(missed):
        return {}
    alerts = {m.measure: m.trace.rule for m in measure_traces(figures, config, offsets)}
    out: dict[Measure, list[str]] = {}
    for measure, counts, scales, trials in measure_columns(figures):
        if measure is Measure.HARMFUL_INCIDENT_RATE:
            continue
        moved = offsets[measure] if offsets else None
        steady = monitor(counts, scales, trials, None, config.rules, moved).rule
        out[measure] = [
            a or (b if miss else "")
            for a, b, miss in zip(alerts[measure], steady, missed, strict=True)
        ]
    return out


def _reporting_fell(silence: SilenceTrace, t: int, config: DetectionConfig) -> bool:
    judged = not math.isnan(silence.z[t])
    return silence.signalled_at[t] >= 0 or (judged and silence.z[t] >= config.limit_sigma)


# Per unit and measure: the verdict of each window, from its own window's figures alone (its
# counts, size, the monitor's z, predictive and rule there, whether reporting fell, the
# improvement signal there, whether anything was reported): a unit
# judged again when a window closes has the same figures in every earlier window whose
# baseline held, and their limits need not be searched for again.
_MEASURES: Suffixes[Verdict | None] = Suffixes("verdicts")
_REPORTING: Suffixes[Verdict | None] = Suffixes("verdicts")


__all__ = [
    "BETTER_CUSUM",
    "BETTER_LIMIT",
    "BETTER_RUN",
    "INCIDENT_REPORTING",
    "RARE_EVENT_MEAN",
    "REPORTING_FELL",
    "ChartKind",
    "Verdict",
    "VerdictClass",
    "org_verdict_columns",
    "org_verdicts",
    "unit_verdicts",
]
