"""Bright spots through `pipeline replay` on the embedded ClickHouse engine: a unit whose
patients stop rating care poor (better than its usual and than the rest of its organisation)
is stored in `bright_spots`, listed by `pipeline report`, and is never an alert."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from pipeline.cli import main
from pipeline.core.alerts import AlertKind
from pipeline.simulation import SimulationConfig, simulate_trust

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
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, Path]:
    root = tmp_path_factory.mktemp("bright")
    events = root / "events.jsonl"
    events.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in _events()))
    dsn = f"chdb://{root / 'clickhouse'}"
    out = root / "alerts.jsonl"
    assert main(["replay", str(events), "--alerts-out", str(out), "--clickhouse", dsn]) == 0
    report = root / "report.html"
    assert main(["report", "--clickhouse", dsn, "--out", str(report)]) == 0
    client = clickhouse_connect.get_client(dsn=dsn)
    return client, out, report


def test_the_replay_stores_the_bright_spot_and_a_row_for_every_unit(
    replayed: tuple[Any, Path, Path],
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


def test_the_report_lists_it_with_its_evidence(replayed: tuple[Any, Path, Path]) -> None:
    html = replayed[2].read_text()
    start = html.index('<section id="bright"')
    section = html[start : html.index("</section>", start)]
    assert "RXA AMU" in section and "ongoing" in section
    assert "fewer than its peers" in section and "fewer than usual" in section
    for other in ("RXA ED", "RXA ward-7", "RXA maternity"):
        assert other not in section


def test_a_bright_spot_is_never_an_alert(replayed: tuple[Any, Path, Path]) -> None:
    client, out, _ = replayed
    kinds = {row[0] for row in client.query("SELECT kind FROM quality.alerts FINAL").result_rows}
    assert kinds <= {kind.value for kind in AlertKind}
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    assert not [a for a in alerts if (a["org_id"], a["unit_id"]) == IMPROVES]
    assert not [a for a in alerts if "bright" in json.dumps(a).lower()]
