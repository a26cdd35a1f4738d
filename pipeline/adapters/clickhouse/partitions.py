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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.adapters.clickhouse.arrow import Columns, row_count, take

MAX_PARTITIONS_PER_INSERT = 100
PartitionOf = Callable[[Any], int]
"""A partition key's value, from the value of the column it is computed from."""

_KEY = re.compile(r"^(toYYYYMM|toYear|toStartOfMonth|toDate|toMonday)\((\w+)\)$")
# Each key as a number that grows with time: a column whose earliest and latest values are
# fewer than MAX_PARTITIONS_PER_INSERT apart by it spans at most that many partitions.
_OF_MOMENT: dict[str, Callable[[datetime], int]] = {
    "toYYYYMM": lambda m: m.year * 12 + m.month,
    "toStartOfMonth": lambda m: m.year * 12 + m.month,
    "toYear": lambda m: m.year,
    "toDate": lambda m: m.toordinal(),
    "toMonday": lambda m: m.toordinal() - m.weekday(),
}


def partition_function(partition_key: str) -> tuple[str, PartitionOf] | None:
    """The column `partition_key` (as `system.tables` writes it) is computed from, and how;
    None when the key is not one this module knows (or there is none)."""
    found = _KEY.match(partition_key.strip())
    if found is None:
        return None
    of_moment = _OF_MOMENT[found.group(1)]
    return found.group(2), lambda value: of_moment(_moment(value))


def split_by_partition(columns: Columns, partition_key: str) -> list[Columns]:
    """`columns` in chunks that each span at most MAX_PARTITIONS_PER_INSERT partitions.

    Deterministic: the same rows always give the same chunks (so the same insert tokens).
    Rows keep their order within each partition; most batches come back whole.
    """
    key = partition_key.strip()
    count = row_count(columns)
    if not key or key == "tuple()" or count <= MAX_PARTITIONS_PER_INSERT:
        return [columns]
    known = partition_function(key)
    if known is None or known[0] not in columns:  # one row per "partition", to be safe
        step = MAX_PARTITIONS_PER_INSERT
        return [take(columns, range(i, min(i + step, count))) for i in range(0, count, step)]
    column, partition_of = known
    if _spans_few(columns[column], partition_of):
        return [columns]
    groups: dict[int, list[int]] = {}
    for index, value in enumerate(columns[column]):
        groups.setdefault(partition_of(value), []).append(index)
    if len(groups) <= MAX_PARTITIONS_PER_INSERT:
        return [columns]
    keys = sorted(groups)
    return [
        take(
            columns, [i for k in keys[first : first + MAX_PARTITIONS_PER_INSERT] for i in groups[k]]
        )
        for first in range(0, len(keys), MAX_PARTITIONS_PER_INSERT)
    ]


def _spans_few(values: Sequence[Any], partition_of: PartitionOf) -> bool:
    """Whether `values` (date-times) surely span at most MAX_PARTITIONS_PER_INSERT partitions,
    from their earliest and latest alone (no Python call per value: this is the usual case)."""
    try:
        first, last = min(values), max(values)
    except TypeError:  # not all comparable (naive and aware date-times): group them
        return False
    if not isinstance(first, datetime):  # text compares as text, not as time
        return False
    span = partition_of(last) - partition_of(first)
    return span < MAX_PARTITIONS_PER_INSERT


def _moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
