"""Free text reaches no alert: a trust whose every description, comment and note names a
patient, with an NHS number and a telephone number, raises alerts, and nothing a judgement hands
on (alert versions as the Kafka topic, Alertmanager and ClickHouse take them; verdicts, board
rows, bright spots) holds any of it. Checked from outside on the worker's whole path in the
eighteenth session; this keeps it so for every route at once."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache

from pipeline.adapters.alert_topic import alert_record
from pipeline.adapters.alertmanager.payload import alert_payload
from pipeline.adapters.clickhouse.rows import alert_row
from pipeline.core.batch import BatchResult
from pipeline.core.decode import RawMessage
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.events import FREE_TEXT_FIELDS
from pipeline.simulation import SimulationConfig, simulate_trust

KEY = b"free-text-never-in-alerts-key-0123"
NOW = datetime(2026, 1, 5, tzinfo=UTC)
PLANTED = " Zebedee Quartermain, NHS 943 476 5919, tel 07700 900123."
# The name, the number in any spacing, and the telephone number, in whatever case or escaping.
FOUND = re.compile(r"zebedee|quartermain|943\W{0,2}476\W{0,2}5919|07700", re.IGNORECASE)


@cache
def judged() -> tuple[BatchResult, ...]:
    """The trust's events, every free-text field planted, judged batch by batch."""
    trust = simulate_trust(SimulationConfig(orgs=2, units_per_org=3, weeks=30, seed=18))
    lines = []
    for event in trust.events:
        planted = dict(event)
        for field in FREE_TEXT_FIELDS & planted.keys():
            planted[field] = f"{planted[field]}{PLANTED}"
        if planted["event_type"] == "alert_response":
            planted["note"] = f"Discussed with the family.{PLANTED}"
        lines.append(json.dumps(planted).encode())
    assert sum(PLANTED.encode() in line for line in lines) > 100
    engine = Engine(EngineConfig(), KEY)
    return tuple(
        engine.process([RawMessage(line, f"t:{n}") for n, line in enumerate(chunk)], NOW)
        for chunk in (lines[i : i + 2_000] for i in range(0, len(lines), 2_000))
    )


def test_no_alert_version_carries_free_text_on_any_route() -> None:
    alerts = [a for result in judged() for a in result.alerts]
    assert alerts  # the check reads something
    assert any("themes" in a.evidence for a in alerts)  # feedback evidence, where comments are
    for alert in alerts:
        routed = [
            alert_record("q.alerts", alert).value.decode(),
            json.dumps(alert_payload(alert, starts_at=NOW, now=NOW, open_for=timedelta(1))),
            repr(alert_row(alert)),
        ]
        assert [text for text in routed if FOUND.search(text)] == [], alert.alert_id


def test_no_verdict_board_row_or_bright_spot_carries_free_text() -> None:
    results = judged()
    handed_on = [repr(r.verdicts) + repr(r.board) + repr(r.bright_spots) for r in results]
    assert any(r.verdicts for r in results) and any(r.board for r in results)
    assert [text for text in handed_on if FOUND.search(text)] == []
