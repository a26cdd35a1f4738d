"""The alert book: findings become alert versions, and only changes are raised."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertKind, AlertStatus, Severity
from pipeline.core.detection import Finding
from pipeline.core.judge import AlertBook
from pipeline.core.windows import Window

T0 = datetime(2024, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)


def week(n: int) -> Window:
    return Window(T0 + n * WEEK, T0 + (n + 1) * WEEK)


def finding(start: int, end: int, *, ongoing: bool = True, unit: str = "ED") -> Finding:
    return Finding(
        kind=AlertKind.TARGET_EXPERIENCE_DIVERGENCE,
        org_id="RXA",
        unit_id=unit,
        first_window=week(start),
        last_window=week(end),
        detected_in=week(end),
        ongoing=ongoing,
        severity=Severity.MEDIUM,
        summary="ED met its 4-hour target while patients rated it worse.",
        evidence={"n": end - start + 1},
    )


class ScriptedDetector:
    """A fake detector that says what the test tells it to."""

    def __init__(self) -> None:
        self.unit: list[Finding] = []

    def units_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        return list(self.unit)

    def org_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        return []


def judge(book: AlertBook, minutes: int) -> list[tuple[str, AlertStatus, datetime]]:
    changes = book.judge({("RXA", "ED"): []}, [("RXA", "ED")], T0 + timedelta(minutes=minutes))
    return [(a.alert_id, a.status, a.window_end) for a in changes]


def test_an_episode_is_raised_once_then_updated_then_resolved() -> None:
    detector = ScriptedDetector()
    book = AlertBook(detector)
    detector.unit = [finding(3, 3)]
    (raised,) = judge(book, 1)
    assert raised[1] is AlertStatus.OPEN
    assert judge(book, 2) == []  # the same finding again: nothing to say
    detector.unit = [finding(3, 4)]
    (updated,) = judge(book, 3)
    assert updated[0] == raised[0] and updated[2] == week(4).end
    detector.unit = [finding(3, 4, ongoing=False)]
    (resolved,) = judge(book, 4)
    assert resolved[0] == raised[0] and resolved[1] is AlertStatus.RESOLVED


def test_an_episode_that_late_data_disproves_is_withdrawn_once() -> None:
    detector = ScriptedDetector()
    book = AlertBook(detector)
    detector.unit = [finding(3, 3)]
    (raised,) = judge(book, 1)
    detector.unit = []
    (withdrawn,) = judge(book, 2)
    assert withdrawn[:2] == (raised[0], AlertStatus.WITHDRAWN)
    assert judge(book, 3) == []


def test_an_episode_late_data_moves_is_withdrawn_naming_the_alert_in_its_place() -> None:
    """Seen from outside (twenty-fourth session): a revised target return shortened an
    answered episode, so its first week and id changed; the old alert was withdrawn as if
    'the condition was never there' and its answers led nowhere. The withdrawn version names
    the alerts found on its unit whose weeks overlap its own (`evidence.replaced_by`)."""
    detector = ScriptedDetector()
    book = AlertBook(detector)
    detector.unit = [finding(3, 6), finding(1, 1, unit="AMU")]
    raised = {a: s for a, s, _ in judge(book, 1)}
    detector.unit = [finding(5, 7), finding(9, 9), finding(1, 1, unit="AMU")]
    changes = book.judge({("RXA", "ED"): []}, [("RXA", "ED")], T0 + timedelta(minutes=2))
    (gone,) = [a for a in changes if a.status is AlertStatus.WITHDRAWN]
    (moved,) = [a for a in changes if a.window_start == week(5).start]
    assert gone.alert_id in raised and gone.evidence["replaced_by"] == [moved.alert_id]
    detector.unit = []  # no alert in its place: nothing named
    changes = book.judge({("RXA", "ED"): []}, [("RXA", "ED")], T0 + timedelta(minutes=3))
    assert all("replaced_by" not in a.evidence for a in changes if a.alert_id != gone.alert_id)


def test_a_restored_book_does_not_raise_again() -> None:
    detector = ScriptedDetector()
    detector.unit = [finding(3, 5)]
    first = AlertBook(detector)
    first.judge({("RXA", "ED"): []}, [("RXA", "ED")], T0)
    restarted = AlertBook(detector)
    restarted.restore(first.latest())
    assert judge(restarted, 10) == []


def test_versions_are_strictly_ordered_even_within_one_clock_tick() -> None:
    detector = ScriptedDetector()
    book = AlertBook(detector)
    detector.unit = [finding(1, 1)]
    (first,) = book.judge({}, [("RXA", "ED")], T0)
    detector.unit = [finding(1, 2)]
    (second,) = book.judge({}, [("RXA", "ED")], T0)
    assert second.detected_at > first.detected_at


def test_other_units_alerts_are_left_alone() -> None:
    detector = ScriptedDetector()
    book = AlertBook(detector)
    detector.unit = [finding(1, 1, unit="AMU")]
    book.judge({}, [("RXA", "AMU")], T0)
    detector.unit = []
    assert book.judge({}, [("RXA", "ED")], T0 + WEEK) == []
