"""The partitioning rule: key = org_id, and murmur2 exactly as Kafka's clients compute it."""

from __future__ import annotations

import random
import zlib

from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from pipeline.core.partitioning import message_key, murmur2, partition_for


def test_murmur2_is_the_java_clients() -> None:
    rng = random.Random(11)
    for length in range(40):
        for _ in range(20):
            data = rng.randbytes(length)
            assert murmur2(data) & 0x7FFFFFFF == aiokafka_murmur2(data) & 0x7FFFFFFF
    assert murmur2(b"21") == -973932308 + (1 << 32)  # Kafka's UtilsTest.testMurmur2 vector


def test_one_organisation_one_key_whatever_the_unit() -> None:
    assert message_key("RXA") == b"RXA"
    assert partition_for("RXA", 6) == (murmur2(b"RXA") & 0x7FFFFFFF) % 6


def test_the_v1_key_would_scatter_an_organisation_under_librdkafkas_partitioner() -> None:
    # librdkafka's consistent_random is CRC32 of the whole key: with key = org_id an
    # organisation has one partition; with the v1 key org_id/unit_id its units scatter.
    units = [f"unit-{u}" for u in range(6)]
    orgs = [f"R{n:02d}" for n in range(20)]
    scattered = [len({zlib.crc32(f"{org}/{unit}".encode()) % 6 for unit in units}) for org in orgs]
    assert max(scattered) > 1
    assert {message_key(org) for org in orgs} == {org.encode() for org in orgs}
