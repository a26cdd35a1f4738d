"""From findings to alert versions: the book of alerts raised so far.

The detector says what is true of a unit's closed windows now. The book compares that with what
was last raised and produces only the changes: a new episode is raised, a changed one updated,
one that no longer shows in the latest window resolved, and one that late data proved never was
withdrawn. A finding that says the same as the last version raises nothing, so a restart or a
replay never notifies twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import Alert, AlertKind, AlertStatus, alert_id_for
from pipeline.core.detection import Finding
from pipeline.core.learning import (
    ResponseLedger,
    ResponseRecord,
    decorate,
    episode_groups,
)
from pipeline.core.recovery import LearningConfig

UnitKey = tuple[str, str]
_ORG_KINDS = frozenset({AlertKind.MASKED_DARK_SPOT})


class FindingSource(Protocol):
    """What the book needs of a detector (`pipeline.core.detection.Detector` is the real one)."""

    def units_findings(
        self, units: Mapping[str, Sequence[UnitWindowAggregate]]
    ) -> list[Finding]: ...

    def org_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]: ...


class AlertBook:
    """The latest version of every alert, and the diffing that produces new versions."""

    def __init__(self, detector: FindingSource, learning: LearningConfig | None = None) -> None:
        self._detector = detector
        self._learning = learning or LearningConfig()
        self.responses = ResponseLedger()
        self._latest: dict[str, Alert] = {}
        # What detection last said of each alert, before the learning loop's decorations.
        self._base: dict[str, Alert] = {}
        self._last_detected_at: datetime | None = None

    @property
    def learning(self) -> LearningConfig:
        return self._learning

    def latest(self) -> list[Alert]:
        return list(self._latest.values())

    def unmatched_responses(self) -> list[ResponseRecord]:
        return self.responses.unmatched(self._latest)

    def restore(self, alerts: Iterable[Alert]) -> None:
        """The latest stored version of each alert; new versions are stamped after them."""
        for alert in alerts:
            if self._last_detected_at is None or alert.detected_at > self._last_detected_at:
                self._last_detected_at = alert.detected_at
            current = self._latest.get(alert.alert_id)
            if current is None or alert.detected_at > current.detected_at:
                self._latest[alert.alert_id] = alert
                self._base[alert.alert_id] = alert

    def judge(
        self,
        series: Mapping[UnitKey, Sequence[UnitWindowAggregate]],
        units: Iterable[UnitKey],
        now: datetime,
    ) -> list[Alert]:
        """Re-judge the organisations of `units` on their closed windows: every unit of them,
        since a unit's accumulated evidence is judged against what moved the rest of its
        organisation (so a late event at one unit can change another's verdict).

        `series` holds the closed windows of every unit of those organisations.
        """
        findings: list[Finding] = []
        orgs = sorted({org for org, _ in units})
        judged_units = {(o, u) for o, u in series if o in orgs} | set(units)
        for org in orgs:
            members = {u: s for (o, u), s in series.items() if o == org}
            findings.extend(self._detector.units_findings(members))
            findings.extend(self._detector.org_findings(members))

        stamp = self._next_stamp(now)
        base = self._base
        found_ids: set[str] = set()
        for finding in findings:
            alert = _alert_from(finding, stamp)
            found_ids.add(alert.alert_id)
            base[alert.alert_id] = alert
        for alert in list(base.values()):
            in_scope = (alert.org_id, alert.unit_id) in judged_units or (
                alert.kind in _ORG_KINDS and alert.org_id in orgs
            )
            if (
                in_scope
                and alert.alert_id not in found_ids
                and alert.status is not AlertStatus.WITHDRAWN
            ):
                base[alert.alert_id] = alert.model_copy(update={"status": AlertStatus.WITHDRAWN})
        return self._publish(series, set(orgs), stamp)

    def _publish(
        self,
        series: Mapping[UnitKey, Sequence[UnitWindowAggregate]],
        orgs: set[str],
        stamp: datetime,
    ) -> list[Alert]:
        """The learning loop's view of every alert of `orgs`; the versions that changed."""
        base = self._base
        groups = episode_groups(a for a in base.values() if a.org_id in orgs)
        spans: dict[UnitKey, list[tuple[datetime, datetime]]] = {}
        for alert in base.values():
            if alert.org_id in orgs and alert.status is not AlertStatus.WITHDRAWN:
                spans.setdefault((alert.org_id, alert.unit_id), []).append(
                    (alert.window_start, alert.window_end)
                )
        changes: list[Alert] = []
        for alert_id, alert in base.items():
            if alert.org_id not in orgs:
                continue
            family = groups.get(alert_id, [alert_id])
            responses = [r for member in family for r in self.responses.for_alert(base[member])]
            unit = (alert.org_id, alert.unit_id)
            episodes = spans.get(unit, [])
            shown = decorate(
                alert, family, responses, series.get(unit, ()), self._learning, episodes
            )
            previous = self._latest.get(alert_id)
            if previous is None or not previous.same_finding(shown):
                changes.append(shown.model_copy(update={"detected_at": stamp}))
        for alert in changes:
            self._latest[alert.alert_id] = alert
        return sorted(changes, key=lambda a: (a.window_start, a.org_id, a.unit_id, a.kind))

    def _next_stamp(self, now: datetime) -> datetime:
        # Versions are ordered by detected_at in storage; two steps within one clock tick
        # must still be told apart.
        if self._last_detected_at is not None and now <= self._last_detected_at:
            now = self._last_detected_at + timedelta(microseconds=1)
        self._last_detected_at = now
        return now


def _alert_from(finding: Finding, detected_at: datetime) -> Alert:
    return Alert(
        alert_id=alert_id_for(
            finding.kind, finding.org_id, finding.unit_id, finding.first_window.start
        ),
        kind=finding.kind,
        org_id=finding.org_id,
        unit_id=finding.unit_id,
        window_start=finding.first_window.start,
        window_end=finding.last_window.end,
        severity=finding.severity,
        summary=finding.summary,
        evidence=finding.evidence,
        detected_at=detected_at,
        status=AlertStatus.OPEN if finding.ongoing else AlertStatus.RESOLVED,
    )
