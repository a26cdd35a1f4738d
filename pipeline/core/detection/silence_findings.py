"""`reporting_silence` findings: the episodes of a unit's silence trace (silence.py), with
the evidence a ward manager reads (per window: reports, activity, usual level, limit, z and
both CUSUMs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertKind
from pipeline.core.detection.base import DetectionConfig, Finding
from pipeline.core.detection.cusum import CUSUM
from pipeline.core.detection.episodes import episode_evidence, episodes, severity
from pipeline.core.detection.measures import UnitFigures
from pipeline.core.detection.silence import METHOD, SILENCE_RATIO, SilenceTrace
from pipeline.core.detection.text import duration, number, window_label


def silence_findings(
    series: Sequence[UnitWindowAggregate],
    figures: UnitFigures,
    config: DetectionConfig,
    trace: SilenceTrace,
) -> list[Finding]:
    """Episodes of `reporting_silence` in one unit's closed windows: those of its `trace`
    (`silence_trace`).

    A window the silence flagged shows it; a judged window not (yet) flagged whose reports
    still lean towards silence (`SilenceTrace.leaning`) neither extends nor ends an episode,
    so a silence stays one open episode while its reports stay low, though each signal
    restarts the CUSUM and the weeks after it are flagged only by the next signal; it ends
    on a judged window that no longer leans (its reports back above about half of either
    level)."""
    states = _states(trace)
    found = []
    for first, last, ongoing in episodes(states, config.max_gap_windows):
        shown = [t for t in range(first, last + 1) if states[t]]
        detected = min(trace.signalled_at[t] for t in shown)
        peak = max(trace.z[t] for t in shown)
        at = shown[-1]
        window = figures.windows[at]
        reports = sum(series[at].incidents_by_harm)
        unit = series[0].unit_id
        # Its returns alone said it was open: nothing else came from it either.
        unheard = any(figures.responses[:first]) and not any(figures.responses[t] for t in shown)
        summary = (
            f"At {unit}, in {window_label(window)} {reports} incident"
            f"{' was' if reports == 1 else 's were'} reported (of any harm, no harm included), "
            f"against a usual {number(trace.expected[at])} for its activity"
            f"{duration(len(shown), window)}, while its activity held"
            f"{'; no patient feedback came from it either' if unheard else ''}. A fall in "
            "reporting is a warning sign about the reporting culture, not an improvement in "
            "safety."
        )
        evidence: dict[str, Any] = {
            "method": METHOD,
            "rules": {"fired": [CUSUM], "cusum": {"statistic": "log-likelihood ratio",
                                                   "reports_ratio": SILENCE_RATIO,
                                                   "limit": config.silence_limit,
                                                   "baseline_windows":
                                                       config.silence_baseline_windows,
                                                   "recent_windows": config.silence_recent_windows,
                                                   "recent_limit": config.silence_recent_limit}},
            "episode": episode_evidence(
                figures, first, last, detected, len(shown), ongoing, peak
            ),
            "windows": [_window_evidence(series, figures, trace, t, config)
                        for t in range(first, last + 1) if not math.isnan(trace.z[t])],
        }  # fmt: skip
        found.append(
            Finding(
                kind=AlertKind.REPORTING_SILENCE,
                org_id=series[0].org_id,
                unit_id=unit,
                first_window=figures.windows[first],
                last_window=figures.windows[last],
                ongoing=ongoing,
                severity=severity(config, peak, len(shown), 0),
                summary=summary,
                evidence=evidence,
                detected_in=figures.windows[detected],
            )
        )
    return found


def silent_unflagged(trace: SilenceTrace, config: DetectionConfig) -> list[bool]:
    """Per window: not flagged, leaning towards silence, and inside an episode of
    `silence_findings` (from its first flagged window to its last, or on while it is
    ongoing): the alert says the unit is silent there, though no signal flagged the window
    (yet)."""
    states = _states(trace)
    inside = [False] * len(states)
    for first, last, ongoing in episodes(states, config.max_gap_windows):
        for t in range(first, len(states) if ongoing else last + 1):
            inside[t] = states[t] is None and not math.isnan(trace.z[t])
    return inside


def _states(trace: SilenceTrace) -> list[bool | None]:
    """`episodes` states: flagged, judged and not leaning, or None (not judged, or leaning
    and not flagged: neither extends nor ends an episode)."""
    return [
        None if math.isnan(z) or (trace.signalled_at[t] < 0 and trace.leaning[t])
        else trace.signalled_at[t] >= 0
        for t, z in enumerate(trace.z)
    ]  # fmt: skip


def _window_evidence(
    series: Sequence[UnitWindowAggregate],
    figures: UnitFigures,
    trace: SilenceTrace,
    t: int,
    config: DetectionConfig,
) -> dict[str, Any]:
    activity = max([g.denominator for g in series[t].targets if g.is_share], default=None)
    return {
        "window_start": figures.windows[t].start.isoformat(),
        "reports": sum(series[t].incidents_by_harm),
        "activity": round(activity, 1) if activity is not None else None,
        "feedback_responses": figures.responses[t],
        "expected_reports": round(trace.expected[t], 2),
        "lower_limit": trace.lower_limit[t],
        "z": round(trace.z[t], 2),
        "cusum": round(trace.cusum[t], 2),
        "cusum_limit": config.silence_limit,
        "recent_cusum": round(trace.recent_cusum[t], 2),
        "recent_cusum_limit": config.silence_recent_limit,
        "rule": CUSUM if trace.signalled_at[t] >= 0 else None,
        "detector": "cusum" if trace.signalled_at[t] >= 0 else None,
    }
