"""A Kafka record's origin reads back as the (topic, partition) it was made from; any other
origin (a file's line, a simulation's counter) names no input partition."""

from __future__ import annotations

import pytest

from pipeline.kafka_origin import input_partition, kafka_origin


@pytest.mark.parametrize(
    ("topic", "partition", "offset"),
    [("nhs.incident_report", 0, 0), ("a-b_c.D9", 2147483647, 10**15), ("t" * 249, 7, 1)],
)
def test_a_kafka_origin_reads_back_as_its_topic_and_partition(
    topic: str, partition: int, offset: int
) -> None:
    origin = kafka_origin(topic, partition, offset)
    assert origin == f"{topic}/{partition}@{offset}"
    assert input_partition(origin) == (topic, partition)


@pytest.mark.parametrize(
    "origin",
    ["events/day-1.jsonl:12", "sim:3", "t/0@", "t/x@1", "/0@1", "t/0@1 ", "t" * 250 + "/0@1"],
)
def test_any_other_origin_names_no_partition(origin: str) -> None:
    assert input_partition(origin) is None
