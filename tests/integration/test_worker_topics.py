"""A worker started before its input topics exist (the README's order: broker, worker, then
publishers) creates them, with PIPELINE_TOPIC_PARTITIONS partitions, and reads what a librdkafka
client then publishes at once. Before, faust's consumer saw topics created after it subscribed
only at its next metadata refresh (five minutes), and kcat's auto-created topics got the
broker's own partition count (found by the black-box check)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.support.kcat_publisher import publish_kcat
from tests.support.worker_data import EVENT_TYPES
from tests.support.worker_harness import (
    PARTITIONS,
    create_topics,
    end_offsets,
    start_worker,
    stats,
    unique,
)

pytestmark = pytest.mark.kafka


def _feedback(count: int) -> list[tuple[str, str, bytes]]:
    return [
        (
            "patient_feedback",
            "RXA",
            json.dumps(
                {
                    "schema_version": 1,
                    "event_type": "patient_feedback",
                    "event_id": str(uuid.uuid4()),
                    "org_id": "RXA",
                    "unit_id": f"ward-{i % 3}",
                    "occurred_at": f"2024-03-0{1 + i % 7}T10:00:00Z",
                    "source": "fft-kiosk",
                    "rating": 1 + i % 5,
                }
            ).encode(),
        )
        for i in range(count)
    ]


def test_a_worker_started_before_its_topics_exist_creates_them_and_reads_at_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix, group = unique("fresh"), unique("fresh-group")
    dsn = f"chdb://{tmp_path / 'ch'}"
    worker = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path)
    messages = _feedback(20)
    try:
        worker.wait_for(
            lambda m: m.get("pipeline_assigned_partitions", 0) == len(EVENT_TYPES) * PARTITIONS,
            90,
            "every input topic's partitions assigned",
        )
        offsets = end_offsets(kafka_bootstrap, [f"{prefix}.{t}" for t in EVENT_TYPES])
        assert sorted({tp.topic for tp in offsets}) == sorted(f"{prefix}.{t}" for t in EVENT_TYPES)
        assert len(offsets) == len(EVENT_TYPES) * PARTITIONS  # not the broker's num.partitions (3)
        publish_kcat(kafka_bootstrap, prefix, messages)
        worker.wait_for(
            lambda m: m.get("pipeline_messages_consumed_total", 0) >= len(messages),
            90,
            "the events published after the start consumed",
        )
    finally:
        code = worker.stop()
    log = worker.log(tail=100_000)
    assert code == 0, log
    assert f"created topics {prefix}.alert_response, {prefix}.incident_report" in log
    assert stats(dsn)["events"]["patient_feedback"] == len(messages)


def test_input_topics_of_different_partition_counts_are_named_in_a_warning(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """As kcat leaves them when it publishes first: the broker's own count for its topic, the
    worker's for the rest. Organisation-level detection needs one count (docs/worker.md)."""
    prefix, group = unique("mixed"), unique("mixed-group")
    create_topics(kafka_bootstrap, prefix, partitions=PARTITIONS - 1)  # all four, one fewer
    worker = start_worker(kafka_bootstrap, f"chdb://{tmp_path / 'ch'}", prefix, group, tmp_path)
    try:
        worker.wait_for(
            lambda m: (
                m.get("pipeline_assigned_partitions", 0) == len(EVENT_TYPES) * (PARTITIONS - 1)
            ),
            90,
            "every input topic's partitions assigned",
        )
    finally:
        code = worker.stop()
    log = worker.log(tail=100_000)
    assert code == 0, log
    assert "different partition counts" not in log  # one count, even if not the setting's

    other, group = unique("mixed"), unique("mixed-group")
    admin_topics = [f"{other}.patient_feedback"]
    create_one_topic(kafka_bootstrap, admin_topics[0], PARTITIONS - 1)
    worker = start_worker(kafka_bootstrap, f"chdb://{tmp_path / 'ch2'}", other, group, tmp_path)
    try:
        worker.wait_for(
            lambda m: m.get("pipeline_assigned_partitions", 0) == len(EVENT_TYPES) * PARTITIONS - 1,
            90,
            "every input topic's partitions assigned",
        )
    finally:
        code = worker.stop()
    log = worker.log(tail=100_000)
    assert code == 0, log
    counts = ", ".join(
        f"{other}.{t} {PARTITIONS - 1 if t == 'patient_feedback' else PARTITIONS}"
        for t in sorted(EVENT_TYPES)
    )
    assert f"the input topics have different partition counts ({counts})" in log


def create_one_topic(bootstrap: str, name: str, partitions: int) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=unique("test-admin"))
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
