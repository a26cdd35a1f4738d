"""`pipeline publish` and the Publisher API against a real broker: what arrives, where, in what
order, and what does not arrive."""

from __future__ import annotations

import argparse
import io
import json
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.structs import TopicPartition

from pipeline.cli.publish import add_publish_arguments, run_publish
from pipeline.core.events import EventType
from pipeline.core.partitioning import partition_for
from pipeline.errors import EventRejected
from pipeline.publishing import Publisher
from tests.support.event_examples import VALID_NHS_NUMBER, as_line, valid_event

PARTITIONS = 3
TYPES = [t.value for t in EventType]
UNITS = [("RX1", "ward-1"), ("RX1", "ward-2"), ("RX1", "ae"), ("RY2", "ward-1"), ("RZ3", "icu")]


@pytest.fixture
def prefix(monkeypatch: pytest.MonkeyPatch) -> str:
    """A topic prefix of this test's own, and the partition count, through the environment."""
    name = f"pub{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("PIPELINE_TOPIC_PREFIX", name)
    monkeypatch.setenv("PIPELINE_TOPIC_PARTITIONS", str(PARTITIONS))
    return name


def publish_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pipeline publish")
    add_publish_arguments(parser)
    return parser.parse_args(list(argv))


def consume(bootstrap: str, topics: list[str], expected: int) -> list[Any]:
    """Every record of `topics` (all partitions, from the start) once `expected` have come."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=1000)
    try:
        assignment = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in consumer.partitions_for_topic(topic) or ()
        ]
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(records) < expected:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        # a little longer, to see anything that should not be there
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
        return records
    finally:
        consumer.close()


def mixed_input() -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Lines of a file: good events (several per unit), bad lines, and repeats of good ones."""
    good: list[bytes] = []
    for round_ in range(4):
        for index, (org, unit) in enumerate(UNITS):
            event_type = TYPES[(round_ + index) % len(TYPES)]
            changes: dict[str, Any] = {"org_id": org, "unit_id": unit}
            changes["event_id"] = str(uuid.UUID(int=round_ * 100 + index + 1))
            good.append(as_line(valid_event(event_type, **changes)))
    bad = [
        b"not json",
        as_line(valid_event("patient_feedback", rating="2")),
        as_line(valid_event("patient_feedback", comment=f"NHS {VALID_NHS_NUMBER}", ratng=3)),
        as_line(valid_event("target_metric", numerator=5000)),
        as_line(valid_event("incident_report", schema_version=2)),
    ]
    return good, bad, [good[0], good[7]]


@pytest.mark.kafka
def test_publish_sends_exactly_the_good_lines_keyed_partitioned_and_in_order(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    good, bad, repeats = mixed_input()
    lines = [*good[:8], bad[0], bad[1], b"", *good[8:14], bad[2], *repeats, bad[3], *good[14:]]
    lines.append(bad[4])
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    summary_path = tmp_path / "summary.json"
    stdout, stderr = io.StringIO(), io.StringIO()

    status = run_publish(
        publish_args(str(source), "--summary-json", str(summary_path)), stdout, stderr
    )

    assert status == 0, stderr.getvalue()
    summary = json.loads(summary_path.read_text())
    assert summary["read"] == len(good) + len(bad) + len(repeats)
    assert (summary["published"], summary["rejected"], summary["duplicates"]) == (
        len(good),
        len(bad),
        len(repeats),
    )
    assert summary["rejected_by_reason"] == {
        "invalid_value": 1,
        "not_json": 1,
        "unknown_field": 1,
        "unsupported_schema_version": 1,
        "wrong_type": 1,
    }
    bad_line_numbers = [n for n, line in enumerate(lines, start=1) if line in bad]
    reported = stderr.getvalue().splitlines()
    assert [line.split(": ")[0] for line in reported] == [f"{source}:{n}" for n in bad_line_numbers]
    typo_at = list(json.loads(bad[2])).index("ratng") + 1  # the key itself is never printed
    typo = f"unknown_field at <key #{typo_at}: 5 characters, like rating>"
    assert f"{source}:{bad_line_numbers[2]}: {typo}" in reported
    assert VALID_NHS_NUMBER not in stderr.getvalue() + stdout.getvalue()

    topics = [f"{prefix}.{t}" for t in TYPES]
    records = consume(kafka_bootstrap, topics, len(good))
    assert sorted(r.value for r in records) == sorted(good)  # each once; no bad line
    by_org: dict[str, list[Any]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        event = json.loads(record.value)
        assert record.topic == f"{prefix}.{event['event_type']}"
        assert record.key == event["org_id"].encode()  # contract v1.1: keyed by org_id
        assert record.partition == partition_for(event["org_id"], PARTITIONS)
        by_org[f"{record.topic} {record.key!r}"].append(record.value)
    for sequence in by_org.values():
        assert sequence == [line for line in good if line in sequence]  # file order


@pytest.mark.kafka
def test_missing_topics_are_created_with_the_configured_partitions(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "one.jsonl"
    source.write_bytes(as_line(valid_event("alert_response")) + b"\n")
    assert run_publish(publish_args(str(source)), io.StringIO(), io.StringIO()) == 0
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = admin.describe_topics([f"{prefix}.{t}" for t in TYPES])
    finally:
        admin.close()
    assert sorted(len(topic["partitions"]) for topic in described) == [PARTITIONS] * len(TYPES)


@pytest.mark.kafka
def test_the_publisher_api_validates_first_and_sends_what_it_was_given(
    kafka_bootstrap: str, prefix: str
) -> None:
    as_bytes = as_line(valid_event("incident_report", event_id=str(uuid.uuid4())))
    as_dict = valid_event("patient_feedback", event_id=str(uuid.uuid4()))
    with Publisher() as publisher:
        publisher.publish(as_bytes)
        publisher.publish(as_dict)
        with pytest.raises(EventRejected) as rejected:
            publisher.publish(valid_event("patient_feedback", rating=True))
    assert (rejected.value.reason, rejected.value.field) == ("wrong_type", "rating")

    records = consume(kafka_bootstrap, [f"{prefix}.{t}" for t in TYPES], 2)
    values = {r.topic: r.value for r in records}
    assert values == {
        f"{prefix}.incident_report": as_bytes,
        f"{prefix}.patient_feedback": json.dumps(as_dict, ensure_ascii=False).encode(),
    }


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port nothing listens on (bound without listening, so no one else takes it)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def test_an_unreachable_broker_fails_fast_with_a_clear_message(
    closed_port: int, tmp_path: Path
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(as_line(valid_event("incident_report")) + b"\n")
    stdout, stderr = io.StringIO(), io.StringIO()
    bootstrap = f"127.0.0.1:{closed_port}"

    status = run_publish(
        publish_args(str(source), "--bootstrap", bootstrap, "--timeout", "2"), stdout, stderr
    )

    assert status != 0
    assert f"cannot reach Kafka at {bootstrap} within 2 s" in stderr.getvalue()
    assert stdout.getvalue() == ""


def test_the_broker_comes_from_the_settings_without_bootstrap(
    closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_KAFKA_BOOTSTRAP", f"127.0.0.1:{closed_port}")
    stderr = io.StringIO()
    status = run_publish(publish_args("-", "--timeout", "1"), io.StringIO(), stderr)
    assert status != 0
    assert f"cannot reach Kafka at 127.0.0.1:{closed_port}" in stderr.getvalue()
