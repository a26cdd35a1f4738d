"""The stored verdicts are always the core's latest judgement (pipeline.core.verdict_book),
restarts included: what storage keeps (the highest version per unit, measure and window,
withdrawn rows left out, as `FINAL` reads it) equals `org_verdicts` of the closed windows."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.adapters.alert_topic import KafkaRoute
from pipeline.adapters.metrics import PipelineMetrics
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.verdicts import INCIDENT_REPORTING, Verdict, VerdictClass, org_verdicts
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.verdict_book import MEASURES, VerdictBook, VerdictRow
from pipeline.runtime.routing import Routes
from pipeline.runtime.step import RetryPolicy, Step
from tests.support.events import feedback, incident, metric, raw
from tests.support.memory_store import MemoryStore
from tests.support.series import organisation

NOW = datetime(2030, 1, 1, tzinfo=UTC)
MONDAY = datetime(2024, 1, 1, tzinfo=UTC)
LATE = 14  # the week whose activity return arrives late, after the restart
Key = tuple[str, str, str, datetime]


def _stored(rows: list[VerdictRow]) -> dict[Key, Verdict]:
    """What a ReplacingMergeTree(version) read with FINAL keeps, withdrawn rows left out: per
    key the row of the highest version, later rows winning ties."""
    kept: dict[Key, VerdictRow] = {}
    for row in rows:
        v = row.verdict
        key = (v.org_id, v.unit_id, v.measure, v.window.start)
        if key not in kept or row.version >= kept[key].version:
            kept[key] = row
    return {k: r.verdict for k, r in kept.items() if r.verdict.verdict is not VerdictClass.WITHDRAWN}


def _judged(engine: Engine) -> dict[Key, Verdict]:
    units = {unit: s for (org, unit), s in engine.closed_series().items() if org == "RXA"}
    return {
        (v.org_id, v.unit_id, v.measure, v.window.start): v
        for v in org_verdicts(units, DetectionConfig())
    }


def _week(week: int, rng: random.Random, *, activity: int | None = 1000) -> list[dict[str, Any]]:
    """A week of the ED: ~30 ratings, ~12 incidents and (unless None) its activity return."""
    monday = MONDAY + timedelta(weeks=week)

    def at(hours: float) -> str:
        return (monday + timedelta(hours=hours)).isoformat()

    events = [
        feedback(occurred_at=at(rng.uniform(1, 160)), rating=rng.choice((1, 1, 1, 2, 2, 3, 4)))
        for _ in range(rng.randint(25, 35))
    ]
    events += [
        incident(occurred_at=at(rng.uniform(1, 160)), harm=rng.choice(("none", "none", "low")))
        for _ in range(rng.randint(9, 15))
    ]
    if activity is not None:
        events.append(_return(week, activity))
    return events


def _return(week: int, activity: int) -> dict[str, Any]:
    start = MONDAY + timedelta(weeks=week)
    return metric(
        occurred_at=(start + timedelta(days=8)).isoformat(),
        period_start=start.isoformat(),
        period_end=(start + timedelta(weeks=1)).isoformat(),
        numerator=round(activity * 0.96),
        denominator=activity,
    )


def _step(store: MemoryStore) -> Step:
    kafka = KafkaRoute(lambda records: None, alerts_topic="a", dead_letter_topic="d")
    return Step(
        lambda: Engine(EngineConfig(), b"unit-test-key-0123456789"),
        store,
        metrics=PipelineMetrics(),
        routes=Routes(kafka, None),
        retry=RetryPolicy(initial=0.001, maximum=0.004),
        clock=lambda: NOW,
    )


def test_a_verdict_stored_before_a_restart_is_withdrawn_when_a_later_judgement_drops_it() -> None:
    """Week 14's activity return is late: judged on the usual exposure, its incident reporting
    gets a verdict and is stored. After a restart the return arrives: a tenth of the usual
    activity, so activity did not hold and reporting is not judged that week. The book of the
    restarted worker never handed that verdict out, yet storage must not keep it."""
    rng = random.Random(3)
    before = [e for w in range(20) for e in _week(w, rng, activity=None if w == LATE else 1000)]
    store = MemoryStore()
    first = _step(store)
    first.process(raw(*before), {}, "t1")
    key = ("RXA", "ED", INCIDENT_REPORTING, MONDAY + timedelta(weeks=LATE))
    assert key in _stored(store.verdicts), "judged on the usual exposure before the restart"

    restarted = _step(store)
    restarted.restore()
    after = [_return(LATE, 100), *(e for w in range(20, 24) for e in _week(w, rng))]
    restarted.process(raw(*after), {}, "t2")

    judged = _judged(restarted.engine)
    assert key not in judged, "a tenth of the usual activity: reporting is not judged that week"
    assert _stored(store.verdicts) == judged


def test_after_a_restart_storage_equals_the_judgement_of_an_uninterrupted_run() -> None:
    rng = random.Random(5)
    weeks = [_week(w, rng, activity=None if w == LATE else 1000) for w in range(24)]
    late = _return(LATE, 100)
    whole = MemoryStore()
    uninterrupted = _step(whole)
    uninterrupted.process(raw(*(e for w in weeks[:20] for e in w)), {}, "t1")
    uninterrupted.process(raw(late, *(e for w in weeks[20:] for e in w)), {}, "t2")

    store = MemoryStore()
    _step(store).process(raw(*(e for w in weeks[:20] for e in w)), {}, "t1")
    restarted = _step(store)
    restarted.restore()
    restarted.process(raw(late, *(e for w in weeks[20:] for e in w)), {}, "t2")

    assert _stored(store.verdicts) == _stored(whole.verdicts) == _judged(restarted.engine)


def test_the_first_judgement_withdraws_every_closed_window_it_does_not_judge() -> None:
    units = organisation(30)
    book = VerdictBook(DetectionConfig())
    series = {("RXA", unit): windows for unit, windows in units.items()}
    rows = book.judge(series, ["RXA"])
    judged = {(v.unit_id, v.measure, v.window.start) for v in org_verdicts(units, DetectionConfig())}
    withdrawn = {
        (r.verdict.unit_id, r.verdict.measure, r.verdict.window.start)
        for r in rows
        if r.verdict.verdict is VerdictClass.WITHDRAWN
    }
    every = {(u, m, a.window.start) for u, s in units.items() for a in s for m in MEASURES}
    assert withdrawn == every - judged
    assert all(math.isnan(r.verdict.value) for r in rows if r.verdict.verdict is VerdictClass.WITHDRAWN)
    assert book.judge(series, ["RXA"]) == [], "the same windows: nothing new to hand out"
    # Later judgements hand out only what changed: a window that closes later and is not
    # judged (the learning period is over) has a verdict, nothing is withdrawn again.
    longer = {("RXA", unit): windows for unit, windows in organisation(31).items()}
    again = book.judge(longer, ["RXA"])
    assert again and all(r.verdict.verdict is not VerdictClass.WITHDRAWN for r in again)
