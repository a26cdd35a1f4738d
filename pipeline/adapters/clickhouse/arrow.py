"""Insert bodies in the Arrow IPC stream format (ClickHouse's `ArrowStream`), built from columns.

Every insert is one Arrow record batch whose column types follow the table's own ClickHouse
types, as `system.columns` lists them (read once per sink): the DDL stays the one description
of a table. ClickHouse converts each Arrow column to its column's type on insert, the same way
on the embedded engine (chDB) and on a server; the mapping below uses only conversions both have
had for years (a UUID goes as its text, since Arrow's 16-byte UUIDs need ClickHouse 26.3+; every
date-time as microseconds since the epoch in UTC).

Why Arrow: the columns are converted to Arrow arrays in C (pyarrow), a row object per event is
never made, and ClickHouse reads typed columns instead of parsing text with best-effort
date-time parsing. The body is a deterministic function of the values and their types (no
timestamps, no random padding), so a retried batch gives byte-identical bytes and the same
deduplication token.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import ConfigError, SinkRejected

Columns = Mapping[str, Sequence[Any]]
"""Column name -> one value per row (every column the same length)."""

FORMAT = "ArrowStream"

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_SCALARS: dict[str, pa.DataType] = {
    "String": pa.string(),
    "UUID": pa.string(),  # as text: ClickHouse parses it (see the module docstring)
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Bool": pa.bool_(),
    "Date": pa.date32(),
    "Date32": pa.date32(),
}
_WRAPPED = re.compile(r"^(LowCardinality|Nullable|Array)\((.*)\)$")
_DATETIME = re.compile(r"^DateTime(64)?(\(.*\))?$")


def arrow_type(clickhouse_type: str) -> pa.DataType:
    """The Arrow type a value of `clickhouse_type` is sent as.

    Raises ConfigError for a type this module has no form for (a migration added one): the
    insert could not be built, whatever the rows.
    """
    text = clickhouse_type.strip()
    wrapped = _WRAPPED.match(text)
    if wrapped is not None:
        inner = arrow_type(wrapped.group(2))
        return pa.list_(inner) if wrapped.group(1) == "Array" else inner
    if _DATETIME.match(text):
        return _TIMESTAMP
    if text.startswith("FixedString(") or text.startswith("Enum"):
        return pa.string()
    found = _SCALARS.get(text)
    if found is None:
        raise ConfigError(f"ClickHouse column type {clickhouse_type!r} has no Arrow form here")
    return found


def is_uuid(clickhouse_type: str) -> bool:
    return clickhouse_type.replace("Nullable(", "").startswith("UUID")


def arrow_batch(columns: Columns, types: Mapping[str, str], table: str = "") -> pa.RecordBatch:
    """`columns` as one Arrow record batch typed by `types` (ClickHouse types by column name).
    Date-times may be aware (any zone) or naive (read as UTC); UUID columns take `uuid.UUID`
    or its text.

    Raises SinkRejected when a value cannot take its column's type (the same rows would
    always fail): the message names the table, the column and the type, never the value.
    """
    arrays = []
    for name, values in columns.items():
        kind = types.get(name)
        if kind is None:
            raise ConfigError(f"no column {name!r} in the table's ClickHouse columns")
        if is_uuid(kind):
            values = _uuid_text(values)
        try:
            arrays.append(pa.array(values, type=arrow_type(kind)))
        except (ValueError, TypeError, OverflowError) as exc:
            where = f"{table}." if table else ""
            raise SinkRejected(
                f"a value of column {where}{name} does not fit {kind} ({type(exc).__name__})"
            ) from None
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


class _NoPandas:
    """An import finder that makes pandas unavailable while it is on `sys.meta_path`."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"no {name} while pyarrow probes for it", name=name)
        return None  # not ours: the next finder's


_probe_lock = threading.Lock()


def skip_pandas_probe() -> None:
    """Spare this process pyarrow's import of pandas (idempotent; call it before the first
    conversion of a Python list, before other threads import anything).

    pyarrow's first `pa.array` of a Python list imports pandas only to ask whether the list
    is a pandas object: about 0.25 s of CPU once per process, holding the GIL (in a replay, on
    the store thread beside the engine's second batch). The sink never hands pyarrow pandas
    objects, so that probe is made here with pandas unavailable, and pyarrow remembers the
    answer; pandas stays importable, and pyarrow's own pandas conversions still import it
    when asked for."""
    with _probe_lock:
        if "pandas" in sys.modules:
            return
        blocker = _NoPandas()
        sys.meta_path.insert(0, blocker)
        try:
            pa.array([], type=pa.int8())
        finally:
            sys.meta_path.remove(blocker)


def use_returning_memory_pool() -> str:
    """Make jemalloc Arrow's memory pool for this process when pyarrow has it (idempotent;
    call it before the first conversion), and return the pool's backend name.

    pyarrow's default, mimalloc, keeps the pages it has touched: a worker that had stored a
    year of batches of 20,000 events held 37-47 MB resident in mimalloc's arena with nothing
    allocated from it (docs/operations.md, "Worker memory"). pyarrow's jemalloc hands pages back
    about a second after they are freed (its decay), and the system allocator would leave them
    in glibc's per-thread arenas instead. The bytes Arrow builds are the same whichever pool
    holds them."""
    if "jemalloc" in pa.supported_memory_backends():
        pool = pa.jemalloc_memory_pool()
        if pa.default_memory_pool().backend_name != pool.backend_name:
            pa.set_memory_pool(pool)
    return str(pa.default_memory_pool().backend_name)


def arrow_body(batch: pa.RecordBatch) -> bytes:
    """The `ArrowStream` body of one insert: the schema, then `batch`."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue())


def _uuid_text(values: Sequence[Any]) -> list[Any]:
    """UUIDs as 32 hex digits (ClickHouse has parsed UUIDs without dashes since 20.6), about
    three times as fast to make as `str`; text and None are kept as they are."""
    try:
        return [v.hex for v in values]
    except AttributeError:
        return [v if v is None or isinstance(v, str) else v.hex for v in values]


def latest_per_key(keys: pa.Array, moments: pa.Array, tags: pa.Array) -> list[tuple[Any, Any, Any]]:
    """Each distinct value of `keys` with the latest of its `moments` and that row's value of
    `tags` (Python values, by key; of rows with equal moments, the first).

    Sorted, then each run's first row: `Table.group_by` would do it in one call, but it
    imports `pyarrow.acero` and with it pandas (about 0.25 s of a fresh process's CPU)."""
    if not len(keys):
        return []
    table = pa.table({"key": keys, "at": moments})
    order = pc.sort_indices(table, sort_keys=[("key", "ascending"), ("at", "descending")])
    keys, moments, tags = keys.take(order), moments.take(order), tags.take(order)
    ends = pc.run_end_encode(keys).run_ends.to_pylist()
    firsts = pa.array([0, *ends[:-1]], pa.int64())
    return list(
        zip(
            keys.take(firsts).to_pylist(),
            moments.take(firsts).to_pylist(),
            tags.take(firsts).to_pylist(),
            strict=True,
        )
    )


def columns_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Rows (mappings with the same keys) as columns."""
    if not rows:
        return {}
    return {name: [row[name] for row in rows] for name in rows[0]}


def row_count(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0
