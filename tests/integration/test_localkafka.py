"""The local broker from deploy/kafka/localkafka.py is a working Kafka: topics, keys, order."""

from __future__ import annotations

import os
import uuid
import warnings

import pytest

with warnings.catch_warnings():
    # kafka-python 3.0 loads its protocol schemas with importlib.resources.read_text, deprecated
    # since Python 3.11; the project runs its tests with warnings as errors.
    warnings.filterwarnings("ignore", r"(read|open)_text is deprecated", DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

pytestmark = pytest.mark.kafka


def test_create_produce_consume_in_order(kafka_bootstrap: str) -> None:
    topic = f"localkafka-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="test-admin")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        assert topic in admin.list_topics()
    finally:
        admin.close()

    sent = [(b"unit-7", b"first"), (b"unit-7", b"second"), (b"unit-7", b"third")]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        for key, value in sent:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic}-readers",
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    try:
        received = []
        for record in consumer:
            received.append(record)
            if len(received) == len(sent):
                break
    finally:
        consumer.close()

    assert [(r.key, r.value) for r in received] == sent
    assert len({r.partition for r in received}) == 1, "one key, one partition"
    assert [r.offset for r in received] == [0, 1, 2]


def test_marked_tests_get_the_bootstrap_in_the_environment(kafka_bootstrap: str) -> None:
    assert os.environ["PIPELINE_KAFKA_BOOTSTRAP"] == kafka_bootstrap
    assert kafka_bootstrap.startswith("127.0.0.1:")
    assert not kafka_bootstrap.endswith(":9092")
