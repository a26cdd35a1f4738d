"""The learning loop through `pipeline replay` on the embedded ClickHouse engine: a
false_positive dismisses its alert in --alerts-out and in the alerts table, whichever of the
alert and the answer comes first; an answer to an alert never raised is counted as unmatched;
no note text reaches an alert."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.cli import main
from pipeline.core.alerts import Alert
from pipeline.core.decode import RawMessage
from pipeline.core.engine import Engine, EngineConfig
from pipeline.simulation import SimulationConfig, simulate_trust

pytestmark = pytest.mark.slow
NOTE = "Mrs Jane Smith, NHS 943 476 5919, complained"


def _lines(events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)


def _answer(alert: Alert, response: str, alert_id: str | None = None) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_type": "alert_response",
        "event_id": str(uuid.uuid4()),
        "org_id": alert.org_id,
        "unit_id": alert.unit_id,
        "occurred_at": (alert.window_end + timedelta(days=2)).isoformat(),
        "source": "safety-team",
        "alert_id": alert_id or alert.alert_id,
        "response": response,
        "note": NOTE,
        "owner": "matron-ed",
        "due_by": (alert.window_end + timedelta(days=30)).isoformat(),
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Alert]:
    root = tmp_path_factory.mktemp("learning")
    trust = simulate_trust(SimulationConfig(seed=11, orgs=1, units_per_org=4, weeks=36))
    engine = Engine(EngineConfig(), b"k" * 16)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    engine.process([RawMessage(json.dumps(e).encode(), "x") for e in trust.events], now)
    engine.finish(now)
    answered = {e["alert_id"] for e in trust.events if e["event_type"] == "alert_response"}
    target = next(
        a for a in sorted(engine.alerts, key=lambda a: a.alert_id) if a.alert_id not in answered
    )
    events, responses = root / "events.jsonl", root / "responses.jsonl"
    events.write_text(_lines(trust.events))
    responses.write_text(
        _lines([_answer(target, "false_positive"), _answer(target, "investigating", "saf-0")])
    )
    return events, responses, target


def _replay(tmp: Path, paths: list[Path]) -> tuple[dict[str, dict[str, Any]], dict[str, Any], Any]:
    dsn = f"chdb://{tmp / 'clickhouse'}"
    out = tmp / "alerts.jsonl"
    assert main(["replay", *map(str, paths), "--alerts-out", str(out), "--clickhouse", dsn]) == 0
    alerts = {a["alert_id"]: a for a in map(json.loads, out.read_text().splitlines())}
    return alerts, {"dsn": dsn, "text": out.read_text()}, clickhouse_connect.get_client(dsn=dsn)


@pytest.mark.parametrize("answers_first", [True, False])
def test_false_positive_dismisses_whatever_the_order(
    files: tuple[Path, Path, Alert],
    tmp_path: Path,
    answers_first: bool,
) -> None:
    events, responses, target = files
    order = [responses, events] if answers_first else [events, responses]
    alerts, out, client = _replay(tmp_path, order)
    try:
        assert alerts[target.alert_id]["status"] == "dismissed"
        ((stored,),) = client.query(
            "SELECT status FROM quality.alerts FINAL WHERE alert_id = {id:String}",
            parameters={"id": target.alert_id},
        ).result_rows
        assert stored == "dismissed"
        ((note_rows,),) = client.query(
            "SELECT count() FROM quality.alert_responses WHERE owner = 'matron-ed' "
            "AND due_by IS NOT NULL"
        ).result_rows
        assert note_rows == 2
    finally:
        client.close()
    assert "Jane" not in out["text"] and "5919" not in out["text"]
    sink = ClickHouseSink(out["dsn"], "quality", "week")  # what `pipeline stats` prints
    try:
        stats = sink.stats()
    finally:
        sink.close()
    assert stats["unmatched_responses"] == 1  # the answer to saf-0, never raised
    assert stats["alerts_by_status"]["dismissed"] >= 1
    assert set(stats["alerts_by_status"]) == {"open", "resolved", "withdrawn", "dismissed"}
    assert sum(stats["alerts_by_status"].values()) >= stats["alerts"]


def test_both_orders_end_with_the_same_alerts(
    files: tuple[Path, Path, Alert], tmp_path: Path
) -> None:
    events, responses, _ = files

    def final(sub: str, order: list[Path]) -> dict[str, Any]:
        (tmp_path / sub).mkdir()
        alerts, _, client = _replay(tmp_path / sub, order)
        client.close()
        return {k: {f: v for f, v in a.items() if f != "detected_at"} for k, a in alerts.items()}

    assert final("a", [responses, events]) == final("b", [events, responses])


def _incident(ref: str, revision: int, harm: str, at: str) -> dict[str, Any]:
    return {
        "schema_version": 1, "event_type": "incident_report", "event_id": str(uuid.uuid4()),
        "org_id": "RXA", "unit_id": "ED", "occurred_at": at, "source": "risk-system",
        "category": "fall", "harm": harm, "report_ref": ref, "revision": revision,
    }  # fmt: skip


@pytest.mark.parametrize("revised_first", [True, False])
def test_a_revised_incident_counts_once_in_the_stored_windows(
    tmp_path: Path, revised_first: bool
) -> None:
    """Revision 2 moves the incident to a later week and raises its harm: whichever file comes
    first (each file is its own batch), the stored windows count it once, as revised."""
    first = _incident("DATIX/7", 1, "low", "2024-03-05T10:00:00+00:00")
    second = _incident("DATIX/7", 2, "severe", "2024-03-13T10:00:00+00:00")
    closing = {**_incident("other", 1, "none", "2024-04-20T10:00:00+00:00"), "report_ref": "X-1"}
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    one.write_text(_lines([second if revised_first else first]))
    two.write_text(_lines([first if revised_first else second, closing]))
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    assert main(["replay", str(one), str(two), "--clickhouse", dsn]) == 0
    client = clickhouse_connect.get_client(dsn=dsn)
    try:
        rows = client.query(
            "SELECT toDate(window_start), incidents_by_harm FROM quality.unit_windows FINAL "
            "WHERE window_start < '2024-04-01' AND incidents > 0 ORDER BY window_start"
        ).result_rows
        ((revisions,),) = client.query(
            "SELECT groupArray(revision) FROM (SELECT revision FROM quality.incident_reports "
            "FINAL WHERE report_ref = 'DATIX/7' ORDER BY revision)"
        ).result_rows
    finally:
        client.close()
    assert [(str(day), list(harm)) for day, harm in rows] == [("2024-03-11", [0, 0, 0, 1, 0])]
    assert list(revisions) == [1, 2]  # both stored, only the revision in force counted
