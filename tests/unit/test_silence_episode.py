"""A `reporting_silence` episode through the engine, judged week by week as a caught-up worker
judges: it stays open while the unit's reports stay low, although each signal restarts the
silence CUSUM and the weeks after it are flagged only by the next signal, and it resolves once
reporting is back; while it is open, the stored verdicts of its weeks say what the alert says."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.core.alerts import Alert, AlertKind, AlertStatus
from pipeline.core.detection.verdicts import INCIDENT_REPORTING, Verdict, VerdictClass
from pipeline.core.engine import Engine, EngineConfig
from tests.support.events import feedback, incident, metric, raw

KEY = b"test-key-0123456789abcdef"
START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
STOPS = 30  # the week the unit's incident reports stop
WEEKS = STOPS + 24


def _week(rng: random.Random, week: int, reports: int) -> Iterator[dict[str, Any]]:
    """One week of a steadily active unit: its weekly activity return, 30 to 40 feedback
    ratings, and `reports` incident reports."""
    monday = START + timedelta(weeks=week)

    def at() -> str:
        return (monday + timedelta(seconds=rng.randrange(7 * 86400))).isoformat()

    attendances = rng.randint(900, 1000)
    yield metric(
        occurred_at=(monday + timedelta(days=7, seconds=-1)).isoformat(),
        period_start=monday.isoformat(),
        period_end=(monday + timedelta(days=7)).isoformat(),
        numerator=round(attendances * 0.96),
        denominator=attendances,
    )
    for _ in range(rng.randint(30, 40)):
        yield feedback(occurred_at=at(), rating=rng.choice((1, 1, 2, 3)))
    for _ in range(reports):
        yield incident(occurred_at=at(), harm="none")


def _silence_versions(silent: range, seed: int) -> list[Alert]:
    """The `reporting_silence` versions the engine raises, fed one week at a time."""
    rng = random.Random(seed)
    engine = Engine(EngineConfig(), KEY)
    versions = []
    for week in range(WEEKS):
        reports = 0 if week in silent else rng.choice((4, 5, 5, 6, 6, 7))
        now = START + timedelta(weeks=week + 1, days=1)
        result = engine.process(raw(*_week(rng, week, reports)), now)
        versions += [a for a in result.alerts if a.kind is AlertKind.REPORTING_SILENCE]
    return versions


def test_a_unit_that_stops_reporting_for_good_raises_one_silence_that_stays_open() -> None:
    for seed in range(3):
        versions = _silence_versions(range(STOPS, WEEKS), seed)
        assert len({v.alert_id for v in versions}) == 1
        assert all(v.status is AlertStatus.OPEN for v in versions)
        # A new version only as a signal flags more weeks (an update of the open alert, which
        # Alertmanager does not notify again), each reaching later, and the latest reaches
        # the last weeks judged.
        ends = [v.window_end for v in versions]
        assert ends == sorted(set(ends))
        assert ends[-1] >= START + timedelta(weeks=WEEKS - 4)


def test_a_silence_resolves_once_reporting_returns() -> None:
    for seed in range(3):
        versions = _silence_versions(range(STOPS, STOPS + 10), seed)
        assert len({v.alert_id for v in versions}) == 1
        assert versions[-1].status is AlertStatus.RESOLVED
        assert sum(v.status is AlertStatus.RESOLVED for v in versions) == 1


def test_every_week_of_an_open_silence_has_a_reporting_concern_verdict() -> None:
    # The weeks after a signal lean towards silence but are flagged only by the next signal;
    # the alert stays open through them, and so their stored reporting verdict is the
    # alert's concern, never common cause; so is their harm rate's (fewer harmful incidents
    # reported because none are reported is not safer care).
    for seed in range(3):
        rng = random.Random(seed)
        engine = Engine(EngineConfig(), KEY)
        stored: dict[datetime, Verdict] = {}
        harm: dict[datetime, Verdict] = {}
        first_flagged: datetime | None = None
        checked = 0
        for week in range(WEEKS):
            reports = 0 if week >= STOPS else rng.choice((4, 5, 5, 6, 6, 7))
            now = START + timedelta(weeks=week + 1, days=1)
            result = engine.process(raw(*_week(rng, week, reports)), now)
            for row in result.verdicts:
                if row.verdict.measure == INCIDENT_REPORTING:
                    stored[row.verdict.window.start] = row.verdict
                elif row.verdict.measure == "harmful_incident_rate":
                    harm[row.verdict.window.start] = row.verdict
            flagged = [s for s, v in stored.items() if v.rule == "cusum"]
            if first_flagged is None and flagged:
                first_flagged = min(flagged)
            if first_flagged is None:
                continue
            silent = [v for s, v in sorted(stored.items()) if s >= first_flagged]
            silent += [v for s, v in harm.items() if s >= first_flagged]
            assert all(v.verdict is VerdictClass.REPORTING_CONCERN for v in silent), (seed, week)
            checked += stored[max(stored)].rule != "cusum"
        assert first_flagged is not None and first_flagged >= START + timedelta(weeks=STOPS)
        assert checked, "no latest judged week waited for a signal: nothing was tried"
