"""The learning loop through `pipeline worker` on a real Kafka broker: a false_positive sent
before its alert exists is stored as unmatched, matched once the alert appears, and the alert
goes out `dismissed` on the alerts topic and in the alerts table; answers to alerts never raised
stay counted as unmatched in `pipeline stats`; no note text reaches an alert."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.core.alerts import Alert, AlertKind
from pipeline.core.decode import RawMessage
from pipeline.core.engine import Engine, EngineConfig
from tests.integration.test_worker import consumed, topic_alerts
from tests.support.worker_data import START, synthetic
from tests.support.worker_harness import (
    create_topics,
    publish,
    query,
    start_worker,
    stats,
    unique,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
NOTE = "Spoke to Mrs Jane Smith (NHS 943 476 5919) about it"
ORGS = ("RA1", "RB2", "RC3")


def test_false_positive_sent_first_dismisses_the_alert(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    data = synthetic(orgs=ORGS, weeks=16)
    engine = Engine(EngineConfig(), b"k" * 16)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    engine.process([RawMessage(value, "x") for _, _, value in data.messages], now)
    engine.finish(now)
    target = next(
        a
        for a in sorted(engine.alerts, key=lambda a: a.alert_id)
        if a.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE
    )
    answer = {
        "schema_version": 1,
        "event_type": "alert_response",
        "event_id": str(uuid.uuid4()),
        "org_id": target.org_id,
        "unit_id": target.unit_id,
        # no later than the data's own closing events: the answer moves no watermark
        "occurred_at": START.replace(day=START.day + 2).isoformat(),
        "source": "safety-team",
        "alert_id": target.alert_id,
        "response": "false_positive",
        "note": NOTE,
        "owner": "matron",
    }
    first = ("alert_response", target.org_id, json.dumps(answer).encode())
    prefix, group = unique("learn"), unique("learn-group")
    create_topics(kafka_bootstrap, prefix)
    publish(kafka_bootstrap, prefix, [first, *data.messages])
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    worker = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path, {})
    try:
        worker.wait_for(lambda m: consumed(m) >= len(data.messages) + 1, 90, "all processed")
    finally:
        status = worker.stop()
    assert status == 0, worker.log()

    published = topic_alerts(kafka_bootstrap, prefix)
    latest: dict[str, Alert] = {}
    for alert in sorted(published, key=lambda a: a.detected_at):
        latest[alert.alert_id] = alert
    assert latest[target.alert_id].status.value == "dismissed"
    assert all("Jane" not in a.to_json() and "5919" not in a.to_json() for a in published)

    (rows,) = query(
        dsn, "SELECT alert_id, status FROM quality.alerts FINAL WHERE status = 'dismissed'"
    )
    assert [r["alert_id"] for r in rows] == [target.alert_id]
    summary = stats(dsn)
    assert summary["alerts_by_status"]["dismissed"] == 1
    # each organisation's closing answer names `tar-0`, an alert never raised
    assert summary["unmatched_responses"] == len(ORGS)
