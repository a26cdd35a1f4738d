"""`reporting_silence`: a unit's incident reporting falls well below its own usual while its
activity holds (contract v1.1).

In patient safety a fall in reporting is a warning sign (a reporting culture failing, a unit
battening down the hatches), never good news, so this is judged on *all* incident reports, no
harm included, per activity (the unit's largest target denominator, as for the harm rate).

A window is judged only while the unit's activity holds: its own reported activity, where
known (in the window and in its recent baseline), is at least `ACTIVITY_HOLDS` of its mean over
the latest `silence_recent_windows` baseline windows (a unit that shrank for good is judged on
its new volume), whatever its feedback (a unit whose feedback and reports both stopped while it
treats as many patients is the extreme silence); where it is not known, its feedback responses
are at least that share of their mean or, for a small unit, not below the exact
`FEEDBACK_HOLDS_SIGMA` lower point of a Poisson count at that mean (when the unit hears from
patients). A quiet ward because the ward closed is not a silence.

The evidence accumulates, since a silence at 1 to 8 reports a week is never one surprising week.
Each window adds the log-likelihood ratio of its count under "reports fell to `SILENCE_RATIO`
of usual" against "usual", both on the gamma-Poisson predictive the harm rate uses (so
overdispersion is allowed for, and a big unit's empty week weighs more than a small one's), to
a one-sided CUSUM (Steiner-style risk-adjusted CUSUM) that signals at `silence_limit` and then
restarts. A signal flags the latest unbroken stretch of windows that pointed towards silence;
windows that signalled, or are inside an open excursion, stay out of the baseline. Its z (the
lower tail, -Φ⁻¹(P(X ≤ x))) is reported for the charts.

The usual level comes from the latest `silence_baseline_windows` windows (52 weeks: twice the
other measures' 26, since the recent level below follows the seasons; on the simulated
trusts the longer level halved the false silences, docs/detection.md). A long
level is slow to follow a level that changed with the seasons: in spring it still holds the
winter's rate, and a unit reporting at half its winter rate slowly accumulates evidence of a
"silence". So the shortfall must show against the unit's recent level too: a
second CUSUM, the same log-likelihood ratio on the level of the latest
`silence_recent_windows` windows (those of an open excursion included, so the level follows a
fall that is under way; windows that signalled a silence or a harm rise left out) with the
usual level's relative spread, must reach `silence_recent_limit` as well. A collapse (reports
falling to a fifth or less of usual) stands out from both levels within weeks; a level that
fell over the seasons soon stops standing out from the recent one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.blocks import Written
from pipeline.core.detection.measures import PER_ACTIVITY, UnitFigures
from pipeline.core.detection.predictive import (
    Predictive,
    baseline_predictive,
    log_pmf,
    lower_tail,
)
from pipeline.core.detection.resume import EVERY, KEEP, MISSING, Checkpoints, Memo
from pipeline.core.detection.trace import Trace

ACTIVITY_HOLDS = 0.6
# A window's feedback volume below the exact lower point of a Poisson count at the usual
# volume, this many sigma out, is not activity holding (see `_activity_holds`).
FEEDBACK_HOLDS_SIGMA = 3.0
SILENCE_RATIO = 0.2
# A window whose harmful incidents stood out this far (its harm rate's z) stays out of the
# reporting levels even when no rule flagged it: see `harm_raised`.
HARM_RAISED_Z = 2.0
METHOD = (
    "one-sided CUSUM of the log-likelihood ratio of a collapse in all incident reports per "
    "activity, on a "
    "gamma-Poisson predictive from the unit's own rolling baseline, judged only while its "
    "activity (reported activity, else feedback volume) holds; the shortfall must also stand out "
    "from its recent level (a second CUSUM on its latest baseline windows)"
)
_NORMAL = NormalDist()
_CHECKPOINTS = Checkpoints("silence")
_TRACES = Memo("silences")  # whole traces by their inputs (windows matched by identity, held)


@dataclass(frozen=True, slots=True)
class SilenceTrace:
    """Per window: z (NaN when not judged), expected reports, lower limit, CUSUM statistic
    on the usual level and on the recent level, the window whose closing flagged it (-1:
    never), and whether it leans towards silence: judged, and its reports more likely under
    the collapse than under both the usual and the recent level (each CUSUM rose)."""

    z: list[float]
    expected: list[float]
    lower_limit: list[int]
    cusum: list[float]
    signalled_at: list[int]
    recent_cusum: list[float]
    leaning: list[bool]


def silence_trace(
    series: Sequence[UnitWindowAggregate],
    figures: UnitFigures,
    config: DetectionConfig,
    harm_flagged: Sequence[bool] | None = None,
    *,
    variant: str = "",
) -> SilenceTrace:
    """Judge every window of one unit in time order (see the module docstring).

    `harm_flagged`: windows whose harm rate signalled or stood out (`harm_raised`); they stay
    out of the baseline too (a burst of harm brings a burst of reports, and the weeks after it
    would pass for a silence).
    `variant`: which of the unit's series this is ("" its windows; another name for windows
    made from them, as a series without some reports): the store keeps the latest trace per
    unit, variant and `harm_flagged` given or not.
    """
    # One judgement asks twice (the stored verdicts, then the alerts) on the same windows.
    flagged = None if harm_flagged is None else tuple(harm_flagged)
    key = (config, id(figures), tuple(map(id, series)), flagged)
    hit = _TRACES.get(key)
    if hit is MISSING:
        hit = (figures, tuple(series), _silence_trace(series, figures, config, harm_flagged))
        unit = (series[0].org_id, series[0].unit_id) if series else None
        _TRACES.put(key, hit, (config, unit, variant, harm_flagged is None))
    trace: SilenceTrace = hit[2]
    return trace


def _silence_trace(
    series: Sequence[UnitWindowAggregate],
    figures: UnitFigures,
    config: DetectionConfig,
    harm_flagged: Sequence[bool] | None,
) -> SilenceTrace:
    size = len(series)
    reports = [sum(a.incidents_by_harm) for a in series]
    activity = [max([t.denominator for t in a.targets if t.is_share], default=0.0) for a in series]
    responses = figures.responses
    z, expected = [math.nan] * size, [math.nan] * size
    lower, cusum, signalled = [0] * size, [math.nan] * size, [-1] * size
    recent_cusum = [math.nan] * size
    leaning = [False] * size
    if not figures.per_activity:
        return SilenceTrace(z, expected, lower, cusum, signalled, recent_cusum, leaning)
    # The window's own activity where its return is in (a fall in activity then lowers the
    # expected reports at once), else the harm rate's exposure (the latest weeks' largest).
    scales = [
        own / PER_ACTIVITY if own > 0 else exposure
        for own, exposure in zip(activity, figures.exposure, strict=True)
    ]
    baseline: list[int] = []
    pending: list[int] = []
    excursion: list[int] = []
    evidence = [0.0] * size
    statistic = recent_statistic = 0.0
    limit = config.silence_limit
    # Resume from the longest prefix of these very inputs folded before (`detection.resume`).
    columns = (reports, activity, responses, scales, harm_flagged, figures.incident_feed)
    start, saved = _CHECKPOINTS.resume(config, columns, size)
    once: tuple[list[Any], ...] = (z, expected, lower, cusum, recent_cusum, evidence, leaning)
    written: Written | None = None  # as in `stats.monitor`: `once` and `baseline`, shared
    kept: Written | None = None
    flags: Written | None = None  # `signalled`, which later windows may change
    if saved is not None:
        written, flags, kept, queues, (statistic, recent_statistic) = saved
        written.restore(once)
        flags.restore((signalled,))
        kept.restore((baseline,))
        pending, excursion = list(queues[0]), list(queues[1])
    for t in range(start, size + 1):  # the turn of `size` only saves the final state
        if t > start and (t % EVERY == 0 or t == size) and size - t <= KEEP:
            written = Written(once, t, written)
            kept = Written((baseline,), len(baseline), kept)
            flags = Written((signalled,), t, flags, changing=True)
            _CHECKPOINTS.save(config, columns, t, (
                written,
                flags,
                kept,
                (tuple(pending), tuple(excursion)),
                (statistic, recent_statistic),
            ))  # fmt: skip
        if t == size:
            break
        usual = baseline[-config.silence_baseline_windows :]
        # Activity is judged against its recent level: a unit that shrank for good (fewer beds,
        # a service moved) is judged on its new volume, not on a year that mostly predates it.
        if (
            figures.incident_feed[t]
            and len(usual) >= config.min_baseline_windows
            and _activity_holds(t, usual[-config.silence_recent_windows :], responses, activity)
        ):
            predictive = baseline_predictive(
                reports, scales, None, usual, t, 0.0, config.max_between_cv
            )
            tail = lower_tail(reports[t], predictive.mean, predictive.extra_variance, None)
            z[t] = -_NORMAL.inv_cdf(min(max(tail, 1e-300), 1.0 - 1e-12))
            expected[t] = predictive.mean
            lower[t] = predictive.lowest_usual_count(config.limit_sigma)
            evidence[t] = _silence_evidence(reports[t], predictive)
            recent_evidence = evidence[t]
            if len(usual) > config.silence_recent_windows:
                # The latest such windows, found from t back (validated: at least 2 wanted).
                recent: list[int] = []
                for s in range(t - 1, -1, -1):
                    if len(recent) == config.silence_recent_windows:
                        break
                    if (
                        signalled[s] < 0
                        and not (harm_flagged is not None and harm_flagged[s])
                        and figures.incident_feed[s]
                        and reports[s] + scales[s] > 0
                    ):
                        recent.append(s)
                recent.reverse()
                level = baseline_predictive(
                    reports, scales, None, recent, t, 0.0, config.max_between_cv
                ).mean
                # The recent level, with the usual level's relative spread (a few windows
                # are too few to measure the week-to-week variation by themselves).
                spread = predictive.extra_variance / predictive.mean**2
                recent_evidence = _silence_evidence(
                    reports[t], Predictive(level, spread * level**2, None)
                )
            statistic = max(0.0, statistic + min(max(evidence[t], -limit), limit))
            recent_statistic = max(0.0, recent_statistic + min(max(recent_evidence, -limit), limit))
            cusum[t], recent_cusum[t] = statistic, recent_statistic
            leaning[t] = evidence[t] > 0.0 and recent_evidence > 0.0
            excursion = [*excursion, t] if statistic > 0.0 else []
            if statistic >= limit and recent_statistic >= config.silence_recent_limit:
                for member in reversed(excursion):
                    if evidence[member] <= 0.0:
                        break
                    signalled[member] = t
                statistic, recent_statistic, excursion = 0.0, 0.0, []
        pending.append(t)
        while pending and (t - pending[0] >= 2) and not (excursion and pending[0] >= excursion[0]):
            joined = pending.pop(0)
            flagged = harm_flagged is not None and harm_flagged[joined]
            # Before the unit's first incident report there is no reporting level to learn
            # (a unit with no incident feed at all has none to fall from).
            fed = figures.incident_feed[joined]
            if (
                signalled[joined] < 0
                and not flagged
                and fed
                and reports[joined] + scales[joined] > 0
            ):
                baseline.append(joined)
    return SilenceTrace(z, expected, lower, cusum, signalled, recent_cusum, leaning)


def harm_raised(harm: Trace) -> list[bool]:
    """Windows whose harm rate signalled or stood out (z at least `HARM_RAISED_Z`): the
    `harm_flagged` that `silence_trace` keeps out of the unit's reporting levels.

    A rise in harm brings a rise in reports. Its windows that no rule flagged (the tail of an
    episode after a signal restarted the monitors, weeks just short of a line) would otherwise
    teach the usual and the recent reporting level a rate that ends with the rise, and the
    unit's ordinary reporting afterwards reads as a shortfall (in the project's simulator, a
    harm rise of x10 at an outpatients unit left two of its seven weeks, 7 and 12 reports
    against a usual 4, in both levels). In a quiet unit about 1 window in 44 is left out by
    chance; on the tuning seeds' planted silences this cost none (787 found of 849 against
    786)."""
    return [
        at >= 0 or (not math.isnan(z) and z >= HARM_RAISED_Z)
        for at, z in zip(harm.signalled_at, harm.z, strict=True)
    ]


def _silence_evidence(count: int, predictive: Predictive) -> float:
    """The log-likelihood ratio of "reports fell to SILENCE_RATIO of usual" against "usual",
    both on the predictive (the between-window variation scales with the rate)."""
    mean, extra = predictive.mean, predictive.extra_variance
    return log_pmf(count, mean * SILENCE_RATIO, extra * SILENCE_RATIO**2, None) - log_pmf(
        count, mean, extra, None
    )


def _activity_holds(
    t: int, baseline: list[int], responses: Sequence[int], activity: Sequence[float]
) -> bool:
    known = [activity[s] for s in baseline if activity[s] > 0]
    if activity[t] > 0 and known:
        # The unit's own reported activity says it is open, whatever its feedback: a unit that
        # goes on treating patients while its feedback and its incident reports both stop is
        # the extreme silence, not a closure (weeks past the end of the data, reached only by
        # a monthly return, are not judged at all: arrivals.py).
        return activity[t] >= ACTIVITY_HOLDS * sum(known) / len(known)
    usual_responses = sum(responses[s] for s in baseline) / len(baseline)
    # Feedback volume is itself a count: a small unit's quiet week is not a closure, so it
    # fails only below the exact 3-sigma lower point of a Poisson count at its usual volume
    # too. (Its normal approximation, usual - 3 sqrt(usual), is 0 or less at 9 a week or
    # fewer: a week with no feedback at all then passed for one whose activity held.)
    count = responses[t]
    if (
        usual_responses >= 1.0
        and count < ACTIVITY_HOLDS * usual_responses
        and count < Predictive(usual_responses, 0.0, None).lowest_usual_count(FEEDBACK_HOLDS_SIGMA)
    ):
        return False
    return usual_responses >= 1.0 or activity[t] > 0
