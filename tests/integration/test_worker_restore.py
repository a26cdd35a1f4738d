"""After a rebalance, a worker restores at once the organisations recorded on its partitions:
`pipeline worker` subprocesses on a real Kafka broker, each with its own chDB directory."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from pipeline.core.partitioning import partition_for
from tests.support.alerts import FakeAlertmanager
from tests.support.worker_data import EVENT_TYPES, synthetic
from tests.support.worker_harness import (
    create_topics,
    publish,
    query,
    start_worker,
    unique,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PARTITIONS = 2  # two workers, one partition number each
ORGS = ("RA1", "RB2", "RC3", "RD4", "RE5")
ASSIGNED = re.compile(r"partitions \[(\d+)\] assigned")


def test_a_worker_given_part_of_the_partitions_reposts_the_open_alerts_recorded_on_them(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A worker stores everything alone; then, beside a second worker (its own, empty store)
    in the same group, it is given one partition number and, with no event published, posts
    to Alertmanager the open alerts of exactly the organisations whose latest event came on
    that partition. Before, each organisation waited for its next event, and Alertmanager
    ended an open alert nobody posted again ("ended, not resolved")."""
    prefix, group = unique("owned"), unique("owned-group")
    data = synthetic(orgs=ORGS, weeks=16)  # divergent units in RA1 (partition 1) and RC3 (0)
    assert {partition_for(org, PARTITIONS) for org in ("RA1", "RC3")} == {0, 1}
    create_topics(kafka_bootstrap, prefix, PARTITIONS)
    publish(kafka_bootstrap, prefix, data.messages, PARTITIONS)
    env = {"PIPELINE_TOPIC_PARTITIONS": str(PARTITIONS)}
    dsn = f"chdb://{tmp_path / 'a'}"
    alone = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / "alone", env)
    try:
        alone.wait_for(
            lambda m: m.get("pipeline_messages_consumed_total", 0) >= len(data.messages),
            90,
            "every message processed",
        )
    finally:
        assert alone.stop() == 0, alone.log()
    open_alerts, recorded = query(
        dsn,
        "SELECT org_id, alert_id FROM quality.alerts FINAL WHERE status = 'open'",
        "SELECT org_id, argMax((input_topic, input_partition), latest_event) AS input "
        "FROM quality.org_progress GROUP BY org_id",
    )
    inputs = {r["org_id"]: tuple(r["input"]) for r in recorded}
    assert set(inputs) == set(ORGS)
    for org, (topic, partition) in inputs.items():
        assert topic.startswith(f"{prefix}.") and partition == partition_for(org, PARTITIONS)
    open_by_org: dict[str, set[str]] = {}
    for row in open_alerts:
        open_by_org.setdefault(row["org_id"], set()).add(row["alert_id"])
    assert {"RA1", "RC3"} <= set(open_by_org), "both divergent organisations have open alerts"

    alertmanager = FakeAlertmanager()
    other = start_worker(
        kafka_bootstrap, f"chdb://{tmp_path / 'b'}", prefix, group, tmp_path / "other", env
    )
    restarted = None
    try:
        other.wait_for(
            lambda m: m.get("pipeline_assigned_partitions") == PARTITIONS * len(EVENT_TYPES),
            60,
            "the other worker alone",
        )
        restarted = start_worker(
            kafka_bootstrap,
            dsn,
            prefix,
            group,
            tmp_path / "restarted",
            {
                **env,
                "PIPELINE_ALERTMANAGER_URL": alertmanager.url,
                "PIPELINE_ALERTMANAGER_RESEND_SECONDS": "1",
            },
        )
        restarted.wait_for(
            lambda m: m.get("pipeline_assigned_partitions") == len(EVENT_TYPES),
            90,
            "one partition number of each topic",
        )
        alertmanager.wait_for_posts(1, 30)
        time.sleep(3)  # a few resends: what it holds, not only its first post
        assert other.metrics().get("pipeline_assigned_partitions") == len(EVENT_TYPES)
        consumed = restarted.metrics().get("pipeline_messages_consumed_total", 0)
    finally:
        for worker in (other, restarted):
            if worker is not None:
                worker.terminate()
        statuses = [w.stop() for w in (other, restarted) if w is not None]
        alertmanager.close()
    assert statuses == [0, 0]
    assert consumed == 0, "nothing published: restored from the record, not by an event"
    (owned,) = {int(n) for n in ASSIGNED.findall(restarted.log_path.read_text())[-1:]}
    mine = {org for org, (_, partition) in inputs.items() if partition == owned}
    entries = [entry["labels"] for post in alertmanager.posts for entry in post]
    expected = {alert for org in mine for alert in open_by_org.get(org, set())}
    assert expected, "an organisation with open alerts is recorded on its partition"
    assert expected <= {labels["alert_id"] for labels in entries}, "its open alerts posted"
    assert {labels["org_id"] for labels in entries} <= mine, "none of the other worker's"
