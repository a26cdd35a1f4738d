"""ClickHouse through clickhouse-connect: migrations, idempotent batched inserts, queries.

The migrations are package data, `migrations/NNNN_name.sql` beside this file (read by
schema.py).

One code path for the embedded engine (`chdb:///path`, in-process) and a server (`http://…`,
or `https://…`: TLS with the server's certificate verified, against `ca_file` when given).
Every insert is one Arrow record batch (`ArrowStream`, arrow.py) typed by the table's own
columns, with a deduplication token derived from its exact bytes, into tables that honour tokens
and are keyed for replacement, so a retried or replayed batch adds nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.adapters.clickhouse import arrow
from pipeline.adapters.clickhouse.connection import classify, client_arguments, without_secret
from pipeline.adapters.clickhouse.ledger import SmallState
from pipeline.adapters.clickhouse.outbox import Outbox
from pipeline.adapters.clickhouse.partitions import split_by_partition
from pipeline.adapters.clickhouse.rows import alert_from_row
from pipeline.adapters.clickhouse.schema import Migration, load_migrations, migrations_folder
from pipeline.adapters.clickhouse.writes import BatchWrites
from pipeline.core.alerts import Alert, AlertStatus
from pipeline.core.stored import EVENT_TABLES, StoredEvent
from pipeline.endpoints import ClickHouseDsn
from pipeline.errors import SinkRejected, SinkUnavailable

__all__ = [
    "UNMATCHED_RESPONSES_SQL",
    "ClickHouseSink",
    "Migration",
    "TableShape",
    "client_arguments",
    "load_migrations",
    "migrations_folder",
]

UNMATCHED_RESPONSES_SQL = (
    # The learning loop's rule (pipeline.core.learning): a response matches an alert with its
    # id raised for the same organisation and unit, whenever either arrived.
    "SELECT uniqExact(event_id) FROM {db}.alert_responses "
    "WHERE (alert_id, org_id, unit_id) NOT IN "
    "(SELECT alert_id, org_id, unit_id FROM {db}.alerts FINAL)"
)
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


class ClickHouseSink(Outbox, SmallState, BatchWrites):
    """The pipeline's storage (and the step's `Store`). One per runtime; not thread-safe,
    except that the duplicate and revision look-ups (`known_event_ids`, `revisions_of`) go
    through a client of their own, so one thread may look up while another writes
    (`lookups_apart`)."""

    # The step may run a look-up beside another store call: they use different clients.
    lookups_apart = True

    def __init__(
        self,
        dsn: ClickHouseDsn | str,
        database: str,
        window_kind: str,
        *,
        ca_file: Path | None = None,
    ) -> None:
        self.dsn = dsn if isinstance(dsn, ClickHouseDsn) else ClickHouseDsn.parse(dsn)
        self.database = database
        self.window_kind = window_kind
        self._shapes: dict[str, TableShape] = {}  # of self.database's tables, read once
        self._shapes_of = ""  # the database `_shapes` describes
        if self.dsn.embedded:
            Path(self.dsn.path).mkdir(parents=True, exist_ok=True)
        self._ca_file = ca_file
        self._client = self._connect()
        # Look-ups get a client (a chDB connection handle, or an HTTP session) of their own,
        # opened on first use: a client runs one call at a time, and the engine thread's
        # look-ups would otherwise wait for the insert under way on the store thread. chDB
        # allows any number of connections to the one path a process hosts, and runs queries
        # of different connections in parallel (chdb.connect, clickhouse-connect's chdb
        # client); an insert's rows are visible to the other connection once it returns.
        self._lookup_client: Client | None = None
        self._lookup_lock = threading.Lock()
        self._inserters: ThreadPoolExecutor | None = None  # opened on first use
        self._local = threading.local()  # an inserter thread's own client
        self._spare_clients: list[Client] = []
        self._progress_lock = threading.Lock()  # write_events may run on several threads

    def _connect(self) -> Client:
        try:
            return clickhouse_connect.get_client(**client_arguments(self.dsn, self._ca_file))
        except Exception as exc:  # the driver raises several unrelated types on connect
            raise SinkUnavailable(
                f"cannot connect to ClickHouse at {self.dsn}: {without_secret(exc, self.dsn)}"
            ) from exc

    def close(self) -> None:
        if self._inserters is not None:
            self._inserters.shutdown(wait=True)
            self._inserters = None
        for client in self._spare_clients:
            client.close()
        self._spare_clients = []
        with self._lookup_lock:
            if self._lookup_client is not None:
                self._lookup_client.close()
                self._lookup_client = None
        self._client.close()

    def migrate(self, migrations: Sequence[Migration] | None = None) -> list[str]:
        """Apply the migrations (the package's, by default) not yet applied; returns their
        names. Safe to run repeatedly; one that fails is not recorded (those before it are)."""
        db = self.database
        self._command(f"CREATE DATABASE IF NOT EXISTS {db}")
        self._command(
            f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, "
            "applied_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY version"
        )
        done = {row[0] for row in self._rows(f"SELECT version FROM {db}.schema_migrations")}
        applied = []
        for migration in load_migrations() if migrations is None else migrations:
            if migration.version in done:
                continue
            statements = [statement.replace("{db}", db) for statement in migration.statements]
            statements.append(
                f"INSERT INTO {db}.schema_migrations (version, name) VALUES "
                f"({migration.version}, '{migration.name}')"
            )
            if self.dsn.embedded:  # a script: in order, stopping at the first error
                self._command(";\n".join(statements))  # (a server takes one per request)
            else:
                for statement in statements:
                    self._command(statement)
            applied.append(migration.name)
        self._shapes, self._shapes_of = {}, ""  # tables may have been created or rebuilt
        return applied

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

    def write_events_each(
        self, groups: Sequence[Sequence[StoredEvent]], token: str
    ) -> list[SinkRejected | None]:
        """`write_events` of each group (one table each) at the same time, on the insert
        threads as `insert_rows_together`: each group's inserts are the ones `write_events`
        makes of it alone (same bytes, same tokens), so each stays atomic on its own and a
        retry is dropped as before. Per group, the refusal that left it unstored, or None;
        any other error is raised once every group has finished."""
        actions = [partial(_refusal_of, partial(self.write_events, g, token)) for g in groups]
        if len(actions) < 2:
            return [action() for action in actions]
        self._load_shapes()  # here, not on several threads at once
        return self._apart(actions)

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
            with self._lookup_lock:  # guards the list too
                self._spare_clients.append(client)
            self._local.client = client
        return action()

    def insert_columns(self, table: str, columns: arrow.Columns, token: str) -> None:
        """Insert `columns` (name -> one value per row) into `table` (see `insert_batch`).
        Raises SinkRejected when a value does not fit its column."""
        if arrow.row_count(columns):
            self.insert_batch(table, arrow.arrow_batch(columns, self.table_types(table)), token)

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

    def stats(self) -> dict[str, Any]:
        """Contract §3 `pipeline stats`: distinct ids per event type, rejections, alerts."""
        db = self.database
        events = {
            event_type.value: self._scalar(f"SELECT uniqExact(event_id) FROM {db}.{table}")
            for event_type, table in EVENT_TABLES.items()
        }
        by_status = dict.fromkeys((s.value for s in AlertStatus), 0)
        for row in self.query_dicts(
            f"SELECT status, count() AS n FROM {db}.alerts FINAL GROUP BY status"
        ):
            by_status[str(row["status"])] = int(row["n"])
        return {
            "events": events,
            "rejected": self._scalar(f"SELECT uniqExact(rejection_id) FROM {db}.rejected_events"),
            "alerts": self._scalar(
                f"SELECT count() FROM {db}.alerts FINAL WHERE status != 'withdrawn'"
            ),
            "alerts_by_status": by_status,
            "unmatched_responses": self._scalar(UNMATCHED_RESPONSES_SQL.format(db=db)),
        }

    def stored_payloads(self, batch_rows: int = 50_000) -> Iterator[bytes]:
        """Every stored event's payload, for rebuilding the engine's state."""
        for table in EVENT_TABLES.values():
            query = f"SELECT DISTINCT payload FROM {self.database}.{table}"
            try:
                with self._client.query_rows_stream(query) as stream:
                    for row in stream:
                        yield row[0].encode() if isinstance(row[0], str) else row[0]
            except ClickHouseError as exc:
                raise classify(exc, f"read {table}") from exc

    def latest_alerts(self) -> list[Alert]:
        return [
            alert_from_row(row)
            for row in self.query_dicts(
                f"SELECT * FROM {self.database}.alerts FINAL ORDER BY window_start, alert_id"
            )
        ]

    def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run a read query; rows as dicts keyed by column name."""
        return _dicts(self._client, sql, parameters)

    def query_columns(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> dict[str, Sequence[Any]]:
        """Run a read query; its columns by name (cheaper than rows when there are many). An
        empty result may name no columns: a name it lacks reads as an empty column."""
        try:
            result = self._client.query(sql, parameters=parameters)
        except ClickHouseError as exc:
            raise classify(exc, "query") from exc
        if not result.result_rows:
            return defaultdict(tuple)
        return dict(zip(result.column_names, result.result_columns, strict=True))

    def lookup_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """`query_dicts` on the look-up client: safe while another thread writes."""
        with self._lookup_lock:
            if self._lookup_client is None:
                self._lookup_client = self._connect()
            return _dicts(self._lookup_client, sql, parameters)

    def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, OPTIMIZE)."""
        self._command(sql)

    def _scalar(self, sql: str) -> int:
        rows = self._rows(sql)
        return int(rows[0][0]) if rows else 0

    def _rows(self, sql: str) -> Sequence[Sequence[Any]]:
        try:
            return self._client.query(sql).result_rows
        except ClickHouseError as exc:
            raise classify(exc, "query") from exc

    def _command(self, sql: str) -> None:
        try:
            self._client.command(sql)
        except ClickHouseError as exc:
            raise classify(exc, sql.split("(")[0][:80]) from exc


def _refusal_of(action: Callable[[], None]) -> SinkRejected | None:
    try:
        action()
    except SinkRejected as exc:
        return exc
    return None


def _dicts(client: Client, sql: str, parameters: dict[str, Any] | None) -> list[dict[str, Any]]:
    try:
        result = client.query(sql, parameters=parameters)
    except ClickHouseError as exc:
        raise classify(exc, "query") from exc
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]
