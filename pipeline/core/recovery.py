"""Whether acting on an alert worked: the recovery verdict (`evidence["recovery"]`).

From the family's earliest `action_taken`, the measure that raised the alert is judged against
its *pre-alert* baseline (never the alert's peak, which would show a recovery by regression to
the mean alone), leaving out every window of the unit's alerts. Making Data Count style, the
process is rebased at the action: once `min_windows_after` windows have passed, the latest of
them (up to `max_windows_after`) give the new centre line, compared with the baseline; until
then the verdict is "no change yet". pipeline/core/learning.py applies it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import Alert, AlertKind
from pipeline.core.spc import mean_moving_range

_D2 = 1.128  # the XmR chart's bias constant: sigma = mean moving range / d2


RECOVERY_METHOD = (
    "the latest windows since the earliest action_taken of the alert's family, rebased (their "
    "pooled mean) and compared with the unit's pre-alert baseline (windows before the episode, "
    "other alert episodes and windows with nothing reported left out); sigma from the "
    "baseline's moving ranges (XmR), never below the binomial/Poisson sigma"
)


class Verdict(StrEnum):
    IMPROVED = "improved"
    NO_CHANGE_YET = "no_change_yet"
    WORSE = "worse"


@dataclass(frozen=True, slots=True)
class LearningConfig:
    baseline_windows: int = 26
    """At most this many windows before the episode make the pre-alert baseline."""
    min_baseline_windows: int = 4
    min_windows_after: int = 6
    """Windows after the action before it is rebased and judged."""
    max_windows_after: int = 26
    """Windows after the action the verdict reads at most: past these it no longer changes."""
    worse_z: float = 3.0
    improved_z: float = 1.0
    """Rebased mean within this many standard errors above the baseline (or below it): back at
    its usual level or better, "improved"."""
    reporting_fell_z: float = 2.0
    """Incident reports this many standard errors below their baseline since the action: fewer
    harmful incidents is then not read as an improvement (the bright spots' bound)."""


def measures_of(alert: Alert) -> list[str]:
    """The measures judged after an action on the alert: those that raised it
    (`flagged_measures`), but always both `feedback` and `harm` for a divergence."""
    if alert.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE:
        return ["feedback", "harm"]
    return flagged_measures(alert)


def flagged_measures(alert: Alert) -> list[str]:
    """What raised the alert: `harm`, `feedback` or both (both when its evidence flags none),
    or `reporting` (all incident reports) for a reporting silence."""
    if alert.kind is AlertKind.SAFETY_SIGNAL:
        return ["harm"]
    if alert.kind is AlertKind.REPORTING_SILENCE:
        return ["reporting"]
    flagged = {
        "harm" if name == "harmful_incident_rate" else "feedback"
        for name, entry in (alert.evidence.get("measures") or {}).items()
        if any(w.get("rule") for w in entry.get("windows", ()))
    }
    return sorted(flagged) or ["feedback", "harm"]


def recovery(
    alert: Alert,
    action_at: datetime,
    series: Sequence[UnitWindowAggregate],
    config: LearningConfig,
    episodes: Sequence[tuple[datetime, datetime]] = (),
) -> dict[str, Any]:
    """The recovery verdict of `alert` after an action taken at `action_at`."""
    # A window in which nothing was reported (only a target return reaching back before the
    # unit's data) says nothing of its harm: counted as none it would lower the baseline.
    before = [
        a
        for a in series
        if a.window.end <= alert.window_start
        and a.reported
        and not any(start < a.window.end and a.window.start < end for start, end in episodes)
    ]
    before = before[-config.baseline_windows :]
    since = [a for a in series if a.window.start >= action_at][: config.max_windows_after]
    while since and not since[-1].reported:  # nothing reported yet (a target return's reach)
        since.pop()
    after = since[-config.min_windows_after :]
    judged = {name: _judge_measure(name, before, after, config) for name in measures_of(alert)}
    harm = judged.get("harm")
    if harm is not None and harm.get("verdict") == Verdict.IMPROVED.value:
        # Fewer harmful incidents is good news only while the unit still reports: a unit that
        # stopped reporting after the action shows "less harm" too.
        reporting = _judge_measure("reporting", before, after, config)
        if reporting.get("z", 0.0) <= -config.reporting_fell_z:
            harm["verdict"] = Verdict.NO_CHANGE_YET.value
            harm["reason"] = (
                "incident reporting fell since the action, so fewer harmful incidents is not "
                "read as an improvement"
            )
            judged["reporting"] = reporting
    verdicts = [m["verdict"] for m in judged.values() if m.get("verdict")]
    if Verdict.WORSE in verdicts:
        overall = Verdict.WORSE
    elif verdicts and all(v == Verdict.IMPROVED for v in verdicts):
        overall = Verdict.IMPROVED
    else:
        overall = Verdict.NO_CHANGE_YET
    return {
        "verdict": overall.value,
        # one text per instant: a response's own offset and a restored (UTC) one must agree
        "action_at": action_at.astimezone(UTC).isoformat(),
        "windows_after": len(since),
        "windows_needed": config.min_windows_after,
        "rebased": len(after) >= config.min_windows_after,
        "rebased_on": [after[0].window.start.isoformat(), after[-1].window.end.isoformat()]
        if after
        else None,
        "method": RECOVERY_METHOD,
        "measures": judged,
    }


_MEASURE_NAMES = {
    "harm": "harmful incidents per window",
    "reporting": "incident reports per window (every harm level)",
    "feedback": "share rating care poor",
}


def _values(name: str, windows: Sequence[UnitWindowAggregate]) -> tuple[list[float], int]:
    """Per-window values of a measure, and the total sample behind them."""
    if name == "harm":
        return [float(a.harmful_incidents) for a in windows], len(windows)
    if name == "reporting":
        return [float(a.incidents) for a in windows], len(windows)
    shares = [a.fft_negative / a.fft_responses for a in windows if a.fft_responses]
    return shares, sum(a.fft_responses for a in windows)


def _judge_measure(
    name: str,
    before: Sequence[UnitWindowAggregate],
    after: Sequence[UnitWindowAggregate],
    config: LearningConfig,
) -> dict[str, Any]:
    base, base_n = _values(name, before)
    post, post_n = _values(name, after)
    entry: dict[str, Any] = {
        "measure": _MEASURE_NAMES[name],
        "baseline_windows": len(base),
        "windows_after": len(post),
    }
    if len(base) < config.min_baseline_windows:
        entry["verdict"] = None
        entry["reason"] = "too few windows before the alert for a baseline"
        return entry
    counted = name != "feedback"
    if counted:
        centre = math.fsum(base) / len(base)
        floor = math.sqrt(max(centre, 0.5))  # Poisson sigma of one window
    else:
        centre = math.fsum(a.fft_negative for a in before) / base_n
        floor = math.sqrt(max(centre * (1 - centre), 0.01) / (base_n / len(base)))
    sigma = max((mean_moving_range(base) or 0.0) / _D2, floor)
    entry["baseline"] = round(centre, 4)
    entry["sigma"] = round(sigma, 4)
    if len(post) < config.min_windows_after:
        entry["verdict"] = Verdict.NO_CHANGE_YET.value
        entry["reason"] = f"{len(post)} of {config.min_windows_after} windows after the action"
        return entry
    if counted:
        rebased = math.fsum(post) / len(post)
    else:
        rebased = math.fsum(a.fft_negative for a in after) / post_n
    z = (rebased - centre) / (sigma * math.sqrt(1 / len(post) + 1 / len(base)))
    entry["after"] = round(rebased, 4)
    entry["z"] = round(z, 2)
    if name == "reporting":
        z = -z  # fewer reports is the concern: a silence that lasts is never an improvement
    if z >= config.worse_z:
        verdict = Verdict.WORSE
    elif z <= config.improved_z:
        verdict = Verdict.IMPROVED
    else:
        verdict = Verdict.NO_CHANGE_YET
    entry["verdict"] = verdict.value
    return entry
