"""The stored verdicts are always the core's latest judgement (pipeline.core.verdict_book),
restarts included: what storage keeps (the highest version per unit, measure and window,
withdrawn rows left out, as `FINAL` reads it) equals `org_verdicts` of the closed windows."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.verdicts import INCIDENT_REPORTING, Verdict, VerdictClass, org_verdicts
from pipeline.core.verdict_book import MEASURES, VerdictBook, VerdictRow
from tests.support.events import raw
from tests.support.memory_store import MemoryStore
from tests.support.series import organisation
from tests.support.verdict_restart import (
    LATE,
    MONDAY,
    activity_return,
    ed_week,
    judged,
    step,
)

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
    return {
        k: r.verdict for k, r in kept.items() if r.verdict.verdict is not VerdictClass.WITHDRAWN
    }


def test_a_verdict_stored_before_a_restart_is_withdrawn_when_a_later_judgement_drops_it() -> None:
    """Week 14's activity return is late: judged on the usual exposure, its incident reporting
    gets a verdict and is stored. After a restart the return arrives: a tenth of the usual
    activity, so activity did not hold and reporting is not judged that week. The book of the
    restarted worker never handed that verdict out, yet storage must not keep it."""
    rng = random.Random(3)
    before = [e for w in range(20) for e in ed_week(w, rng, activity=None if w == LATE else 1000)]
    store = MemoryStore()
    first = step(store)
    first.process(raw(*before), {}, "t1")
    key = ("RXA", "ED", INCIDENT_REPORTING, MONDAY + timedelta(weeks=LATE))
    assert key in _stored(store.verdicts), "judged on the usual exposure before the restart"

    restarted = step(store)
    restarted.restore()
    after = [activity_return(LATE, 100), *(e for w in range(20, 24) for e in ed_week(w, rng))]
    restarted.process(raw(*after), {}, "t2")

    latest = judged(restarted.engine)
    assert key not in latest, "a tenth of the usual activity: reporting is not judged that week"
    assert _stored(store.verdicts) == latest


def test_after_a_restart_storage_equals_the_judgement_of_an_uninterrupted_run() -> None:
    rng = random.Random(5)
    weeks = [ed_week(w, rng, activity=None if w == LATE else 1000) for w in range(24)]
    late = activity_return(LATE, 100)
    whole = MemoryStore()
    uninterrupted = step(whole)
    uninterrupted.process(raw(*(e for w in weeks[:20] for e in w)), {}, "t1")
    uninterrupted.process(raw(late, *(e for w in weeks[20:] for e in w)), {}, "t2")

    store = MemoryStore()
    step(store).process(raw(*(e for w in weeks[:20] for e in w)), {}, "t1")
    restarted = step(store)
    restarted.restore()
    restarted.process(raw(late, *(e for w in weeks[20:] for e in w)), {}, "t2")

    assert _stored(store.verdicts) == _stored(whole.verdicts) == judged(restarted.engine)


def test_the_first_judgement_withdraws_every_closed_window_it_does_not_judge() -> None:
    units = organisation(30)
    book = VerdictBook(DetectionConfig())
    series = {("RXA", unit): windows for unit, windows in units.items()}
    rows = book.judge(series, ["RXA"])
    judged = {
        (v.unit_id, v.measure, v.window.start) for v in org_verdicts(units, DetectionConfig())
    }
    withdrawn = {
        (r.verdict.unit_id, r.verdict.measure, r.verdict.window.start)
        for r in rows
        if r.verdict.verdict is VerdictClass.WITHDRAWN
    }
    every = {(u, m, a.window.start) for u, s in units.items() for a in s for m in MEASURES}
    assert withdrawn == every - judged
    assert all(
        math.isnan(r.verdict.value) for r in rows if r.verdict.verdict is VerdictClass.WITHDRAWN
    )
    assert book.judge(series, ["RXA"]) == [], "the same windows: nothing new to hand out"
    # Later judgements hand out only what changed: a window that closes later and is not
    # judged (the learning period is over) has a verdict, nothing is withdrawn again.
    longer = {("RXA", unit): windows for unit, windows in organisation(31).items()}
    again = book.judge(longer, ["RXA"])
    assert again and all(r.verdict.verdict is not VerdictClass.WITHDRAWN for r in again)


def _whole_comparison(last: dict[Key, Verdict], units: dict[str, list[Any]]) -> set[str]:
    """What the book hands out, found the plain way: every verdict judged now against the
    last one handed out, and every key no longer judged withdrawn (`last` is updated)."""
    now = {
        ("RXA", v.unit_id, v.measure, v.window.start): v
        for v in org_verdicts(units, DetectionConfig())
    }
    out = set()
    for key, verdict in now.items():
        if last.get(key) != verdict:
            last[key] = verdict
            out.add(repr(verdict))
    for key, verdict in list(last.items()):
        if key not in now and verdict.verdict is not VerdictClass.WITHDRAWN:
            last[key] = replace(verdict, verdict=VerdictClass.WITHDRAWN, rule="", detector="")
            out.add(repr(last[key]))
    return out


def test_judging_again_hands_out_what_comparing_every_verdict_would() -> None:
    """After its first judgement the book reads only each column's part from its first changed
    window on: windows closing, an old window amended (its unit alone, and the others through
    their common movement), a unit whose windows shrink and one that goes, all hand out exactly
    the rows a comparison of every verdict with the last handed out gives."""
    book = VerdictBook(DetectionConfig())
    last: dict[Key, Verdict] = {}
    grown = organisation(48, seed=7)
    ed = next(iter(grown))
    steps = [{u: s[:n] for u, s in grown.items()} for n in (30, 31, 33, 33, 40)]
    amended = dict(steps[-1])
    amended[ed] = list(amended[ed])
    amended[ed][25] = replace(amended[ed][25], fft_counts=(0, 0, 0, 30, 30))  # a late burst
    steps.append(amended)
    steps.append({u: s[:44] for u, s in grown.items()} | {ed: amended[ed][:20]})
    steps.append({u: s for u, s in grown.items() if u != ed})
    steps.append({u: s[:48] for u, s in grown.items()})
    handed = []
    for number, units in enumerate(steps):
        rows = book.judge({("RXA", u): s for u, s in units.items()}, ["RXA"])
        expected = _whole_comparison(last, units)
        if number:
            assert {repr(r.verdict) for r in rows} == expected
            handed.append(len(rows))
        assert {
            (m, start): v for (_, u, m, start), v in _stored_now(last).items() if u == ed
        } == book.of(("RXA", ed))
    assert handed[2] == 0, "the same windows again: nothing new"
    assert all(handed[:2] + handed[3:]), "every other step changed something"


def _stored_now(last: dict[Key, Verdict]) -> dict[Key, Verdict]:
    return {k: v for k, v in last.items() if v.verdict is not VerdictClass.WITHDRAWN}
