"""The learning loop: what the safety teams' answers do to alerts, and whether acting worked.

Every decision here reads the *set* of responses and alerts, never their order, so a replay in
any order ends with the same alerts.

- A response *matches* when an alert with its `alert_id` exists for the same organisation and
  unit. Otherwise it is kept as unmatched, and it matches as soon as that alert appears.
- Alerts on one unit whose episodes overlap form a family: `evidence["episode_group"]` names
  its id (the earliest member's `alert_id`) and its members. A response to any member applies
  to the whole family, so one answer covers one problem however many alerts it raised.
- `false_positive` makes every alert of the family `dismissed`; the status stays while the
  episode lasts (a later episode is a new alert with a new id).
- `action_taken`: from the family's earliest action, the measure that raised the alert (harm
  for harm alerts, patient feedback for feedback alerts, both for divergence) is judged against
  its *pre-alert* baseline, never against the alert's peak (which would show a recovery by
  regression to the mean alone). The baseline leaves out every window of the unit's alerts, so
  an earlier episode does not lift it. Making Data Count style, the process is rebased at the
  action: once `min_windows_after` windows have passed, the latest of them (up to
  `max_windows_after` since the action, after which the verdict no longer changes) give the
  new centre line, compared with the baseline; until then the verdict is "no change yet". The
  verdict is `evidence["recovery"]`, stored with the alert.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import Alert, AlertKind, AlertStatus
from pipeline.core.events import AlertResponse, ResponseKind
from pipeline.core.spc import mean_moving_range

UnitKey = tuple[str, str]
_D2 = 1.128  # the XmR chart's bias constant: sigma = mean moving range / d2
RECOVERY_METHOD = (
    "the latest windows since the earliest action_taken of the alert's family, rebased (their "
    "pooled mean) and compared with the unit's pre-alert baseline (windows before the episode, "
    "other alert episodes left out); sigma from the baseline's moving ranges (XmR), never below "
    "the binomial/Poisson sigma"
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


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """What the learning loop keeps of a response (never its note)."""

    event_id: int
    org_id: str
    unit_id: str
    alert_id: str
    response: ResponseKind
    occurred_at: datetime


class ResponseLedger:
    """Every response seen, by the alert id it names. `added` lists the records added since
    it was last drained (what a step stores with its batch)."""

    def __init__(self) -> None:
        self._by_alert: dict[str, dict[int, ResponseRecord]] = {}
        self.added: list[ResponseRecord] = []

    def add(self, response: AlertResponse) -> None:
        record = ResponseRecord(
            event_id=response.event_id.int,
            org_id=response.org_id,
            unit_id=response.unit_id,
            alert_id=response.alert_id,
            response=response.response,
            occurred_at=response.occurred_at,
        )
        self._by_alert.setdefault(record.alert_id, {})[record.event_id] = record
        self.added.append(record)

    def restore(self, records: Iterable[ResponseRecord]) -> None:
        """Records read back from storage (not listed in `added`)."""
        for record in records:
            self._by_alert.setdefault(record.alert_id, {})[record.event_id] = record

    def drain(self) -> list[ResponseRecord]:
        added, self.added = self.added, []
        return added

    def of_org(self, org_id: str) -> list[ResponseRecord]:
        return [r for rs in self._by_alert.values() for r in rs.values() if r.org_id == org_id]

    def for_alert(self, alert: Alert) -> list[ResponseRecord]:
        """The responses that match `alert` (same id, organisation and unit), oldest first."""
        records = self._by_alert.get(alert.alert_id, {}).values()
        return sorted(
            (r for r in records if (r.org_id, r.unit_id) == (alert.org_id, alert.unit_id)),
            key=lambda r: (r.occurred_at, r.event_id),
        )

    def unmatched(self, alerts: Mapping[str, Alert]) -> list[ResponseRecord]:
        """Responses naming no alert raised for their organisation and unit."""
        out = []
        for alert_id, records in self._by_alert.items():
            alert = alerts.get(alert_id)
            for record in records.values():
                if alert is None or (alert.org_id, alert.unit_id) != (
                    record.org_id,
                    record.unit_id,
                ):
                    out.append(record)
        return sorted(out, key=lambda r: (r.occurred_at, r.event_id))


def episode_groups(alerts: Iterable[Alert]) -> dict[str, list[str]]:
    """alert_id -> the ids of its family (itself included), earliest first.

    Families are the connected runs of overlapping episodes on one unit; withdrawn alerts
    belong to none.
    """
    by_unit: dict[UnitKey, list[Alert]] = {}
    for alert in alerts:
        if alert.status is not AlertStatus.WITHDRAWN:
            by_unit.setdefault((alert.org_id, alert.unit_id), []).append(alert)
    groups: dict[str, list[str]] = {}
    for members in by_unit.values():
        members.sort(key=lambda a: (a.window_start, a.alert_id))
        family: list[Alert] = []
        end = members[0].window_end
        for alert in members:
            if family and alert.window_start >= end:
                _close(family, groups)
                family = []
            end = alert.window_end if not family else max(end, alert.window_end)
            family.append(alert)
        _close(family, groups)
    return groups


def _close(family: list[Alert], groups: dict[str, list[str]]) -> None:
    ids = [a.alert_id for a in family]
    for alert_id in ids:
        groups[alert_id] = ids


def decorate(
    alert: Alert,
    family: Sequence[str],
    responses: Sequence[ResponseRecord],
    series: Sequence[UnitWindowAggregate],
    config: LearningConfig,
    episodes: Sequence[tuple[datetime, datetime]] = (),
) -> Alert:
    """`alert` as the book publishes it: its family, dismissal and recovery verdict applied.

    `responses` are those matching any member of `family`; `episodes` the spans of the unit's
    alerts, left out of the pre-alert baseline.
    """
    if alert.status is AlertStatus.WITHDRAWN:
        return alert
    evidence = dict(alert.evidence)
    evidence["episode_group"] = {"id": family[0], "alerts": list(family)}
    status = alert.status
    if any(r.response is ResponseKind.FALSE_POSITIVE for r in responses):
        status = AlertStatus.DISMISSED
    if "feedback" in measures_of(alert):
        themes = episode_themes(alert, series)
        if themes:
            evidence["themes"] = themes
    actions = [r.occurred_at for r in responses if r.response is ResponseKind.ACTION_TAKEN]
    if actions:
        evidence["recovery"] = recovery(alert, min(actions), series, config, episodes)
    return alert.model_copy(update={"evidence": evidence, "status": status})


def episode_themes(
    alert: Alert, series: Sequence[UnitWindowAggregate], most: int = 8
) -> dict[str, Any]:
    """What patients' comments were about during the episode: the FFT themes publishers
    attached, counted over the episode's windows (the most named first; never the comments)."""
    counts: dict[str, int] = {}
    responses = 0
    for a in series:
        if alert.window_start <= a.window.start < alert.window_end:
            responses += a.fft_responses
            for name, n in a.themes:
                counts[name] = counts.get(name, 0) + n
    if not counts:
        return {}
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:most]
    return {"responses": responses, "counts": dict(top)}


def measures_of(alert: Alert) -> list[str]:
    """What raised the alert: `harm`, `feedback` or both (always both for divergence)."""
    if alert.kind is AlertKind.SAFETY_SIGNAL:
        return ["harm"]
    if alert.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE:
        return ["feedback", "harm"]
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
    before = [
        a
        for a in series
        if a.window.end <= alert.window_start
        and not any(start < a.window.end and a.window.start < end for start, end in episodes)
    ]
    before = before[-config.baseline_windows :]
    since = [a for a in series if a.window.start >= action_at][: config.max_windows_after]
    while since and not since[-1].reported:  # nothing reported yet (a target return's reach)
        since.pop()
    after = since[-config.min_windows_after :]
    judged = {name: _judge_measure(name, before, after, config) for name in measures_of(alert)}
    verdicts = [m["verdict"] for m in judged.values() if m.get("verdict")]
    if Verdict.WORSE in verdicts:
        overall = Verdict.WORSE
    elif verdicts and all(v == Verdict.IMPROVED for v in verdicts):
        overall = Verdict.IMPROVED
    else:
        overall = Verdict.NO_CHANGE_YET
    return {
        "verdict": overall.value,
        "action_at": action_at.isoformat(),
        "windows_after": len(since),
        "windows_needed": config.min_windows_after,
        "rebased": len(after) >= config.min_windows_after,
        "rebased_on": [after[0].window.start.isoformat(), after[-1].window.end.isoformat()]
        if after
        else None,
        "method": RECOVERY_METHOD,
        "measures": judged,
    }


def _values(name: str, windows: Sequence[UnitWindowAggregate]) -> tuple[list[float], int]:
    """Per-window values of a measure, and the total sample behind them."""
    if name == "harm":
        return [float(a.harmful_incidents) for a in windows], len(windows)
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
        "measure": "harmful incidents per window" if name == "harm" else "share rating care poor",
        "baseline_windows": len(base),
        "windows_after": len(post),
    }
    if len(base) < config.min_baseline_windows:
        entry["verdict"] = None
        entry["reason"] = "too few windows before the alert for a baseline"
        return entry
    if name == "harm":
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
    if name == "harm":
        rebased = math.fsum(post) / len(post)
    else:
        rebased = math.fsum(a.fft_negative for a in after) / post_n
    z = (rebased - centre) / (sigma * math.sqrt(1 / len(post) + 1 / len(base)))
    entry["after"] = round(rebased, 4)
    entry["z"] = round(z, 2)
    if z >= config.worse_z:
        verdict = Verdict.WORSE
    elif z <= config.improved_z:
        verdict = Verdict.IMPROVED
    else:
        verdict = Verdict.NO_CHANGE_YET
    entry["verdict"] = verdict.value
    return entry
