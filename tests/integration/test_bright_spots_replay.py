"""Bright spots through `pipeline replay` on the embedded ClickHouse engine: a unit whose
patients stop rating care poor (better than its usual and than the rest of its organisation)
is stored in `bright_spots`, listed by `pipeline report`, and is never an alert; and every view
of it (the stored verdicts, the report's charts, Grafana's bright-spot panel) gives one
answer."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.cli import main
from pipeline.core.alerts import AlertKind
from pipeline.core.spc import PointType
from pipeline.report.build import build_view
from pipeline.report.queries import load_report_data
from pipeline.simulation import SimulationConfig, simulate_trust
from tests.support.grafana import clickhouse_targets, context_for, load_dashboards, render

pytestmark = pytest.mark.slow
IMPROVES = ("RXA", "AMU")
FROM_WEEK = 24


def _events() -> list[dict[str, Any]]:
    """A small simulated trust where AMU's poor and neutral ratings become very good ones from
    week FROM_WEEK on."""
    trust = simulate_trust(SimulationConfig(seed=11, orgs=1, units_per_org=4, weeks=40))
    cut = trust.start + timedelta(weeks=FROM_WEEK)
    events = []
    for event in trust.events:
        if (
            event["event_type"] == "patient_feedback"
            and (event["org_id"], event["unit_id"]) == IMPROVES
            and event.get("rating") in (3, 4, 5)
            and datetime.fromisoformat(event["occurred_at"]) >= cut
        ):
            event = {**event, "rating": 1}
        events.append(event)
    return events


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, Path, str]:
    root = tmp_path_factory.mktemp("bright")
    events = root / "events.jsonl"
    events.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in _events()))
    dsn = f"chdb://{root / 'clickhouse'}"
    out = root / "alerts.jsonl"
    assert main(["replay", str(events), "--alerts-out", str(out), "--clickhouse", dsn]) == 0
    report = root / "report.html"
    assert main(["report", "--clickhouse", dsn, "--out", str(report)]) == 0
    client = clickhouse_connect.get_client(dsn=dsn)
    return client, out, report, dsn


def test_the_replay_stores_the_bright_spot_and_a_row_for_every_unit(
    replayed: tuple[Any, Path, Path, str],
) -> None:
    client = replayed[0]
    rows = client.query(
        "SELECT org_id, unit_id, measure, status, first_window, reduction_vs_peers "
        "FROM quality.bright_spots FINAL WHERE window_kind = 'week'"
    ).result_rows
    assert {(org, unit) for org, unit, *_ in rows} == {
        ("RXA", u) for u in ("ED", "AMU", "ward-7", "maternity")
    }
    bright = [r for r in rows if r[3] != "none"]
    assert bright and {(r[0], r[1]) for r in bright} == {IMPROVES}
    assert {r[2] for r in bright} <= {"negative_share", "positive_share"}
    for *_, status, first, reduction in bright:
        assert status == "ongoing" and reduction >= 0.2
        assert first is not None


def test_the_report_lists_it_with_its_evidence(replayed: tuple[Any, Path, Path, str]) -> None:
    html = replayed[2].read_text()
    start = html.index('<section id="bright"')
    section = html[start : html.index("</section>", start)]
    assert "RXA AMU" in section and "ongoing" in section
    assert "fewer than its peers" in section and "fewer than usual" in section
    for other in ("RXA ED", "RXA ward-7", "RXA maternity"):
        assert other not in section


def test_a_bright_spot_is_never_an_alert(replayed: tuple[Any, Path, Path, str]) -> None:
    client, out, *_ = replayed
    kinds = {row[0] for row in client.query("SELECT kind FROM quality.alerts FINAL").result_rows}
    assert kinds <= {kind.value for kind in AlertKind}
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    assert not [a for a in alerts if (a["org_id"], a["unit_id"]) == IMPROVES]
    assert not [a for a in alerts if "bright" in json.dumps(a).lower()]


# The report's chart of each measure it charts (the negative share is not charted).
_CHARTED = {"positive_share": "experience", "harmful_incident_rate": "safety"}


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def _stored_spots(client: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(
        "SELECT org_id, unit_id, measure, first_window, last_window, windows "
        "FROM quality.bright_spots FINAL WHERE window_kind = 'week' AND status != 'none' "
        "ORDER BY org_id, unit_id, measure"
    ).result_rows]  # fmt: skip


def _improvements(client: Any, org: str, unit: str, measure: str) -> set[datetime]:
    rows = client.query(
        "SELECT window_start FROM quality.verdicts FINAL WHERE window_kind = 'week' "
        "AND org_id = {org:String} AND unit_id = {unit:String} AND measure = {m:String} "
        "AND verdict = 'improvement'",
        parameters={"org": org, "unit": unit, "m": measure},
    ).result_rows
    return {start for (start,) in rows}


def test_every_view_of_the_bright_spot_agrees_with_the_stored_verdicts(
    replayed: tuple[Any, Path, Path, str],
) -> None:
    client, _, _, dsn = replayed
    spots = _stored_spots(client)
    assert spots
    # The stored verdicts: every window the bright spot flagged is an improvement.
    for org, unit, measure, first, last, windows in spots:
        improved = _improvements(client, org, unit, measure)
        assert {first, last} <= improved
        assert len({s for s in improved if first <= s <= last}) >= windows
    # Grafana's bright-spot panel lists exactly the stored spots.
    dashboards = load_dashboards()
    (target,) = [
        t for t in clickhouse_targets(dashboards)
        if t.dashboard_uid == dashboards["overview.json"]["uid"] and "bright_spots" in t.query
    ]  # fmt: skip
    dashboard = dashboards["overview.json"]

    def run(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in client.query(sql).result_rows]

    ctx = context_for(dashboard, min(s[3] for s in spots), max(s[4] for s in spots), run)
    panel = {(r[0], r[1], r[2], r[4], r[5]) for r in run(render(target, dashboard, ctx, run))}
    assert panel == {(org, unit, m, first, last) for org, unit, m, first, last, _ in spots}
    # The report's charts colour those windows as improvements (the measures it charts).
    sink = ClickHouseSink(dsn, "quality", "week")
    try:
        view = build_view(load_report_data(sink))
    finally:
        sink.close()
    charted = 0
    for org, unit, measure, first, last, _ in spots:
        (card,) = [c for c in view.charts if c.unit.key == (org, unit)]
        shown = _CHARTED.get(measure)
        for chart in (c for c in card.charts if c.measure == shown):
            blue = {
                _naive(p.x) for p in chart.chart.points
                if p.point_type is PointType.SPECIAL_CAUSE_IMPROVEMENT
            }  # fmt: skip
            assert {_naive(first), _naive(last)} <= blue
            charted += 1
    assert charted  # the positive share is charted
