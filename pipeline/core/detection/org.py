"""Masked dark spots: a unit far worse than the rest of its organisation while the
organisation's own figure looks fine.

A window of a unit is a masked dark spot on a measure (negative FFT share, or harmful incidents
per 1,000 activity) when, in that window, all three hold:

1. the unit signals against its own baseline (the monitor divergence and safety use);
2. it is also worse than the rest of its organisation in the same window by `peer_sigma`,
   once its usual standing is allowed for: units differ by nature (an emergency department
   always hears more complaints than a maternity unit), so the expected count is the peers'
   figure in that window times the unit's usual ratio to them over its baseline (indirect
   standardisation, as funnel plots of standardised ratios do). A dip across the whole
   organisation moves the peers too, and fails this;
3. the organisation's pooled figure (all its units) had not signalled on its own chart when the
   window closed: the board report looked fine. When the pooled figure signals, the problem is
   in plain sight. (Judged as of the window's closing, like everything else: a run the pooled
   figure starts a week later does not withdraw what was masked at the time.)

Why both 1 and 2: the peers' own good and bad weeks make the comparison alone noisy (it
raised most of the false alarms in simulation), while the unit's own chart alone cannot tell a
local problem from an organisation-wide one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertKind
from pipeline.core.detection.base import DetectionConfig, Finding
from pipeline.core.detection.episodes import episodes, raised_states, severity
from pipeline.core.detection.measures import Measure, unit_figures
from pipeline.core.detection.peers import OrgFigures, View
from pipeline.core.detection.text import (
    duration,
    number,
    observed_phrase,
    percent,
    rules_evidence,
    window_label,
)
from pipeline.core.windows import Window

PEER_METHOD = (
    "the unit's own exact limits (as for divergence), confirmed by an indirectly standardised "
    "comparison with the rest of the organisation in the same window (expected = peers' figure "
    "× the unit's usual ratio to them); masked = the organisation's pooled figure had not "
    "signalled on its own chart when the window closed"
)


def org_findings(
    units: Mapping[str, Sequence[UnitWindowAggregate]], config: DetectionConfig
) -> list[Finding]:
    """Episodes of masked dark spots among the units of one organisation."""
    figures = {unit: unit_figures(series) for unit, series in sorted(units.items()) if series}
    if len(figures) < 2:
        return []
    org_id = next(series[0].org_id for series in units.values() if series)
    org = OrgFigures(figures, config)
    findings: list[Finding] = []
    for unit in figures:
        views = org.views(unit)
        states = _states(
            views,
            len(org.windows),
            config.peer_sigma,
            config.max_gap_windows,
            config.cusum_small_reference,
        )
        findings.extend(
            _finding(org, org_id, unit, views, states, first, last, ongoing)
            for first, last, ongoing in episodes(states, config.max_gap_windows)
        )
    return findings


def _states(
    views: Sequence[View], size: int, peer_sigma: float, max_gap: int, leaning: float
) -> list[bool | None]:
    """Per window: True if a view judged it and shows it, False if judged and none shows it,
    else None (asking `View.shows` only of windows the unit's own chart flagged, the only
    ones it can show); an open episode ends only on the views that raised it
    (`raised_states`), and not in a window where one of them still leans worse: judged, not
    shown, and its own chart's z at least `leaning` (flagged there or not: the unit is still
    worse than its usual, if not beyond its peers that week). As for divergence and safety
    signals (`unit._states`), one weaker week does not split a dark spot in two."""
    per_view, per_view_leaning = [], []
    for view in views:
        own, pooled = view.own.trace, view.pooled.trace
        columns = zip(view.peer_scale, own.z, pooled.z, own.signalled_at, strict=True)
        states: list[bool | None] = [None] * size
        leans = [False] * size
        for t, (scale, z, pooled_z, signalled) in enumerate(columns):
            # Judged: the peers' figure is there and neither chart's z is NaN.
            if scale > 0 and z == z and pooled_z == pooled_z:
                states[t] = signalled >= 0 and view.shows(t, peer_sigma)
                leans[t] = z >= leaning and not states[t]
        per_view.append(states)
        per_view_leaning.append(leans)
    return raised_states(per_view, max_gap, per_view_leaning)


def _finding(
    org: OrgFigures,
    org_id: str,
    unit: str,
    views: Sequence[View],
    states: list[bool | None],
    first: int,
    last: int,
    ongoing: bool,
) -> Finding:
    config, windows = org.config, org.windows
    shown = [t for t in range(first, last + 1) if states[t]]
    flagged = [(view, t) for t in shown for view in views if view.shows(t, config.peer_sigma)]
    detected = min(view.own.trace.signalled_at[t] for view, t in flagged)
    peak = max(view.own.trace.z[t] for view, t in flagged)
    harm = any(view.own.measure is Measure.HARMFUL_INCIDENT_RATE for view, _ in flagged)
    severe = sum(org.severe(unit, t) for t in shown) if harm else 0
    lead, at = max(flagged, key=lambda item: (item[1], item[0].own.trace.z[item[1]]))
    summary = (
        f"{unit} stood out from the rest of {org_id} in {window_label(windows[at])}: "
        f"{_peer_phrase(lead, at, org_id, config)}{duration(len(shown), windows[at])}."
    )
    evidence: dict[str, Any] = {
        "method": PEER_METHOD,
        "rules": {
            **rules_evidence(config, sorted({view.own.trace.rule[t] for view, t in flagged})),
            "peer_sigma": config.peer_sigma,
            "min_reference_count": config.min_reference_count,
        },
        "episode": {
            "first_window": windows[first].start.isoformat(),
            "last_window": windows[last].start.isoformat(),
            "detected_in_window": windows[detected].start.isoformat(),
            "windows_flagged": len(shown),
            "ongoing": ongoing,
            "peak_z": round(peak, 2),
        },
        "measures": {
            view.own.measure.value: _view_evidence(view, windows, first, last, config)
            for view in views
        },
    }
    if severe:
        evidence["severe_harm_incidents"] = severe
    return Finding(
        kind=AlertKind.MASKED_DARK_SPOT,
        org_id=org_id,
        unit_id=unit,
        first_window=windows[first],
        last_window=windows[last],
        ongoing=ongoing,
        severity=severity(config, peak, len(shown), severe),
        summary=summary,
        evidence=evidence,
        detected_in=windows[detected],
    )


def _peer_phrase(view: View, t: int, org_id: str, config: DetectionConfig) -> str:
    predictive, peers = view.peer(t), view.peer_rate[t]
    assert predictive is not None and peers is not None  # only windows that show are phrased
    size = view.own.sizes[t]
    expected = predictive.mean / size
    limit = predictive.highest_usual_count(config.peer_sigma) / size
    overall = view.pooled.counts[t] / view.pooled.sizes[t]
    own = observed_phrase(view.own, t, per_activity=True)
    if view.own.measure is Measure.NEGATIVE_SHARE:
        return (
            f"{own}, against {percent(peers)} across the rest of {org_id} and {percent(expected)} "
            f"expected from its usual standing (limit {percent(limit)}), while {org_id}'s overall "
            f"figure of {percent(overall)} stayed within its usual range"
        )
    return (
        f"{own}, against {number(peers)} across the rest of {org_id} and {number(expected)} "
        f"expected from its usual standing (limit {number(limit)}), while {org_id}'s overall rate "
        f"of {number(overall)} stayed within its usual range"
    )


def _view_evidence(
    view: View, windows: list[Window], first: int, last: int, config: DetectionConfig
) -> dict[str, Any]:
    entries = []
    for t in range(first, last + 1):
        if not view.judged(t):
            continue
        entry = view.own.window_evidence(t, windows[t], config)
        peer, rate = view.peer(t), view.peer_rate[t]
        if peer is not None and rate is not None:
            size = view.own.sizes[t]
            entry["peers"] = {
                "rest_of_organisation": round(rate, 4),
                "expected": round(peer.mean / size, 4),
                "limit": round(peer.highest_usual_count(config.peer_sigma) / size, 4),
                "z": round(peer.z(view.own.counts[t]), 2),
            }
        pooled = view.pooled.window_evidence(t, windows[t], config)
        entry["organisation"] = {
            **{key: pooled.get(key) for key in ("size", "value", "centre", "limit", "z")},
            "within_limits_when_closed": not view.pooled.trace.flagged_when_closed(t),
        }
        entries.append(entry)
    out: dict[str, Any] = {
        "direction": "higher_is_worse",
        "compared_with": ["own_baseline", "rest_of_organisation", "organisation_pooled"],
        "windows": entries,
    }
    if view.own.measure is Measure.HARMFUL_INCIDENT_RATE:
        out["per"] = "1,000 activity"  # only units reporting activity are compared on harm
    return out
