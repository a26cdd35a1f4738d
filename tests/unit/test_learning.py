"""The learning loop: dismissal, unmatched responses, alert families, recovery verdicts and
incident revisions, each independent of arrival order."""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pipeline.core.aggregates import UnitWindowAggregate, UnitWindowState
from pipeline.core.alerts import Alert, AlertKind, AlertStatus, Severity, alert_id_for
from pipeline.core.detection import Finding
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.events import Harm, IncidentCategory, ResponseKind
from pipeline.core.judgements import digest
from pipeline.core.learning import ResponseRecord, episode_groups
from pipeline.core.recovery import LearningConfig, recovery
from pipeline.core.windows import Window
from tests.support.events import feedback, incident, raw, response

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday: ISO weeks start here
WEEK = timedelta(days=7)
NOW = datetime(2025, 1, 1, tzinfo=UTC)
KEY = b"test-key-0123456789abcdef"


def week(n: int) -> Window:
    return Window(T0 + n * WEEK, T0 + (n + 1) * WEEK)


def at(n: int, hours: int = 10) -> str:
    return (T0 + n * WEEK + timedelta(hours=hours)).isoformat()


class Scripted:
    """A detector that finds what the test says, on units that have closed windows."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings

    def units_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        return [f for series in units.values() for f in self.unit_findings(series)]

    def unit_findings(self, series: Sequence[UnitWindowAggregate]) -> list[Finding]:
        if not series:
            return []
        unit = (series[0].org_id, series[0].unit_id)
        last = series[-1].window.end
        return [
            f for f in self.findings if (f.org_id, f.unit_id) == unit and f.last_window.end <= last
        ]

    def org_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        return []


def finding(
    kind: AlertKind,
    first: int,
    last: int,
    unit: str = "ED",
    ongoing: bool = False,
    flagged: str = "",
) -> Finding:
    """Detected in its last window, as the real detectors record it in `evidence.episode`;
    `flagged` names the measure a rule flagged in its evidence (none: its kind's own)."""
    measures = {flagged: {"windows": [{"rule": "beyond_limit"}]}} if flagged else {}
    return Finding(
        kind=kind,
        org_id="RXA",
        unit_id=unit,
        first_window=week(first),
        last_window=week(last),
        detected_in=week(last),
        ongoing=ongoing,
        severity=Severity.MEDIUM,
        summary=f"{unit} looked worse.",
        evidence={
            "measures": measures,
            "episode": {"detected_in_window": week(last).start.isoformat()},
        },
    )


def id_of(f: Finding) -> str:
    return alert_id_for(f.kind, f.org_id, f.unit_id, f.first_window.start)


def run(messages: list[Any], detector: Scripted, batch: int = 5) -> Engine:
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), KEY, detector=detector)
    encoded = raw(*messages)
    for i in range(0, len(encoded), batch):
        engine.process(encoded[i : i + batch], NOW)
    engine.finish(NOW)
    return engine


def weekly_feedback(weeks: int, unit: str = "ED") -> list[dict[str, Any]]:
    return [feedback(unit_id=unit, occurred_at=at(n)) for n in range(weeks)]


def by_id(engine: Engine) -> dict[str, Alert]:
    return {a.alert_id: a for a in engine.alerts}


def test_false_positive_dismisses_the_alert_whichever_arrives_first() -> None:
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 4)
    answer = response(alert_id=id_of(signal), response="false_positive", occurred_at=at(1))
    events = weekly_feedback(8)
    orders = [[answer, *events], [*events, answer], [*events[:4], answer, *events[4:]]]
    for order in orders:
        engine = run(order, Scripted([signal]))
        assert by_id(engine)[id_of(signal)].status is AlertStatus.DISMISSED
        assert engine.unmatched_responses() == []


def test_a_response_before_its_alert_is_unmatched_until_the_alert_appears() -> None:
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 4)
    engine = Engine(EngineConfig(allowed_lateness=timedelta(0)), KEY, detector=Scripted([signal]))
    answer = response(alert_id=id_of(signal), response="acknowledged", occurred_at=at(0))
    engine.process(raw(answer, *weekly_feedback(2)), NOW)
    assert [r.alert_id for r in engine.unmatched_responses()] == [id_of(signal)]
    engine.process(raw(*weekly_feedback(8)[2:]), NOW)
    engine.finish(NOW)
    assert id_of(signal) in by_id(engine)
    assert engine.unmatched_responses() == []


def test_a_response_under_the_wrong_unit_or_to_no_alert_stays_unmatched() -> None:
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 4)
    wrong_unit = response(alert_id=id_of(signal), unit_id="AMU", response="false_positive")
    unknown = response(alert_id="saf-does-not-exist", response="false_positive")
    engine = run([*weekly_feedback(8), wrong_unit, unknown], Scripted([signal]))
    assert len(engine.unmatched_responses()) == 2
    assert by_id(engine)[id_of(signal)].status is AlertStatus.RESOLVED  # not dismissed


def test_overlapping_episodes_form_one_family_and_one_answer_covers_it() -> None:
    spot = finding(AlertKind.MASKED_DARK_SPOT, 2, 4)
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 6)
    later = finding(AlertKind.SAFETY_SIGNAL, 9, 9)
    answer = response(alert_id=id_of(signal), response="false_positive", occurred_at=at(7))
    engine = run([*weekly_feedback(12), answer], Scripted([spot, signal, later]))
    alerts = by_id(engine)
    family = alerts[id_of(spot)].evidence["episode_group"]
    assert family == alerts[id_of(signal)].evidence["episode_group"]
    members = [id_of(spot), id_of(signal)]
    assert family == {"id": id_of(spot), "alerts": members, "dismissed": members, "answered": True}
    assert alerts[id_of(later)].evidence["episode_group"]["id"] == id_of(later)
    assert alerts[id_of(spot)].status is AlertStatus.DISMISSED
    assert alerts[id_of(later)].status is AlertStatus.RESOLVED  # a later episode is new


def in_any_order(
    events: list[dict[str, Any]], detector: Scripted, seed: int
) -> list[dict[str, Alert]]:
    """The final alerts of `events` in their order, reversed and shuffled, in batches of 1, 3,
    7 and all of them: each must be the same."""
    rng = random.Random(seed)
    runs = []
    for size in (1, 3, 7, len(events)):
        shuffled = list(events)
        rng.shuffle(shuffled)
        for order in (events, shuffled, shuffled[::-1]):
            runs.append(by_id(run(order, detector, batch=size)))
    return runs


def test_a_false_positive_never_dismisses_a_member_detected_after_it() -> None:
    """Seen from outside (nineteenth session): a `false_positive` for a masked dark spot
    dismissed a later safety signal on the same unit that joined its family by overlapping.
    An answer says nothing of an alert that did not exist yet: it dismisses the member it names
    and the members detected (event time: their detected-in window closed) by its
    `occurred_at`; a later member stays open and says an earlier member was dismissed."""
    spot = finding(AlertKind.MASKED_DARK_SPOT, 2, 4)  # detected as week 4 closed (T0 + 5w)
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 8, ongoing=True)  # detected at T0 + 9w
    answer = response(alert_id=id_of(spot), response="false_positive", occurred_at=at(6))
    members = [id_of(spot), id_of(signal)]
    for alerts in in_any_order([*weekly_feedback(10), answer], Scripted([spot, signal]), 19):
        assert alerts[id_of(spot)].status is AlertStatus.DISMISSED
        assert alerts[id_of(signal)].status is AlertStatus.OPEN
        group = {"id": id_of(spot), "alerts": members, "dismissed": [id_of(spot)]}
        assert alerts[id_of(signal)].evidence["episode_group"] == group  # nobody answered it
        assert alerts[id_of(spot)].evidence["episode_group"] == {**group, "answered": True}


def test_a_false_positive_dismisses_the_members_detected_by_its_time() -> None:
    """Detected at or before the answer (here: exactly as it was given) is dismissed; the
    member the answer names is dismissed whenever it was detected."""
    spot = finding(AlertKind.MASKED_DARK_SPOT, 2, 4)
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 8, ongoing=True)
    members = [id_of(spot), id_of(signal)]
    at_detection = (T0 + 9 * WEEK).isoformat()  # week 8 closes
    on_time = response(alert_id=id_of(spot), response="false_positive", occurred_at=at_detection)
    named_early = response(alert_id=id_of(signal), response="false_positive", occurred_at=at(6))
    for answer in (on_time, named_early):
        events = [*weekly_feedback(10), answer]
        for alerts in in_any_order(events, Scripted([spot, signal]), 7):
            assert {alerts[m].status for m in members} == {AlertStatus.DISMISSED}
            assert alerts[id_of(signal)].evidence["episode_group"]["dismissed"] == members
    just_before = (T0 + 9 * WEEK - timedelta(microseconds=1)).isoformat()
    early = response(alert_id=id_of(spot), response="false_positive", occurred_at=just_before)
    alerts = by_id(run([*weekly_feedback(10), early], Scripted([spot, signal])))
    assert alerts[id_of(signal)].status is AlertStatus.OPEN  # a microsecond too early


def test_a_false_positive_says_nothing_of_the_familys_alerts_on_other_measures() -> None:
    """Seen from outside (twenty-fifth session): a `false_positive` for a dark spot in the
    patient feedback dismissed a high safety signal of its family (harm), detected before it,
    with an action, owner and due date pending. A false positive dismisses, and answers, only
    the family's members raised on a measure the one it names was raised on; the family's
    other answers still cover every member."""
    spot = finding(AlertKind.MASKED_DARK_SPOT, 2, 4, flagged="negative_share")
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 4)  # detected as week 4 closed, like the spot
    harm_spot = finding(
        AlertKind.MASKED_DARK_SPOT, 2, 4, unit="AMU", flagged="harmful_incident_rate"
    )
    harm_signal = finding(AlertKind.SAFETY_SIGNAL, 3, 4, unit="AMU")
    seen = _answer(id_of(spot), "acknowledged", at(5), 1)
    chance = _answer(id_of(spot), "false_positive", at(6), 2)
    harm_chance = _answer(id_of(harm_spot), "false_positive", at(6), 3, unit_id="AMU")
    events = [*weekly_feedback(10), *weekly_feedback(10, "AMU"), seen, chance, harm_chance]
    detector = Scripted([spot, signal, harm_spot, harm_signal])
    for alerts in in_any_order(events, detector, 17):
        assert alerts[id_of(spot)].status is AlertStatus.DISMISSED
        assert alerts[id_of(signal)].status is AlertStatus.RESOLVED  # its episode ended
        assert alerts[id_of(signal)].evidence["answered_by"] == [str(uuid.UUID(int=1))]
        assert alerts[id_of(signal)].evidence["episode_group"]["dismissed"] == [id_of(spot)]
        # a dark spot in the harm rate judged chance says the same of the harm signal
        assert alerts[id_of(harm_signal)].status is AlertStatus.DISMISSED
        assert alerts[id_of(harm_spot)].status is AlertStatus.DISMISSED
    alone = [*weekly_feedback(10), chance]
    alerts = by_id(run(alone, Scripted([spot, signal])))
    assert "answered" not in alerts[id_of(signal)].evidence["episode_group"]  # nobody answered it


def test_the_due_date_is_the_latest_answers_not_the_furthest() -> None:
    """Seen from outside (nineteenth session): an answer on 5 Apr due 12 Apr after one on 3 Apr
    due 30 Jun left the alert not overdue (the furthest date won). The alert's `due_by` is its
    latest answer's that carries one (by `occurred_at`, then event id), whatever the order."""
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 8, ongoing=True)
    alert_id = id_of(signal)

    def answer(when: str, due: str | None, event: int) -> dict[str, Any]:
        fields = {"due_by": due} if due else {}
        event_id = str(uuid.UUID(int=event))
        return response(alert_id=alert_id, response="investigating", occurred_at=when,
                        event_id=event_id, **fields)  # fmt: skip

    far, soon, tie = (T0 + d * WEEK for d in (30, 12, 14))
    answers = [
        answer(at(9), far.isoformat(), 5),
        answer(at(9, 48), soon.isoformat(), 3),
        answer(at(9, 60), None, 9),  # a later answer without a date leaves the date
    ]
    for alerts in in_any_order([*weekly_feedback(10), *answers], Scripted([signal]), 5):
        assert alerts[alert_id].evidence["due_by"] == soon.isoformat()
        assert alerts[alert_id].status is AlertStatus.OPEN
    ties = [answer(at(9, 48), tie.isoformat(), 4), answer(at(9, 48), far.isoformat(), 2)]
    for alerts in in_any_order([*weekly_feedback(10), *answers, *ties], Scripted([signal]), 6):
        assert alerts[alert_id].evidence["due_by"] == tie.isoformat()  # the larger event id
    offset = timezone(timedelta(hours=2))
    local = answer(at(9, 70), soon.astimezone(offset).isoformat(), 11)
    alerts = by_id(run([*weekly_feedback(10), local], Scripted([signal])))
    assert alerts[alert_id].evidence["due_by"] == soon.isoformat()  # written in UTC
    alerts = by_id(run(weekly_feedback(10), Scripted([signal])))
    assert "due_by" not in alerts[alert_id].evidence


def _answer(alert_id: str, kind: str, when: str, event: int, **fields: Any) -> dict[str, Any]:
    return response(alert_id=alert_id, response=kind, occurred_at=when,
                    event_id=str(uuid.UUID(int=event)), **fields)  # fmt: skip


def _dismissed_before_the_signal() -> tuple[str, str, list[dict[str, Any]], Scripted]:
    """A masked dark spot (detected at T0 + 5w) acknowledged in week 5 and answered
    `false_positive` in week 6, and a safety signal of its family detected at T0 + 9w: their
    ids, the events and the detector."""
    spot = finding(AlertKind.MASKED_DARK_SPOT, 2, 4)
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 8, ongoing=True)
    spot_id, signal_id = id_of(spot), id_of(signal)
    seen = _answer(spot_id, "acknowledged", at(5), 1)
    dismissed = _answer(spot_id, "false_positive", at(6), 2)
    return spot_id, signal_id, [*weekly_feedback(10), seen, dismissed], Scripted([spot, signal])


def test_a_member_detected_after_a_false_positive_is_not_answered_by_it() -> None:
    """Seen last session: the safety teams' precision counted a family member detected after
    a `false_positive` as answered (and so as a true alert), though nobody had answered it.
    The core says which alerts an answer covers (`episode_group.answered`): a member's own
    answers, and its family's unless a false positive came before it was detected (then only
    those given since)."""
    spot_id, signal_id, events, detector = _dismissed_before_the_signal()
    for alerts in in_any_order(events, detector, 23):
        assert alerts[spot_id].evidence["episode_group"]["answered"] is True
        assert "answered" not in alerts[signal_id].evidence["episode_group"]
    later = _answer(spot_id, "investigating", at(9, 30), 3)  # given once the signal was seen
    for alerts in in_any_order([*events, later], detector, 29):
        assert alerts[signal_id].evidence["episode_group"]["answered"] is True
    before = _answer(signal_id, "acknowledged", at(4), 4)
    alerts = by_id(run([*weekly_feedback(10), before], detector))
    assert {alerts[m].evidence["episode_group"]["answered"] for m in (spot_id, signal_id)} == {
        True  # no false positive: one answer covers its family, members detected later too
    }


def test_a_member_detected_after_a_false_positive_is_first_answered_after_it() -> None:
    """The first answer (and first acknowledgement) of an alert is the earliest of the answers
    that answer it, as `episode_group.answered` counts them: a member detected after its
    family's false positive is not first answered by the answers before that (Grafana's
    "Every alert" table showed the family's first answer for it)."""
    spot_id, signal_id, events, detector = _dismissed_before_the_signal()
    for alerts in in_any_order(events, detector, 37):
        assert alerts[spot_id].evidence["first_answer"] == at(5)
        assert alerts[spot_id].evidence["first_acknowledgement"] == at(5)
        assert "first_answer" not in alerts[signal_id].evidence
    later = _answer(spot_id, "investigating", at(9, 30), 3)
    own = _answer(signal_id, "acknowledged", at(9, 40), 4)
    for alerts in in_any_order([*events, later, own], detector, 41):
        assert alerts[signal_id].evidence["first_answer"] == at(9, 30)
        assert alerts[signal_id].evidence["first_acknowledgement"] == at(9, 40)
        assert alerts[spot_id].evidence["first_answer"] == at(5)  # the family's, all of them


def test_what_was_done_about_an_alert_is_the_answers_that_answer_it() -> None:
    """`evidence.answered_by`: the event ids of the answers that answer an alert, in the order
    given, so the report and Grafana list what was done from the core's one decision (Grafana
    listed a family's answers before a false positive for a member detected after it)."""
    spot_id, signal_id, events, detector = _dismissed_before_the_signal()
    ids = [str(uuid.UUID(int=n)) for n in range(5)]
    for alerts in in_any_order(events, detector, 43):
        assert alerts[spot_id].evidence["answered_by"] == ids[1:3]
        assert "answered_by" not in alerts[signal_id].evidence
    later = _answer(spot_id, "investigating", at(9, 30), 3)
    own = _answer(signal_id, "acknowledged", at(9, 30), 4)  # given at the same moment
    for alerts in in_any_order([*events, own, later], detector, 47):
        assert alerts[signal_id].evidence["answered_by"] == ids[3:5]
        assert alerts[spot_id].evidence["answered_by"] == ids[1:5]


def test_the_due_date_is_the_familys_latest_answers() -> None:
    """One problem, one date: an answer to one member due 12 weeks in, then one to another
    member due 20 weeks in, leave every member due in 20 weeks (before, the first member kept
    its own answer's date and showed as overdue after week 12). A member detected after a
    false positive takes no date from the answers before its detection."""
    spot = finding(AlertKind.MASKED_DARK_SPOT, 2, 4)
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 8, ongoing=True)
    spot_id, signal_id = id_of(spot), id_of(signal)
    soon, later = T0 + 12 * WEEK, T0 + 20 * WEEK
    answers = [
        _answer(spot_id, "investigating", at(9, 20), 1, due_by=soon.isoformat()),
        _answer(signal_id, "action_taken", at(9, 40), 2, due_by=later.isoformat()),
    ]
    for alerts in in_any_order([*weekly_feedback(10), *answers], Scripted([spot, signal]), 31):
        assert {alerts[m].evidence["due_by"] for m in (spot_id, signal_id)} == {later.isoformat()}
    early = [
        _answer(spot_id, "investigating", at(5), 1, due_by=soon.isoformat()),
        _answer(spot_id, "false_positive", at(6), 2),
    ]
    alerts = by_id(run([*weekly_feedback(10), *early], Scripted([spot, signal])))
    assert alerts[spot_id].evidence["due_by"] == soon.isoformat()
    assert "due_by" not in alerts[signal_id].evidence


def test_the_owner_is_the_familys_latest_named_one_ties_broken_by_event_id() -> None:
    """Seen last session: Grafana's owner column took the latest owner by time alone, so two
    answers in the same second showed either. The core decides it once, as it does the due
    date: the owner named by the latest answer that names one (by `occurred_at`, then event
    id) of those that answer the alert, stored as `evidence.owner` for every view to read."""
    spot = finding(AlertKind.MASKED_DARK_SPOT, 2, 4)
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 8, ongoing=True)
    spot_id, signal_id = id_of(spot), id_of(signal)
    answers = [
        _answer(spot_id, "investigating", at(9, 20), 7, owner="matron"),
        _answer(signal_id, "investigating", at(9, 20), 9, owner="ward-manager"),
        _answer(signal_id, "action_taken", at(9, 30), 1),  # names nobody: the owner stays
    ]
    for alerts in in_any_order([*weekly_feedback(10), *answers], Scripted([spot, signal]), 37):
        assert {alerts[m].evidence["owner"] for m in (spot_id, signal_id)} == {"ward-manager"}
    alerts = by_id(run(weekly_feedback(10), Scripted([spot, signal])))
    assert "owner" not in alerts[spot_id].evidence


def test_a_changed_owner_changes_the_judgement_digest() -> None:
    """The owner now decides what an alert says (`evidence.owner`): a restore whose ledger
    holds another owner must judge again; a response naming none digests as before."""
    record = ResponseRecord(1, "RXA", "ED", "saf-1", ResponseKind.INVESTIGATING, T0)
    named = dataclasses.replace(record, owner="matron")
    other = dataclasses.replace(record, owner="ward-manager")
    assert len({digest({}, [r], "rules") for r in (record, named, other)}) == 3


def test_a_changed_due_date_changes_the_judgement_digest() -> None:
    """The due date now decides what an alert says (`evidence.due_by`), so a restore whose
    ledger holds another due date must judge again."""
    record = ResponseRecord(
        1, "RXA", "ED", "saf-1", ResponseKind.INVESTIGATING, T0, due_by=T0 + WEEK
    )
    moved = dataclasses.replace(record, due_by=T0 + 2 * WEEK)
    undated = dataclasses.replace(record, due_by=None)
    digests = {digest({}, [r], "rules") for r in (record, moved, undated)}
    assert len(digests) == 3


def test_episode_groups_ignore_withdrawn_and_other_units() -> None:
    def alert(first: int, last: int, unit: str, status: AlertStatus) -> Alert:
        f = finding(AlertKind.SAFETY_SIGNAL, first, last, unit)
        return Alert(
            alert_id=f"{unit}-{first}",
            kind=f.kind,
            org_id="RXA",
            unit_id=unit,
            window_start=week(first).start,
            window_end=week(last).end,
            severity=Severity.LOW,
            summary="s",
            evidence={},
            detected_at=NOW,
            status=status,
        )

    groups = episode_groups(
        [
            alert(1, 3, "ED", AlertStatus.OPEN),
            alert(2, 2, "ED", AlertStatus.WITHDRAWN),
            alert(3, 5, "AMU", AlertStatus.OPEN),
            alert(4, 4, "ED", AlertStatus.OPEN),
        ]
    )
    assert groups == {"ED-1": ["ED-1"], "ED-4": ["ED-4"], "AMU-3": ["AMU-3"]}


def test_incident_revisions_supersede_in_any_order() -> None:
    first = incident(report_ref="DATIX-7", revision=1, harm="none", occurred_at=at(1))
    second = incident(report_ref="DATIX-7", revision=2, harm="severe", occurred_at=at(3))
    third = incident(report_ref="DATIX-7", revision=3, harm="moderate", occurred_at=at(3, 12))
    other = incident(harm="low", occurred_at=at(1))
    events = [first, second, third, other, *weekly_feedback(6)]

    def final(order: list[dict[str, Any]], size: int) -> dict[datetime, tuple[int, ...]]:
        engine = Engine(EngineConfig(), KEY)
        latest: dict[datetime, UnitWindowAggregate] = {}
        encoded = raw(*order)
        for i in range(0, len(encoded), size):
            for w in engine.process(encoded[i : i + size], NOW).windows:
                if (
                    w.window.start not in latest
                    or w.contributions >= latest[w.window.start].contributions
                ):
                    latest[w.window.start] = w
        return {start: w.incidents_by_harm for start, w in latest.items()}

    expected = final(events, len(events))
    assert expected[week(1).start] == (0, 1, 0, 0, 0)  # revision 1 retracted
    assert expected[week(3).start] == (0, 0, 1, 0, 0)  # revision 3 counts, 2 does not
    rng = random.Random(4)
    for size in (1, 2, 3):
        shuffled = list(events)
        rng.shuffle(shuffled)
        assert final(shuffled, size) == expected
        assert final(shuffled[::-1], size) == expected


def series(values: list[tuple[int, int, int]], no_harm: int = 0) -> list[UnitWindowAggregate]:
    """Weekly aggregates from (negative ratings, positive ratings, harmful incidents), and
    `no_harm` incidents without harm every week."""
    out = []
    for n, (negative, positive, harmful) in enumerate(values):
        state = UnitWindowState("RXA", "ED", week(n))
        for _ in range(no_harm):
            state.add_incident(Harm.NONE, IncidentCategory.FALL)
        for _ in range(negative):
            state.add_feedback(5)
        for _ in range(positive):
            state.add_feedback(1)
        for _ in range(harmful):
            state.add_incident(Harm.MODERATE, IncidentCategory.FALL)
        out.append(state.snapshot())
    return out


def dark_spot(first: int, last: int, measure: str) -> Alert:
    return Alert(
        alert_id="mas-1",
        kind=AlertKind.MASKED_DARK_SPOT,
        org_id="RXA",
        unit_id="ED",
        window_start=week(first).start,
        window_end=week(last).end,
        severity=Severity.HIGH,
        summary="s",
        evidence={"measures": {measure: {"windows": [{"rule": "beyond_limit"}]}}},
        detected_at=NOW,
    )


QUIET = [
    (2, 18, 3),
    (3, 17, 4),
    (2, 18, 2),
    (1, 19, 3),
    (2, 18, 4),
    (3, 17, 3),
    (2, 18, 3),
    (2, 18, 4),
]
EPISODE = [(12, 8, 3), (11, 9, 4)]


@pytest.mark.parametrize(
    ("after", "verdict"),
    [
        (QUIET[:6], "improved"),  # back at its pre-alert level: not judged against the peak
        ([(10, 10, 3)] * 6, "worse"),
        ([(2, 18, 3)] * 3, "no_change_yet"),  # too few windows since the action to rebase
    ],
)
def test_recovery_is_judged_against_the_pre_alert_baseline(
    after: list[tuple[int, int, int]], verdict: str
) -> None:
    windows = series(QUIET + EPISODE + after)
    alert = dark_spot(8, 9, "negative_share")
    judged = recovery(alert, week(10).start, windows, LearningConfig())
    assert judged["verdict"] == verdict
    assert list(judged["measures"]) == ["feedback"]


def test_recovery_reads_the_alerts_own_measure() -> None:
    """A feedback alert whose feedback came back is improved, even while harm rose; a harm
    alert on the same windows is worse."""
    after = [(2, 18, 30)] * 6
    windows = series(QUIET + EPISODE + after)
    feedback_alert = dark_spot(8, 9, "negative_share")
    harm_alert = dark_spot(8, 9, "harmful_incident_rate")
    action = week(10).start
    assert recovery(feedback_alert, action, windows, LearningConfig())["verdict"] == "improved"
    assert recovery(harm_alert, action, windows, LearningConfig())["verdict"] == "worse"


def silence(first: int, last: int) -> Alert:
    return dark_spot(first, last, "").model_copy(
        update={"alert_id": "sil-1", "kind": AlertKind.REPORTING_SILENCE, "evidence": {}}
    )


@pytest.mark.parametrize(
    ("reports", "verdict"), [(1, "worse"), (8, "improved"), (5, "no_change_yet")]
)
def test_a_reporting_silence_recovers_when_its_reports_come_back(
    reports: int, verdict: str
) -> None:
    """Seen here (twenty-sixth session): a reporting silence was judged after an action on
    harm and feedback, so a silence that went on (reports still at a trickle, and so harm
    "below its baseline") read "improved". It is judged on every incident report, fewer
    being the concern: still silent is worse, back at its usual level is improved."""
    usual = [(2, 18, 8)] * 10
    silent = [(2, 18, 1)] * 3
    windows = series(usual + silent + [(2, 18, reports)] * 6)
    judged = recovery(silence(10, 12), week(13).start, windows, LearningConfig())
    assert list(judged["measures"]) == ["reporting"]
    assert judged["measures"]["reporting"]["baseline"] == 8.0
    assert judged["verdict"] == verdict


def test_the_action_time_is_written_in_utc_whatever_the_responses_offset() -> None:
    """The same instant gives the same evidence text, from a response carrying its own offset
    (a fresh replay) or from the stored one read back in UTC (a restart or a split replay)."""
    windows = series(QUIET + EPISODE + [(2, 18, 0)] * 6)
    alert = dark_spot(8, 9, "negative_share")
    action = week(10).start + timedelta(hours=13)
    in_london = action.astimezone(timezone(timedelta(hours=1)))
    from_response = recovery(alert, in_london, windows, LearningConfig())
    restored = recovery(alert, action, windows, LearningConfig())
    assert from_response["action_at"] == restored["action_at"] == action.isoformat()
    assert action.isoformat().endswith("+00:00")


def test_an_action_taken_puts_a_recovery_verdict_on_the_alert() -> None:
    signal = finding(AlertKind.SAFETY_SIGNAL, 3, 4)
    action = response(alert_id=id_of(signal), response="action_taken", occurred_at=at(5, 1))
    note = "Spoke to Mrs Jane Smith about 943 476 5919"
    noted = response(alert_id=id_of(signal), response="investigating", note=note)
    engine = run([*weekly_feedback(10), action, noted], Scripted([signal]))
    alert = by_id(engine)[id_of(signal)]
    assert alert.evidence["recovery"]["action_at"] == at(5, 1)
    assert alert.evidence["recovery"]["measures"].keys() == {"harm"}
    text = json.dumps(alert.model_dump(mode="json"))
    assert "Jane" not in text and "5919" not in text and "NHS-NUMBER" not in text


def test_weeks_with_nothing_reported_do_not_lower_the_pre_alert_baseline() -> None:
    """Seen from outside (twenty-fourth session): a target return reaching back before the
    unit's data made weeks with nothing reported, counted as weeks without harm, so "Did it
    work?" read a harm baseline of 0.9 a week where every reported week had 1."""
    quiet = [(2, 18, 1)] * 10
    windows = series([(0, 0, 0)] * 6 + quiet + EPISODE + quiet[:6])
    alert = dark_spot(16, 17, "harmful_incident_rate")
    judged = recovery(alert, week(18).start, windows, LearningConfig())
    harm = judged["measures"]["harm"]
    assert harm["baseline"] == 1.0 and harm["baseline_windows"] == 10


def test_an_earlier_episode_does_not_lift_the_pre_alert_baseline() -> None:
    earlier = [(2, 18, 30), (3, 17, 28)]
    windows = series(QUIET[:4] + earlier + QUIET[4:] + EPISODE + QUIET[:6])
    alert = dark_spot(10, 11, "harmful_incident_rate")
    action = week(12).start
    lifted = recovery(alert, action, windows, LearningConfig())
    spans = [(week(4).start, week(5).end), (week(10).start, week(11).end)]
    fair = recovery(alert, action, windows, LearningConfig(), spans)
    quiet_mean = sum(h for _, _, h in QUIET) / len(QUIET)
    assert fair["measures"]["harm"]["baseline"] == pytest.approx(quiet_mean, abs=1e-4)
    assert lifted["measures"]["harm"]["baseline"] > quiet_mean + 4
    assert fair["verdict"] == "improved"


def test_less_harm_is_no_improvement_when_the_unit_stopped_reporting() -> None:
    """A safety signal's "Did it work?" read "improved" when harmful incidents fell after the
    action because the unit had stopped reporting altogether (a fall in reporting is a warning
    sign, never good news): the harm verdict waits, and reporting's own fall is shown."""
    usual = [(2, 18, 3)] * 10
    windows = series(usual + [(2, 18, 9)] * 2 + [(2, 18, 0)] * 6)
    signal = dark_spot(10, 11, "harmful_incident_rate")
    judged = recovery(signal, week(12).start, windows, LearningConfig())
    harm = judged["measures"]["harm"]
    assert harm["verdict"] == "no_change_yet" and "reporting fell" in harm["reason"]
    assert judged["measures"]["reporting"]["verdict"] == "worse"
    assert judged["verdict"] == "worse"
    # harm down while the unit still reports its no-harm incidents: improved
    still = series(usual + [(2, 18, 9)] * 2) + series([(2, 18, 1)] * 18, no_harm=2)[12:]
    judged = recovery(signal, week(12).start, still, LearningConfig())
    assert judged["verdict"] == "improved" and "reporting" not in judged["measures"]
