"""From findings to alert versions: the book of alerts raised so far.

The detector says what is true of a unit's closed windows now. The book compares that with what
was last raised and produces only the changes: a new episode is raised, a changed one updated,
one that no longer shows in the latest window resolved, and one that late data proved never was
withdrawn. A finding that says the same as the last version raises nothing, so a restart or a
replay never notifies twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import Alert, AlertKind, AlertStatus, alert_id_for
from pipeline.core.detection import Finding
from pipeline.core.learning import (
    ResponseLedger,
    ResponseRecord,
    answers_of,
    decorate,
    dismissed_members,
    episode_groups,
)
from pipeline.core.recovery import LearningConfig
from pipeline.core.windows import WindowKind

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

    def __init__(
        self,
        detector: FindingSource,
        learning: LearningConfig | None = None,
        window: WindowKind = WindowKind.WEEK,
    ) -> None:
        self._detector = detector
        self._learning = learning or LearningConfig()
        self._window = window  # when an alert was detected: the end of its detected-in window
        self.responses = ResponseLedger()
        self._latest: dict[str, Alert] = {}
        # What detection last said of each alert, before the learning loop's decorations.
        self._base: dict[str, dict[str, Alert]] = {}  # by organisation, then alert id
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
                self._base.setdefault(alert.org_id, {})[alert.alert_id] = alert

    def judge(
        self,
        series: Mapping[UnitKey, Sequence[UnitWindowAggregate]],
        units: Iterable[UnitKey],
        now: datetime,
    ) -> list[Alert]:
        """Re-judge the organisations of `units` on their closed windows: every unit of them,
        since a unit's accumulated evidence is judged against what moved the rest of its
        organisation (so a late event at one unit can change another's verdict).

        `series` holds the closed windows of every unit of those organisations. Each
        organisation is judged (`judge_org`) and kept (`keep`) in turn.
        """
        units = set(units)
        stamp = self.next_stamp(now)
        self._last_detected_at = stamp
        changes: list[Alert] = []
        for org in sorted({org for org, _ in units}):
            members = {u: s for (o, u), s in series.items() if o == org}
            judged = self.judge_org(org, members, {u for o, u in units if o == org}, stamp)
            self.keep(judged)
            changes.extend(judged.changes)
        return sorted(changes, key=alert_order)

    def judge_org(
        self,
        org: str,
        members: Mapping[str, Sequence[UnitWindowAggregate]],
        units: Collection[str],
        stamp: datetime,
    ) -> OrgAlerts:
        """The alert versions one organisation's closed windows (`members`, by unit) call
        for, stamped `stamp` (`next_stamp`); `units`: the units whose change brought the
        judgement. The book is unchanged until `keep`, so a judgement that raises leaves it
        as it was."""
        judged_units = set(members) | set(units)
        base = dict(self._base.get(org, {}))
        found: dict[str, Alert] = {}
        findings = self._detector.units_findings(members) + self._detector.org_findings(members)
        for finding in findings:
            alert = _alert_from(finding, stamp)
            found[alert.alert_id] = alert
            base[alert.alert_id] = alert
        for alert_id, alert in base.items():
            in_scope = alert.unit_id in judged_units or alert.kind in _ORG_KINDS
            if in_scope and alert_id not in found and alert.status is not AlertStatus.WITHDRAWN:
                base[alert_id] = withdrawn(alert, found.values())
        return OrgAlerts(org, base, self._published(members, base, stamp), stamp)

    def keep(self, judged: OrgAlerts) -> None:
        """Remember `judged` (from `judge_org`, the book unchanged since): its changes are
        then the latest versions."""
        self._base[judged.org] = judged.base
        for alert in judged.changes:
            self._latest[alert.alert_id] = alert
        if self._last_detected_at is None or judged.stamp > self._last_detected_at:
            self._last_detected_at = judged.stamp

    def _published(
        self,
        members: Mapping[str, Sequence[UnitWindowAggregate]],
        base: Mapping[str, Alert],
        stamp: datetime,
    ) -> list[Alert]:
        """The learning loop's view of every alert of one organisation (`base`); the versions
        that changed, in `base`'s order."""
        groups = episode_groups(base.values())
        spans: dict[str, list[tuple[datetime, datetime]]] = {}
        for alert in base.values():
            if alert.status is not AlertStatus.WITHDRAWN:
                spans.setdefault(alert.unit_id, []).append((alert.window_start, alert.window_end))
        dismissed: dict[str, list[str]] = {}  # by family id
        changes: list[Alert] = []
        for alert_id, alert in base.items():
            family = groups.get(alert_id, [alert_id])
            responses = [r for member in family for r in self.responses.for_alert(base[member])]
            family_alerts = [base[member] for member in family]
            if family[0] not in dismissed:
                dismissed[family[0]] = dismissed_members(family_alerts, responses, self._window)
            episodes = spans.get(alert.unit_id, [])
            series = members.get(alert.unit_id, ())
            answers = answers_of(alert, family_alerts, responses, self._window)
            shown = decorate(alert, family, responses, series, self._learning, episodes,
                             dismissed[family[0]], answers)  # fmt: skip
            previous = self._latest.get(alert_id)
            if previous is None or not previous.same_finding(shown):
                changes.append(shown.model_copy(update={"detected_at": stamp}))
        return changes

    def next_stamp(self, now: datetime) -> datetime:
        """The stamp of the next judgement's alert versions (kept with them, by `keep`)."""
        # Versions are ordered by detected_at in storage; two steps within one clock tick
        # must still be told apart.
        if self._last_detected_at is not None and now <= self._last_detected_at:
            return self._last_detected_at + timedelta(microseconds=1)
        return now


@dataclass(frozen=True, slots=True)
class OrgAlerts:
    """One organisation's judgement by an `AlertBook`, not yet kept (`AlertBook.keep`)."""

    org: str
    base: dict[str, Alert]
    """What detection now says of each alert of the organisation."""
    changes: list[Alert]
    """The alert versions that changed (the organisation's, in the book's order)."""
    stamp: datetime


def alert_order(alert: Alert) -> tuple[datetime, str, str, str]:
    """The order a judgement's alert versions are handed out in."""
    return alert.window_start, alert.org_id, alert.unit_id, alert.kind


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


def withdrawn(alert: Alert, found: Iterable[Alert]) -> Alert:
    """`alert` withdrawn: the judgement `found` no longer raises it. Late data more often moves
    an episode than removes it (a revised target return shortens it, so its first week and its
    id change): `evidence.replaced_by` names the alerts found on its unit whose weeks overlap
    its own, so whoever answered it can find the one to answer now."""
    successors = sorted(
        a.alert_id
        for a in found
        if a.unit_id == alert.unit_id
        and a.window_start < alert.window_end
        and alert.window_start < a.window_end
    )
    evidence = {**alert.evidence, "replaced_by": successors} if successors else alert.evidence
    return alert.model_copy(update={"status": AlertStatus.WITHDRAWN, "evidence": evidence})
