"""An organisation's view in the report: each unit against the rest of its organisation, the
rest found from the organisation pooled once (linear in its units)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from pipeline.core.alerts import AlertKind, AlertStatus, Severity
from pipeline.report.figures import pool
from pipeline.report.periods import UnitKey, UnitView, org_view, standing
from pipeline.report.records import AlertRecord, WindowFigures

MONDAY = datetime(2025, 1, 6, tzinfo=UTC)


def unit_windows(unit: str, rng: random.Random, fall: bool) -> list[WindowFigures]:
    """39 weeks: 26 of baseline, then 13 recent (a fall in positive feedback if `fall`)."""
    out = []
    for i in range(39):
        responses = rng.randint(40, 400)
        share = 0.9 - (0.2 if fall and i >= 26 else 0.0) + rng.uniform(-0.03, 0.03)
        start = MONDAY + timedelta(weeks=i)
        out.append(
            WindowFigures(
                "RXA", unit, start, start + timedelta(weeks=1), responses,
                round(responses * share), responses - round(responses * share),
                rng.randint(0, 9), rng.randint(0, 3), rng.uniform(500.0, 900.0), (),
            )
        )  # fmt: skip
    return out


def test_each_unit_stands_against_the_other_units_pooled_and_each_is_read_once() -> None:
    rng = random.Random(11)
    windows = {("RXA", f"w{i:02d}"): unit_windows(f"w{i:02d}", rng, i == 3) for i in range(40)}
    begin = MONDAY + timedelta(weeks=26)
    reads = {"recent": 0, "before": 0}

    def recent(key: UnitKey) -> list[WindowFigures]:
        reads["recent"] += 1
        return [w for w in windows[key] if w.start >= begin]

    def before(key: UnitKey) -> list[WindowFigures]:
        reads["before"] += 1
        return [w for w in windows[key] if w.start < begin]

    units = [UnitView(o, u, pool(recent((o, u))), pool(before((o, u))), ()) for o, u in windows]
    reads.update(recent=0, before=0)
    view = org_view("RXA", units, recent, before)
    # Pooling every other unit again for each unit reads each unit's windows once per unit.
    assert reads == {"recent": len(units), "before": len(units)}
    for unit in units:
        others = [k for k in windows if k != unit.key]
        rest_now = pool([w for k in others for w in windows[k] if w.start >= begin])
        rest_before = pool([w for k in others for w in windows[k] if w.start < begin])
        assert view.standings[unit.key] == standing(
            unit.recent, rest_now, unit.baseline, rest_before
        )
    assert view.recent == pool([w for k in windows for w in windows[k] if w.start >= begin])


def _masked(unit: str, start: datetime) -> AlertRecord:
    return AlertRecord(
        "mas-1", AlertKind.MASKED_DARK_SPOT, "RXA", unit, start, start + timedelta(weeks=3),
        Severity.HIGH, AlertStatus.OPEN, "stood out", {}, start, start, 1, (),
    )  # fmt: skip


def test_a_dark_spot_is_the_pipelines_masked_dark_spot_alert_never_the_reports_own_test() -> None:
    """Seen from outside (twenty-first session, outside-family seed 1): the report named RPJ
    endoscopy among "3 dark spots inside organisations whose overall figures look fine" by its
    own test (5 points behind its usual standing, |z| >= 3), while every stored verdict of the
    unit in those weeks was common cause and the pipeline raised no alert. The report judges
    nothing itself: a dark spot is a unit with a `masked_dark_spot` alert in the period."""
    rng = random.Random(11)
    windows = {("RXA", f"w{i:02d}"): unit_windows(f"w{i:02d}", rng, i == 3) for i in range(8)}
    begin = MONDAY + timedelta(weeks=26)

    def recent(key: UnitKey) -> list[WindowFigures]:
        return [w for w in windows[key] if w.start >= begin]

    def before(key: UnitKey) -> list[WindowFigures]:
        return [w for w in windows[key] if w.start < begin]

    def view_with(alerts: dict[str, tuple[AlertRecord, ...]]) -> list[str]:
        units = [
            UnitView(o, u, pool(recent((o, u))), pool(before((o, u))), alerts.get(u, ()))
            for o, u in windows
        ]
        return [u.unit_id for u in org_view("RXA", units, recent, before).dark_spots]

    others = [k for k in windows if k != ("RXA", "w03")]
    fallen = standing(
        pool(recent(("RXA", "w03"))),
        pool([w for k in others for w in recent(k)]),
        pool(before(("RXA", "w03"))),
        pool([w for k in others for w in before(k)]),
    )
    assert fallen is not None and fallen.slipped < -0.15  # clearly behind, but no alert
    assert view_with({}) == []
    assert view_with({"w05": (_masked("w05", begin),)}) == ["w05"]
