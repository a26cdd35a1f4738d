"""A real broker, topic by topic: every feedback response and target metric published with
kcat, then every incident report (as the fifteenth session's QA did, which raised 106
`reporting_silence` versions, 53 of them withdrawals). The incident reports that came last
must raise no silence the worker then withdraws (pipeline/core/arrivals.py). Batches of 500,
each judged (a worker that keeps up judges every batch; under a backlog of the default sizes it
would judge the whole topic at once and withdraw nothing either way)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pipeline.simulation.family import FamilyConfig
from pipeline.simulation.family_events import simulate_family
from tests.support.kcat_publisher import publish_kcat
from tests.support.worker_data import EVENT_TYPES
from tests.support.worker_harness import (
    PARTITIONS,
    all_committed,
    create_topics,
    query,
    start_worker,
    unique,
)

pytestmark = pytest.mark.kafka


def _messages(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, bytes]]:
    return [(e["event_type"], e["org_id"], json.dumps(e).encode()) for e in events]


def test_incident_reports_published_last_raise_no_silence_to_withdraw(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    events = simulate_family(FamilyConfig(seed=9, orgs=1, weeks=44, regraded=0.0)).events
    incidents = [e for e in events if e["event_type"] == "incident_report"]
    others = [e for e in events if e["event_type"] != "incident_report"]
    prefix, group = unique("arrivals"), unique("arrivals-group")
    create_topics(kafka_bootstrap, prefix)
    dsn = f"chdb://{tmp_path / 'ch'}"
    small = {"PIPELINE_BATCH_MAX_EVENTS": "500", "PIPELINE_JUDGE_EVERY_EVENTS": "500"}
    worker = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path, small)
    try:
        worker.wait_for(
            lambda m: m.get("pipeline_assigned_partitions", 0) == len(EVENT_TYPES) * PARTITIONS,
            120,
            "every input topic's partitions assigned",
        )
        publish_kcat(kafka_bootstrap, prefix, _messages(others))
        worker.wait_for(
            lambda m: m.get("pipeline_messages_consumed_total", 0) >= len(others),
            900,
            "the feedback and target metrics consumed",
        )
        publish_kcat(kafka_bootstrap, prefix, _messages(incidents))
        worker.wait_for(
            lambda m: m.get("pipeline_messages_consumed_total", 0) >= len(events),
            900,
            "the incident reports consumed",
        )
        deadline = time.monotonic() + 300
        while not all_committed(kafka_bootstrap, group, prefix):  # stored and judged
            assert time.monotonic() < deadline, worker.log(tail=5_000)
            time.sleep(1)
    finally:
        code = worker.stop(timeout=120)
    assert code == 0, worker.log(tail=5_000)
    (history,) = query(dsn, "SELECT kind, status FROM quality.alert_history FINAL")
    silences = [row["status"] for row in history if row["kind"] == "reporting_silence"]
    assert history, "the worker judged what it read"
    withdrawn = silences.count("withdrawn")
    assert not withdrawn, f"{len(silences)} silence versions, {withdrawn} withdrawn"
