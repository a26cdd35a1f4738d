"""Publishing without a broker: the partition rule, what the Publisher sends for what it is
given, and `pipeline publish --check` on good, bad and repeated lines."""

from __future__ import annotations

import argparse
import io
import json
import socket
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner import murmur2 as kafka_murmur2

from pipeline.adapters.publisher import KafkaTimeouts
from pipeline.cli.publish import add_publish_arguments, run_publish
from pipeline.core.decode import Rejection, decode
from pipeline.core.partitioning import message_key, murmur2, partition_for
from pipeline.errors import EventRejected, TransportError
from pipeline.kafka_bootstrap import KafkaBootstrap
from pipeline.publishing import Publisher, validate
from pipeline.settings import Settings
from tests.support.event_examples import VALID_NHS_NUMBER, as_line, valid_event


@pytest.mark.parametrize("org_id", ["RX1", "R0A", "ABCDE12345", "RTH", "7A4"])
def test_the_partition_of_an_organisation_is_kafkas_murmur2_of_its_code(org_id: str) -> None:
    expected = (aiokafka_murmur2(org_id.encode()) & 0x7FFFFFFF) % 12
    assert partition_for(org_id, 12) == expected


class Cluster:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def topics(self) -> set[str]:
        return {"t"}


def test_the_key_is_the_organisation_so_default_partitioners_keep_it_together() -> None:
    from kafka.partitioner import DefaultPartitioner

    for org_id in ("RX1", "RY2", "RZ3", "R1H"):
        key = message_key(org_id)
        chosen = DefaultPartitioner().partition("t", key, key, None, None, Cluster(6))
        assert key == org_id.encode() and chosen == partition_for(org_id, 6)


def test_bytes_are_sent_exactly_as_given() -> None:
    raw = as_line(valid_event("incident_report")).replace(b", ", b" ,  ")
    assert validate(raw)[1] == raw


def test_a_dict_is_written_as_json_with_datetimes_and_uuids_as_text() -> None:
    event_id = uuid.uuid4()
    event = valid_event(
        "incident_report", event_id=event_id, occurred_at=datetime(2024, 3, 4, 10, tzinfo=UTC)
    )
    decoded, _ = validate(event)
    assert decoded.event_id == event_id
    assert decoded.occurred_at == datetime(2024, 3, 4, 10, tzinfo=UTC)


def test_a_model_is_written_as_its_json() -> None:
    event = decode(as_line(valid_event("target_metric")))
    assert not isinstance(event, Rejection)
    assert validate(event) == (event, event.model_dump_json(exclude_none=True).encode())


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"target": float("nan")}, "not_json"),
        ({"source": "\ud800"}, "not_utf8"),
        ({"target": 2}, "invalid_value"),
    ],
)
def test_an_invalid_event_is_rejected_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(EventRejected) as rejected:
        validate(valid_event("target_metric", **changes))
    assert rejected.value.reason == reason


def test_anything_else_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        validate([1, 2])  # type: ignore[arg-type]


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def test_a_publisher_without_a_broker_raises_a_transport_error(closed_port: int) -> None:
    settings = Settings.model_construct(
        kafka_bootstrap=KafkaBootstrap.parse(f"127.0.0.1:{closed_port}")
    )
    with pytest.raises(TransportError, match=f"cannot reach Kafka at 127.0.0.1:{closed_port}"):
        Publisher(settings, timeouts=KafkaTimeouts(connect_seconds=1))


def check(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_publish_arguments(parser)
    stdout, stderr = io.StringIO(), io.StringIO()
    status = run_publish(parser.parse_args(["--check", *argv]), stdout, stderr)
    return status, stdout.getvalue(), stderr.getvalue()


def test_check_reports_bad_lines_by_place_reason_and_field_only(tmp_path: Path) -> None:
    good = as_line(valid_event("patient_feedback"))
    secret = f"call me, NHS {VALID_NHS_NUMBER}"
    bad = as_line(valid_event("patient_feedback", comment=secret, rating="2"))
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join([good, b"", bad, b"{oops", good]) + b"\n")
    summary_path = tmp_path / "summary.json"

    status, stdout, stderr = check(str(source), "--summary-json", str(summary_path))

    assert status == 0
    assert stderr.splitlines() == [f"{source}:3: wrong_type at rating", f"{source}:4: not_json"]
    assert VALID_NHS_NUMBER not in stdout + stderr and "call me" not in stdout + stderr
    assert stdout.splitlines()[0] == "read 4 lines: 1 valid, 2 rejected, 1 duplicates"
    assert json.loads(summary_path.read_text()) == {
        "read": 4,
        "published": 0,
        "rejected": 2,
        "duplicates": 1,
        "rejected_by_reason": {"not_json": 1, "wrong_type": 1},
        "published_by_topic": {},
        "valid": 1,
    }


def test_check_reports_at_most_the_first_bad_lines_and_counts_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"nope\n" * 7)
    status, stdout, stderr = check(str(source), "--max-reported", "3")
    assert status == 0
    assert stderr.splitlines()[3:] == ["... and 4 more bad lines"]
    assert "7 rejected" in stdout


def test_standard_input_is_read_for_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = as_line(valid_event("alert_response")) + b"\nnope\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines)))
    status, stdout, stderr = check("-")
    assert status == 0
    assert stderr == "<stdin>:2: not_json\n"
    assert stdout.startswith("read 2 lines: 1 valid, 1 rejected")


def test_an_unreadable_file_stops_before_anything_is_read(tmp_path: Path) -> None:
    status, stdout, stderr = check(str(tmp_path / "missing.jsonl"))
    assert status == 1
    assert stdout == ""
    assert "cannot read" in stderr and "missing.jsonl" in stderr


@given(st.binary(max_size=64))
def test_the_core_hash_is_kafkas_murmur2(data: bytes) -> None:
    assert murmur2(data) == kafka_murmur2(data)
