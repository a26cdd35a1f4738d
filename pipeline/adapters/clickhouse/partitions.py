"""Splitting inserts so that none spans more partitions than ClickHouse allows.

ClickHouse refuses an insert whose rows fall into more than `max_partitions_per_insert_block`
partitions (default 100; error 252, TOO_MANY_PARTS). A batch of events spread over decades of
months would hit it. Each table's partition key is read from `system.tables`; the key is
computed over the insert's Arrow column (in UTC, as ClickHouse does for these `'UTC'` columns)
and the rows sent in inserts of at most `MAX_PARTITIONS_PER_INSERT` partitions each. A key
this module cannot evaluate is handled by sending at most that many rows per insert, which can
never span more partitions than rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

MAX_PARTITIONS_PER_INSERT = 100

_KEY = re.compile(r"^(toYYYYMM|toYear|toStartOfQuarter|toStartOfMonth|toDate|toMonday)\((\w+)\)$")


def _int(value: int) -> pa.Scalar:
    """Typed: pyarrow infers a bare Python number's type, which imports pandas (spared at the
    sink's start, `arrow.skip_pandas_probe`); made per call, after that."""
    return pa.scalar(value, pa.int64())


def _months(moments: pa.Array) -> pa.Array:
    return pc.add(pc.multiply(pc.year(moments), _int(12)), pc.month(moments))


def _quarters(moments: pa.Array) -> pa.Array:
    return pc.add(pc.multiply(pc.year(moments), _int(4)), pc.quarter(moments))


def _days(moments: pa.Array) -> pa.Array:
    return pc.cast(pc.cast(moments, pa.date32()), pa.int32())


# Each key as an integer that grows with time, so that keys that are close span few partitions.
_OF_MOMENTS: dict[str, Callable[[pa.Array], pa.Array]] = {
    "toYYYYMM": _months,
    "toStartOfMonth": _months,
    "toYear": pc.year,
    "toStartOfQuarter": _quarters,
    "toDate": _days,
    "toMonday": lambda m: pc.subtract(_days(m), pc.day_of_week(m)),
}


def partition_keys(batch: pa.RecordBatch, partition_key: str) -> pa.Array | None:
    """The partition of each row of `batch` under `partition_key` (as `system.tables` writes
    it), as an integer; None when the key is not one this module knows or cannot be computed
    for every row."""
    found = _KEY.match(partition_key.strip())
    if found is None or found.group(2) not in batch.schema.names:
        return None
    moments = batch.column(found.group(2))
    if not pa.types.is_timestamp(moments.type) or moments.null_count:
        return None
    # Without its zone: the values are UTC already, and zone-less temporal functions need no
    # time-zone database (a slim container may have none).
    keys: pa.Array = _OF_MOMENTS[found.group(1)](moments.cast(pa.timestamp("us")))
    return keys


def split_by_partition(batch: pa.RecordBatch, partition_key: str) -> list[pa.RecordBatch]:
    """`batch` in record batches that each span at most MAX_PARTITIONS_PER_INSERT partitions.

    Deterministic: the same rows always give the same batches (so the same insert tokens).
    Rows keep their order within each batch; most batches come back whole, found so from the
    earliest and latest key alone.
    """
    key = partition_key.strip()
    count = batch.num_rows
    if not key or key == "tuple()" or count <= MAX_PARTITIONS_PER_INSERT:
        return [batch]
    keys = partition_keys(batch, key)
    if keys is None:  # one row per "partition", to be safe
        step = MAX_PARTITIONS_PER_INSERT
        return [batch.slice(first, step) for first in range(0, count, step)]
    bounds = pc.min_max(keys)
    if bounds["max"].as_py() - bounds["min"].as_py() < MAX_PARTITIONS_PER_INSERT:
        return [batch]
    distinct = sorted(pc.unique(keys).to_pylist())
    if len(distinct) <= MAX_PARTITIONS_PER_INSERT:
        return [batch]
    chunks = []
    for first in range(0, len(distinct), MAX_PARTITIONS_PER_INSERT):
        group = distinct[first : first + MAX_PARTITIONS_PER_INSERT]
        first_key, last_key = _int(group[0]), _int(group[-1])
        inside = pc.and_(pc.greater_equal(keys, first_key), pc.less_equal(keys, last_key))
        chunks.append(batch.filter(inside))
    return chunks
