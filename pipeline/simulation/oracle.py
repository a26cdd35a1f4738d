"""Is an injected episode detectable at all? An oracle's answer, independent of the detector.

The oracle knows a unit's true weekly distribution (its expected volume, level and week-to-week
spread) and tests one week at a time at a false-alarm risk of 1 in 10,000 weeks, a budget of
the order the acceptance target allows (0.1 false alarms per 100 unit-weeks, spread over several
measures and kinds). An episode is *detectable* when that oracle would see it within its first
two weeks with probability at least `DETECTABLE_POWER`. Small units rarely qualify: with 9
responses a week, even a rise from 4% to 40% negative is not a sure thing in a fortnight.

The same functions size the injected effects: a *clear* episode is the smallest shift whose
two-week power reaches `CLEAR_POWER`; a *subtle* one reaches only `SUBTLE_POWER` (real, but not
something any weekly method can promise to catch; not counted in recall, never a false alarm).
"""

from __future__ import annotations

from statistics import NormalDist

from pipeline.core.detection.predictive import Predictive, upper_tail
from pipeline.simulation.units import expit, logit

ORACLE_SIGMA = -NormalDist().inv_cdf(1e-4)
DETECTABLE_POWER = 0.9
CLEAR_POWER = 0.97
SUBTLE_POWER = 0.25
MAX_FEEDBACK_SHIFT = 3.0  # on the logit: odds × 20
MAX_SHARE = 0.6
MAX_HARM_MULTIPLIER = 10.0
# An episode counts as masked when the organisation's pooled figure is expected to move by no
# more than this many of its own standard deviations.
MASKED_Z = 1.5


def _two_week_power(baseline: Predictive, shifted: Predictive) -> float:
    critical = baseline.highest_usual_count(ORACLE_SIGMA) + 1
    weekly = upper_tail(critical, shifted.mean, shifted.extra_variance, shifted.trials)
    return 1 - (1 - weekly) ** 2


def feedback_week(responses: float, share: float, spread: float) -> Predictive:
    """The negative responses of a week: beta-binomial around `share` with the unit-week
    spread `spread` on the logit scale (delta method)."""
    trials = max(1, round(responses))
    share_sd = share * (1 - share) * spread
    return Predictive(trials * share, (trials * share_sd) ** 2, trials)


def harm_week(mean: float, shape: float) -> Predictive:
    """Harmful incidents of a week: gamma-Poisson with unit-week multiplier of shape `shape`."""
    return Predictive(mean, mean * mean / shape, None)


def feedback_power(responses: float, share: float, spread: float, shift: float) -> float:
    shifted = min(expit(logit(share) + shift), MAX_SHARE)
    return _two_week_power(
        feedback_week(responses, share, spread), feedback_week(responses, shifted, spread)
    )


def harm_power(mean: float, shape: float, multiplier: float) -> float:
    return _two_week_power(harm_week(mean, shape), harm_week(mean * multiplier, shape))


def feedback_shift(responses: float, share: float, spread: float, power: float) -> float:
    """The smallest logit shift (in steps of 0.1) reaching `power`, or the largest allowed."""
    shift = 0.1
    while shift < MAX_FEEDBACK_SHIFT and feedback_power(responses, share, spread, shift) < power:
        shift += 0.1
    return round(shift, 1)


def harm_multiplier(mean: float, shape: float, power: float) -> float:
    """The smallest multiplier (in steps of 0.25) reaching `power`, or the largest allowed."""
    multiplier = 1.25
    while multiplier < MAX_HARM_MULTIPLIER and harm_power(mean, shape, multiplier) < power:
        multiplier += 0.25
    return multiplier


def spike_count(week: Predictive, tail: float) -> int:
    """The count whose upper-tail probability is nearest `tail` from above: a bad week that
    happens by chance about once in 1 / `tail` weeks."""
    count = max(1, round(week.mean))
    while upper_tail(count + 1, week.mean, week.extra_variance, week.trials) >= tail:
        count += 1
    return count
