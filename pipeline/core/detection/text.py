"""Words and numbers for findings: the one sentence a ward manager reads, and JSON-able evidence.

The sentence always carries the figures: the measure in the latest flagged window with its sample
size, the unit's usual level and the limit it crossed, and (for divergence) the targets it met.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.cusum import CUSUM_RULES
from pipeline.core.detection.measure_trace import SMALL_SAMPLE, MeasureTrace
from pipeline.core.detection.measures import Measure
from pipeline.core.detection.rules import BEYOND_LIMIT
from pipeline.core.target_reports import TargetAttainment
from pipeline.core.windows import Window

_MONTH_LONG = timedelta(days=27)
# At most this many targets are named in a sentence; evidence lists them all.
_TARGETS_NAMED = 2


def window_label(window: Window) -> str:
    """'the week of 2 Oct 2023' for a week, 'October 2023' for a month."""
    start = window.start
    if window.end - window.start >= _MONTH_LONG:
        return f"{start:%B %Y}"
    return f"the week of {start.day} {start:%b %Y}"


def duration(windows: int, window: Window) -> str:
    """'', or '; 3 weeks running' for an episode of several flagged windows."""
    if windows < 2:
        return ""
    unit = "months" if window.end - window.start >= _MONTH_LONG else "weeks"
    return f"; {windows} {unit} running"


def severe_phrase(severe: int, windows: int) -> str:
    """'', or how many incidents of the episode caused severe harm or a death."""
    if not severe:
        return ""
    incidents = "incident" if severe == 1 else "incidents"
    if windows < 2:
        return f", {severe} of them with severe harm or death"
    return f", with {severe} {incidents} of severe harm or death in that time"


def percent(share: float) -> str:
    value = 100.0 * share
    return f"{value:.1f}%" if 0 < value < 10 else f"{value:.0f}%"


def number(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def in_unit(value: float, unit: str) -> str:
    """A target figure as people write it: '81%' for a share (unit ''), '27.4 minutes',
    '81.0%' for a value in percent, '12' for a count."""
    if not unit:
        return percent(value)
    if unit == "percent":
        return f"{value:.1f}%"
    figure = f"{value:.0f}" if unit == "count" or abs(value) >= 100 else f"{value:.1f}"
    figure = figure.removesuffix(".0")
    return figure if unit == "count" else f"{figure} {unit}"


def targets_phrase(targets: Sequence[TargetAttainment]) -> str:
    """'its target (ae_4h 81% against 78%)' or 'all 3 targets (ae_4h ...; rtt_18w ...; ...)'."""
    named = "; ".join(
        f"{t.metric} {in_unit(t.attainment, t.unit)} against {in_unit(t.target, t.unit)}"
        for t in targets[:_TARGETS_NAMED]
    )
    more = "; …" if len(targets) > _TARGETS_NAMED else ""
    if len(targets) == 1:
        return f"its target ({named})"
    return f"all {len(targets)} targets ({named}{more})"


def targets_evidence(window: Window, targets: Sequence[TargetAttainment]) -> dict[str, Any]:
    return {
        "window_start": window.start.isoformat(),
        "all_met": all(t.met for t in targets),
        "metrics": [
            {
                "metric": t.metric,
                "attainment": round(t.attainment, 4),
                "target": t.target,
                "met": t.met,
                "higher_is_better": t.higher_is_better,
                "distance": round(t.distance, 4),
                **(
                    {"numerator": round(t.numerator, 1), "denominator": round(t.denominator, 1)}
                    if t.is_share
                    else {"unit": t.unit}
                ),
            }
            for t in targets
        ],
    }


def crossed_line(rule: str, config: DetectionConfig) -> tuple[str, float]:
    """What a window flagged by `rule` crossed: ('', limit_sigma) for the process limit, or
    ('warning line', sigma) for the line of a run."""
    if rule == BEYOND_LIMIT:
        return "", config.limit_sigma
    return "warning line", config.sigma_of(rule)


def cusum_phrase(measure: MeasureTrace, index: int, config: DetectionConfig) -> str:
    """', worse than usual week after week until the evidence added up (accumulated evidence
    9.1 against a limit of 7)'."""
    signal, limit = measure.cusum_signal(index, config)
    return (
        ", worse than usual week after week until the evidence added up (accumulated evidence "
        f"{signal:.1f} against a limit of {limit:g})"
    )


def rules_evidence(config: DetectionConfig, fired: list[str]) -> dict[str, Any]:
    return {
        "fired": fired,
        "limit_sigma": config.limit_sigma,
        "run_rules": [list(rule) for rule in config.run_rules],
        "cusum": {"reference": config.cusum_reference, "limit": config.cusum_limit},
        "cusum_small_shift": {
            "reference": config.cusum_small_reference,
            "limit": config.cusum_small_limit,
        },
        "cusum_rate_rise": {"ratio": config.rate_rise_ratio, "limit": config.rate_rise_limit},
        "baseline": {
            "min_windows": config.min_baseline_windows,
            "level_windows": config.max_baseline_windows,
            "dispersion_windows": config.dispersion_windows,
            "max_between_cv": config.max_between_cv,
        },
    }


def observed_phrase(measure: MeasureTrace, index: int, per_activity: bool) -> str:
    """What one window showed, e.g. '7 of 25 patients (28%) rated their care poor or very
    poor' or '6 incidents causing harm were reported (21 per 1,000 patients)'."""
    count, size = measure.counts[index], measure.sizes[index]
    responses = round(size)
    small = " (a small sample)" if size < SMALL_SAMPLE else ""
    if measure.measure is Measure.NEGATIVE_SHARE:
        return (
            f"{count:,} of {responses:,} patients ({percent(count / size)}) rated their care "
            f"poor or very poor{small}"
        )
    if measure.measure is Measure.POSITIVE_SHARE:
        positive = responses - count
        return (
            f"only {positive:,} of {responses:,} patients ({percent(positive / size)}) rated their "
            f"care good or very good{small}"
        )
    incidents = "incident causing harm was" if count == 1 else "incidents causing harm were"
    if per_activity:
        return f"{count:,} {incidents} reported ({number(count / size)} per 1,000 patients)"
    return f"{count:,} {incidents} reported"


def measure_phrase(
    measure: MeasureTrace, index: int, config: DetectionConfig, per_activity: bool
) -> str:
    """What one window showed against the unit's usual level and the line it crossed, e.g.
    '7 of 25 patients (28%) rated their care poor or very poor, against a usual 5.2% (upper
    limit 20%)'."""
    size = measure.sizes[index]
    predictive = measure.trace.predictive(index)
    assert predictive is not None  # only judged windows are phrased
    rule = measure.trace.rule[index]
    line_name, sigma = crossed_line(rule, config)
    usual = measure.value(predictive.mean, size)
    if rule in CUSUM_RULES:
        return (
            f"{observed_phrase(measure, index, per_activity)}, against a usual "
            + (
                number(usual)
                if measure.measure is Measure.HARMFUL_INCIDENT_RATE
                else percent(usual)
            )
            + cusum_phrase(measure, index, config)
        )
    limit = measure.value(predictive.highest_usual_count(sigma), size)
    if measure.measure is Measure.HARMFUL_INCIDENT_RATE:
        figures = f"{number(usual)} ({line_name or 'upper limit'} {number(limit)})"
    else:
        default = "lower limit" if measure.measure is Measure.POSITIVE_SHARE else "upper limit"
        figures = f"{percent(usual)} ({line_name or default} {percent(limit)})"
    return f"{observed_phrase(measure, index, per_activity)}, against a usual {figures}"
