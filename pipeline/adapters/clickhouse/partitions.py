"""Splitting inserts so that none spans more partitions than ClickHouse allows.

ClickHouse refuses an insert whose rows fall into more than `max_partitions_per_insert_block`
partitions (default 100; error 252, TOO_MANY_PARTS). A batch of events spread over decades of
months would hit it. Each table's partition key is read from `system.tables`; rows are grouped
by the key's value and the groups sent in inserts of at most `MAX_PARTITIONS_PER_INSERT`
partitions each. A key this module cannot evaluate is handled by sending at most that many
rows per insert, which can never span more partitions than rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any

MAX_PARTITIONS_PER_INSERT = 100
Row = dict[str, Any]
PartitionOf = Callable[[Row], Hashable]

_UNKNOWN: Hashable = object()  # a key not evaluated here: each row counts as its own partition
_KEY = re.compile(r"^(toYYYYMM|toYear|toStartOfMonth|toDate|toMonday)\((\w+)\)$")
_OF_MOMENT: dict[str, Callable[[datetime], Hashable]] = {
    "toYYYYMM": lambda m: (m.year, m.month),
    "toStartOfMonth": lambda m: (m.year, m.month),
    "toYear": lambda m: m.year,
    "toDate": lambda m: m.date(),
    "toMonday": lambda m: m.date().toordinal() - m.weekday(),
}


def partition_function(partition_key: str) -> PartitionOf | None:
    """How to compute `partition_key` (as `system.tables` writes it) from a row; None when
    there is no key (one partition), and a fallback of one row per "partition" when the key
    is not one this module knows."""
    key = partition_key.strip()
    if not key or key == "tuple()":
        return None
    found = _KEY.match(key)
    if found is None:
        return _row_identity
    of_moment, column = _OF_MOMENT[found.group(1)], found.group(2)
    return lambda row: of_moment(_moment(row[column]))


def split_by_partition(rows: list[Row], partition_of: PartitionOf | None) -> list[list[Row]]:
    """`rows` in chunks that each span at most MAX_PARTITIONS_PER_INSERT partitions.

    Deterministic: the same rows always give the same chunks (so the same insert tokens).
    Rows keep their order within each partition.
    """
    if partition_of is None:
        return [rows]
    groups: dict[Hashable, list[Row]] = {}
    for index, row in enumerate(rows):
        key = partition_of(row)
        groups.setdefault(index if key is _UNKNOWN else key, []).append(row)
    if len(groups) <= MAX_PARTITIONS_PER_INSERT:
        return [rows]
    keys = sorted(groups, key=repr)
    chunks = []
    for first in range(0, len(keys), MAX_PARTITIONS_PER_INSERT):
        chunk = [
            row for key in keys[first : first + MAX_PARTITIONS_PER_INSERT] for row in groups[key]
        ]
        chunks.append(chunk)
    return chunks


def _row_identity(row: Row) -> Hashable:
    return _UNKNOWN


def _moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
