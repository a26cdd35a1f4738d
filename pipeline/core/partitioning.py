"""Which partition an organisation's events go to: the rule publishers and workers share.

Kafka's default partitioner hashes the whole record key with murmur2; ours hashes the
organisation code alone, so all units of one organisation share a partition and one worker
sees a whole organisation. Pure: the hash is Kafka's murmur2 (its Java client's
`Utils.murmur2`), written out here so the rule needs no Kafka library.
"""

from __future__ import annotations

PARTITIONING_RULE = (
    "Partition = (murmur2(UTF-8 org_id) & 0x7fffffff) mod the topic's partition count: Kafka's "
    "default partitioner applied to the organisation code alone, not to the whole key, so all "
    "units of one organisation share a partition and each unit's events stay in order. A "
    "service with its own producer must choose the partition the same way."
)

_MASK = 0xFFFFFFFF
_SEED = 0x9747B28C
_M = 0x5BD1E995


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of `data`, as an unsigned 32-bit integer."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & ~3
    extra = length % 4
    if extra >= 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(org_id: str, partitions: int) -> int:
    """The partition (0 to partitions - 1) of an organisation's events (PARTITIONING_RULE)."""
    return (murmur2(org_id.encode()) & 0x7FFFFFFF) % partitions
