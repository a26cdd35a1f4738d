"""The sink's inserts: one Arrow record batch each, deduplicated by a token over its exact
bytes, split by partition, and run side by side on insert threads when they have no order
among them.

`Inserts` is a base of `ClickHouseSink` (pipeline/adapters/clickhouse/__init__.py), first
among them, so its methods are the ones the other bases' declarations (`BatchWrites`,
`Outbox`, `SmallState`) stand for. It needs `database`, `_client`, `_connect` and
`query_dicts` (the sink's), and `_init_inserts()` called once the client is open.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.adapters.clickhouse import arrow
from pipeline.adapters.clickhouse.connection import classify
from pipeline.adapters.clickhouse.partitions import split_by_partition
from pipeline.errors import SinkRejected, SinkUnavailable

# optimize_on_insert=0: ClickHouse need not collapse rows of equal key within one insert, as
# it does by default for ReplacingMergeTree; the pipeline's inserts hold one row per key (the
# engine stores an event once, a window once per write) and readers use FINAL, argMax or
# DISTINCT across inserts anyway. It makes an events insert about a fifth cheaper in chDB.
_INSERT_SETTINGS = {"async_insert": 0, "optimize_on_insert": 0}
T = TypeVar("T")

# Inserts into different tables that have no order among them (`insert_rows_together`) run on
# this many threads, each with a client of its own.
CONCURRENT_INSERTS = 3


@dataclass(frozen=True, slots=True)
class TableShape:
    """What an insert into a table needs to know of it: its columns' ClickHouse types and its
    partition key (its `_local` table's, behind a Distributed table)."""

    types: Mapping[str, str]
    partition_key: str


class Inserts:
    """Idempotent inserts, alone or side by side (see the module doc)."""

    database: str
    _client: Client

    def _connect(self) -> Client:
        raise NotImplementedError

    def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _init_inserts(self) -> None:
        arrow.skip_pandas_probe()
        arrow.use_returning_memory_pool()
        self._shapes: dict[str, TableShape] = {}  # of self.database's tables, read once
        self._shapes_of = ""  # the database `_shapes` describes
        self._inserters: ThreadPoolExecutor | None = None  # opened on first use
        self._local = threading.local()  # an inserter thread's own client
        self._spare_clients: list[Client] = []
        self._spare_lock = threading.Lock()

    def _close_inserts(self) -> None:
        if self._inserters is not None:
            self._inserters.shutdown(wait=True)
            self._inserters = None
        with self._spare_lock:
            for client in self._spare_clients:
                client.close()
            self._spare_clients = []

    def _forget_shapes(self) -> None:
        """Tables may have been created or rebuilt: read their shapes again when next needed."""
        self._shapes, self._shapes_of = {}, ""

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]], token: str) -> None:
        """Insert `rows` (mappings with the same keys) into `table` (see `insert_columns`)."""
        if rows:
            self.insert_columns(table, arrow.columns_of(rows), token)

    def insert_rows_together(
        self, inserts: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], token: str
    ) -> None:
        """`insert_rows` of each (table, rows), at the same time: for inserts that have no
        order among them (different tables, nothing read between them). Each runs on a
        thread with a client of its own, so ClickHouse writes their parts in parallel and
        beside the Python that builds the next body. Returns once every one has finished;
        then raises the first one's error, if any (a retry sends the same bytes under the
        same tokens, and those that were stored are dropped as duplicates)."""
        inserts = [(table, rows) for table, rows in inserts if rows]
        if len(inserts) < 2:
            for table, rows in inserts:
                self.insert_rows(table, rows, token)
            return
        for table, _ in inserts:
            self.table_types(table)  # read the shapes here, not on several threads at once
        self._apart([partial(self.insert_rows, table, rows, token) for table, rows in inserts])

    def _apart(self, actions: Sequence[Callable[[], T]]) -> list[T]:
        """Run `actions` on the insert threads, each on its thread's own client; their
        values once every one has finished, or the first one's error."""
        if self._inserters is None:
            self._inserters = ThreadPoolExecutor(
                CONCURRENT_INSERTS, thread_name_prefix="pipeline-insert"
            )
        futures = [self._inserters.submit(self._insert_apart, action) for action in actions]
        wait(futures)
        return [future.result() for future in futures]  # raises the first failure

    def _insert_apart(self, action: Callable[[], T]) -> T:
        """`action()` on this inserter thread's own client."""
        if getattr(self._local, "client", None) is None:
            client = self._connect()
            with self._spare_lock:
                self._spare_clients.append(client)
            self._local.client = client
        return action()

    def insert_columns(self, table: str, columns: arrow.Columns, token: str) -> None:
        """Insert `columns` (name -> one value per row) into `table` (see `insert_batch`).
        Raises SinkRejected when a value does not fit its column."""
        if arrow.row_count(columns):
            batch = arrow.arrow_batch(columns, self.table_types(table), table)
            self.insert_batch(table, batch, token)

    def insert_batch(self, table: str, batch: pa.RecordBatch, token: str) -> None:
        """Insert `batch` (typed as `arrow.arrow_batch` types it) into `table`, deduplicated by
        token+bytes: the same rows under the same token are stored once.

        Rows spread over more partitions than one insert may touch are sent in several inserts
        (`pipeline.adapters.clickhouse.partitions`), each deduplicated on its own bytes.
        Raises SinkRejected when ClickHouse refuses the rows, SinkUnavailable when ClickHouse
        cannot be reached.
        """
        if not batch.num_rows:
            return
        for part in split_by_partition(batch, self._shape(table).partition_key):
            self._insert_body(table, part.schema.names, arrow.arrow_body(part), token)

    def table_types(self, table: str) -> Mapping[str, str]:
        """The ClickHouse type of each of `table`'s columns (read once per database)."""
        return self._shape(table).types

    def _shape(self, table: str) -> TableShape:
        shape = self._load_shapes().get(table)
        if shape is None:
            raise SinkRejected(f"insert into {table}: no such table in {self.database}")
        return shape

    def _load_shapes(self) -> Mapping[str, TableShape]:
        """Every table's shape in `self.database`, read on first use (per database)."""
        if self._shapes_of != self.database:
            parameters = {"db": self.database}
            keys = self.query_dicts(
                "SELECT name, partition_key FROM system.tables WHERE database = {db:String}",
                parameters,
            )
            types: dict[str, dict[str, str]] = {}
            for row in self.query_dicts(
                "SELECT table, name, type FROM system.columns WHERE database = {db:String}",
                parameters,
            ):
                types.setdefault(str(row["table"]), {})[str(row["name"])] = str(row["type"])
            partition_keys = {str(r["name"]): str(r["partition_key"]) for r in keys}
            self._shapes = {
                name: TableShape(
                    columns,
                    partition_keys.get(name) or partition_keys.get(f"{name}_local", ""),
                )
                for name, columns in types.items()
            }
            self._shapes_of = self.database
        return self._shapes

    def _insert_body(self, table: str, names: list[str], body: bytes, token: str) -> None:
        digest = hashlib.sha256(body).hexdigest()[:24]
        settings = {**_INSERT_SETTINGS, "insert_deduplication_token": f"{token}|{table}|{digest}"}
        client = getattr(self._local, "client", None) or self._client
        try:
            client.raw_insert(
                f"{self.database}.{table}",
                column_names=names,
                insert_block=body,
                fmt=arrow.FORMAT,
                settings=settings,
            )
        except ClickHouseError as exc:
            raise classify(exc, f"insert into {table}", refused=SinkRejected) from exc
        except OSError as exc:
            raise SinkUnavailable(f"insert into {table}: {exc}") from exc
