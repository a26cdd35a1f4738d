"""The learning loop: what the safety teams' answers do to alerts, and whether acting worked.

Every decision here reads the *set* of responses and alerts, never their order, so a replay in
any order ends with the same alerts.

- A response *matches* when an alert with its `alert_id` exists for the same organisation and
  unit. Otherwise it is kept as unmatched, and it matches as soon as that alert appears.
- Alerts on one unit whose episodes overlap form a family: `evidence["episode_group"]` names
  its id (the earliest member's `alert_id`) and its members. A response to any member applies
  to the whole family, so one answer covers one problem however many alerts it raised.
- `false_positive` makes `dismissed` the member it names and every member of the family that
  existed when it was given, raised on a measure the named one was raised on (`harm`,
  `feedback`, `reporting`): detected (event time: its detected-in window closed) at or before
  the answer's `occurred_at`. It says nothing of the family's other members. A member
  detected later stays open (a safety signal is never born dismissed);
  `evidence["episode_group"]["dismissed"]` lists the dismissed members. The status stays
  while the episode lasts (a later episode is a new alert with a new id).
- The answers that answer an alert: its own, and its family's, except that a member detected
  after a `false_positive` is answered only by those given since its detection (and its own):
  `evidence["episode_group"]["answered"]` is true when there is one (the safety teams'
  precision counts those alerts).
- `due_by`: an alert's is the latest of those answers that carries one (by `occurred_at`, then
  event id): one date for one problem, stored as `evidence["due_by"]` for the report and
  Grafana to read; `evidence["owner"]` likewise the owner the latest of them to name one named,
  and `evidence["first_answer"]` / `["first_acknowledgement"]` when the earliest of them (of
  them acknowledging) was given; `evidence["answered_by"]` lists their event ids in the order
  given, so the report and Grafana show what was done about an alert from one decision.
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

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import Alert, AlertStatus
from pipeline.core.events import AlertResponse, ResponseKind
from pipeline.core.recovery import LearningConfig, flagged_measures, measures_of, recovery
from pipeline.core.windows import WindowKind, window_of

UnitKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """What the learning loop keeps of a response (never its note)."""

    event_id: int
    org_id: str
    unit_id: str
    alert_id: str
    response: ResponseKind
    occurred_at: datetime
    due_by: datetime | None = None
    owner: str = ""


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
            due_by=response.due_by,
            owner=response.owner or "",
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


def detected_by(alert: Alert, kind: WindowKind) -> datetime:
    """When, in event time, the data first showed `alert`: the end of the window it was
    detected in (`evidence.episode.detected_in_window`), else of its first window."""
    episode = alert.evidence.get("episode")
    start = episode.get("detected_in_window") if isinstance(episode, dict) else None
    try:
        detected = datetime.fromisoformat(start) if isinstance(start, str) else alert.window_start
    except ValueError:
        detected = alert.window_start
    return window_of(detected, kind).end


def _speaks_for(answer: ResponseRecord, member: Alert, members: Mapping[str, Alert]) -> bool:
    """Whether `answer` says anything of `member`. Every answer to a family speaks for all of
    it, but a `false_positive` only for the member it names and those raised on a measure
    that one was raised on: "that dark spot in the feedback was chance" says nothing of the
    unit's harm (an outside check, twenty-fifth session: a feedback dark spot's false
    positive dismissed a high safety signal with an action pending)."""
    if answer.response is not ResponseKind.FALSE_POSITIVE or answer.alert_id == member.alert_id:
        return True
    named = members.get(answer.alert_id)
    return named is None or bool(set(flagged_measures(named)) & set(flagged_measures(member)))


def dismissed_members(
    members: Sequence[Alert], responses: Iterable[ResponseRecord], kind: WindowKind
) -> list[str]:
    """The ids of the family `members` (earliest first) that its `false_positive` answers
    dismiss: the member an answer names, and every member raised on one of that member's
    measures and detected by the answer's time."""
    answers = [r for r in responses if r.response is ResponseKind.FALSE_POSITIVE]
    by_id = {m.alert_id: m for m in members}
    return [
        m.alert_id
        for m in members
        if any(
            r.alert_id == m.alert_id
            or (_speaks_for(r, m, by_id) and detected_by(m, kind) <= r.occurred_at)
            for r in answers
        )
    ]


def answers_of(
    member: Alert,
    family: Sequence[Alert],
    responses: Iterable[ResponseRecord],
    kind: WindowKind,
) -> list[ResponseRecord]:
    """The answers of `member`'s `family` (`responses`) that answer `member`: those that speak
    for it (`_speaks_for`), of them the other members' only if no `false_positive` speaking
    for it was given before `member` was detected; else only those given since (what was
    dismissed is not the problem it shows)."""
    by_id = {m.alert_id: m for m in family}
    detected = detected_by(member, kind)
    speaking = [r for r in responses if _speaks_for(r, member, by_id)]
    renewed = any(
        r.response is ResponseKind.FALSE_POSITIVE and r.occurred_at < detected for r in speaking
    )
    return [
        r
        for r in speaking
        if r.alert_id == member.alert_id or not renewed or r.occurred_at >= detected
    ]


def latest_due(answers: Iterable[ResponseRecord]) -> datetime | None:
    """The `due_by` of the latest of `answers` (by `occurred_at`, then event id) that carries
    one."""
    latest = _latest(r for r in answers if r.due_by is not None)
    return None if latest is None else latest.due_by


def latest_owner(answers: Iterable[ResponseRecord]) -> str:
    """The owner named by the latest of `answers` (by `occurred_at`, then event id) that
    names one ("" when none does)."""
    latest = _latest(r for r in answers if r.owner)
    return "" if latest is None else latest.owner


def _latest(answers: Iterable[ResponseRecord]) -> ResponseRecord | None:
    return max(answers, key=lambda r: (r.occurred_at, r.event_id), default=None)


def decorate(
    alert: Alert,
    family: Sequence[str],
    responses: Sequence[ResponseRecord],
    series: Sequence[UnitWindowAggregate],
    config: LearningConfig,
    episodes: Sequence[tuple[datetime, datetime]] = (),
    dismissed: Collection[str] = (),
    answers: Sequence[ResponseRecord] = (),
) -> Alert:
    """`alert` as the book publishes it: its family, dismissal, whether it is answered, its
    due date and recovery verdict applied.

    `responses` are those matching any member of `family`; `dismissed` the members its
    `false_positive` answers dismiss (`dismissed_members`); `answers` those of `responses`
    that answer `alert` (`answers_of`); `episodes` the spans of the unit's alerts, left out of
    the pre-alert baseline.
    """
    if alert.status is AlertStatus.WITHDRAWN:
        return alert
    evidence = dict(alert.evidence)
    group: dict[str, Any] = {"id": family[0], "alerts": list(family)}
    if dismissed:
        group["dismissed"] = [m for m in family if m in dismissed]
    if answers:
        group["answered"] = True
    evidence["episode_group"] = group
    status = AlertStatus.DISMISSED if alert.alert_id in dismissed else alert.status
    acknowledged = (r.occurred_at for r in answers if r.response is ResponseKind.ACKNOWLEDGED)
    for key, moment in (
        ("first_answer", min((r.occurred_at for r in answers), default=None)),
        ("first_acknowledgement", min(acknowledged, default=None)),
        ("due_by", latest_due(answers)),
    ):
        if moment is not None:
            evidence[key] = moment.astimezone(UTC).isoformat()
    owner = latest_owner(answers)
    if owner:
        evidence["owner"] = owner
    if answers:
        given = sorted(answers, key=lambda r: (r.occurred_at, r.event_id))
        evidence["answered_by"] = [str(UUID(int=r.event_id)) for r in given]
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
