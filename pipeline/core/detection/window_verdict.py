"""The verdict of one judged window (`detection.verdicts` says how they are read and what the
classes and limits mean): a measure's (`measure_verdict`), with its limits in the measure's own
reading, and incident reporting's (`reporting_verdict`).
"""

from __future__ import annotations

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.cusum import CUSUM, CUSUM_RULES
from pipeline.core.detection.measure_trace import MeasureTrace
from pipeline.core.detection.measures import Measure, UnitFigures
from pipeline.core.detection.silence import SilenceTrace
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
from pipeline.core.windows import Window


def measure_verdict(
    org_id: str,
    unit_id: str,
    measure: MeasureTrace,
    figures: UnitFigures,
    t: int,
    config: DetectionConfig,
    reporting_fell: bool,
    signal: str,
    rule: str,
    reported: bool,
) -> Verdict | None:
    predictive = measure.trace.predictive(t)
    size = measure.sizes[t]
    if predictive is None or size <= 0:
        return None
    harm = measure.measure is Measure.HARMFUL_INCIDENT_RATE
    if harm and not (reported or rule or reporting_fell):
        # Activity (a target return can reach past the latest data) but nothing reported: no
        # harm figure to show, as the board's latest window is the latest with reports. Its
        # 0 can flag nothing; the monitor still folds it, as the alerts do.
        return None
    count = measure.counts[t]
    highest = predictive.highest_usual_count(config.limit_sigma)
    lowest = predictive.lowest_usual_count(config.limit_sigma)
    if rule:
        verdict, detector = VerdictClass.CONCERN, "cusum" if rule in CUSUM_RULES else "shewhart"
    elif harm and reporting_fell:
        verdict, rule, detector = VerdictClass.REPORTING_CONCERN, REPORTING_FELL, "reporting"
    elif signal:
        rule = BETTER_CUSUM if signal == CUSUM else BETTER_RUN
        verdict, detector = VerdictClass.IMPROVEMENT, signal
    elif count < lowest:
        verdict, rule, detector = VerdictClass.IMPROVEMENT, BETTER_LIMIT, "shewhart"
    else:
        verdict, detector = VerdictClass.COMMON_CAUSE, ""
    # Limits in the measure's reading (the positive share reads the judged count upside down).
    worse, better = measure.value(highest, size), measure.value(lowest, size)
    if harm:
        chart = ChartKind.RARE_EVENT if predictive.mean <= RARE_EVENT_MEAN else ChartKind.RATE
    else:
        chart = ChartKind.SHARE
    return Verdict(
        org_id=org_id,
        unit_id=unit_id,
        measure=measure.measure.value,
        window=figures.windows[t],
        value=measure.value(count, size),
        count=count,
        size=size,
        centre=measure.value(predictive.mean, size),
        lower_limit=min(worse, better),
        upper_limit=max(worse, better),
        z=measure.trace.z[t],
        rule=rule,
        detector=detector,
        verdict=verdict,
        chart=chart,
        higher_is_better=measure.measure is Measure.POSITIVE_SHARE,
    )


def reporting_verdict(
    org_id: str,
    unit_id: str,
    aggregate: UnitWindowAggregate,
    window: Window,
    silence: SilenceTrace,
    t: int,
    fell: bool,
    silent: bool,
) -> Verdict:
    """Reports per window against the count expected for the activity: a fall is a reporting
    concern; more reporting is common cause (a healthy culture, not a finding). `fell`: the
    silence CUSUM flagged the window or its reports are below the lower limit; `silent`: not
    flagged, but leaning towards silence inside a silence episode (the alert's concern)."""
    reports = sum(aggregate.incidents_by_harm)
    flagged = silence.signalled_at[t] >= 0
    if flagged:
        rule, detector = CUSUM, "cusum"
    elif fell or silent:
        rule, detector = REPORTING_FELL, "shewhart" if fell else "cusum"
    else:
        rule, detector = "", ""
    return Verdict(
        org_id=org_id,
        unit_id=unit_id,
        measure=INCIDENT_REPORTING,
        window=window,
        value=float(reports),
        count=reports,
        size=aggregate.activity or 0.0,
        centre=silence.expected[t],
        lower_limit=float(silence.lower_limit[t]),
        upper_limit=None,
        z=silence.z[t],
        rule=rule,
        detector=detector,
        verdict=VerdictClass.REPORTING_CONCERN if rule else VerdictClass.COMMON_CAUSE,
        chart=ChartKind.REPORTING,
        higher_is_better=True,
    )
