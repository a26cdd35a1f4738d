"""Which Kafka key an event carries, and so which partition (and worker) it reaches.

The key is the organisation code alone (`org_id`, UTF-8). Every standard client partitions a
keyed message by a hash of its key only: the Java client and kafka-python by murmur2,
librdkafka (kcat, confluent-kafka) by CRC32 (`consistent_random`). Whatever the publisher's
partitioner, one organisation's events therefore share one partition per topic, and since the
four input topics have the same partition count and workers are given the same partition
numbers of all of them, one worker holds a whole organisation. The worker does not compute
partitions: it holds the organisations its partitions bring (pipeline/runtime/step.py).

One condition remains: all publishers of one organisation must use the same partitioner (two
partitioners may place the same key on different partitions). `pipeline publish` uses the
Java/kafka-python one, `partition_for`.
"""

from __future__ import annotations

PARTITIONING_RULE = (
    "Key = the UTF-8 org_id alone; use the client's default partitioner on it (Java and "
    "kafka-python: murmur2, as `pipeline publish` does; librdkafka: consistent_random), so all "
    "events of one organisation share one partition per topic. All publishers of one "
    "organisation must use the same partitioner. Keys `org_id/unit_id` (contract v1) are still "
    "read, but then only a murmur2 partition of org_id keeps an organisation together."
)


def message_key(org_id: str) -> bytes:
    """The Kafka key of an event of `org_id`."""
    return org_id.encode()


def partition_for(org_id: str, partitions: int) -> int:
    """Kafka's default (murmur2) partition of an organisation's key."""
    return (murmur2(message_key(org_id)) & 0x7FFFFFFF) % partitions


def murmur2(data: bytes) -> int:
    """MurmurHash2 as the Java client computes it (org.apache.kafka.common.utils.Utils), as an
    unsigned 32-bit integer (Java's int is its two's complement)."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[length - length % 4 :]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h
