"""ClickHouse through clickhouse-connect: migrations, idempotent batched inserts, queries.

The migrations are package data, `migrations/NNNN_name.sql` beside this file (read by
schema.py).

One code path for the embedded engine (`chdb:///path`, in-process) and a server (`http://…`,
or `https://…`: TLS with the server's certificate verified, against `ca_file` when given).
Every insert (inserts.py) is one Arrow record batch (`ArrowStream`, arrow.py) typed by the
table's own columns, with a deduplication token derived from its exact bytes, into tables that
honour tokens and are keyed for replacement, so a retried or replayed batch adds nothing.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.adapters.clickhouse.connection import (
    classify,
    client_arguments,
    connect_failure,
    held_by_another_process,
    knows_its_own_files,
)
from pipeline.adapters.clickhouse.inserts import Inserts, TableShape
from pipeline.adapters.clickhouse.ledger import SmallState
from pipeline.adapters.clickhouse.migrating import Migrating
from pipeline.adapters.clickhouse.outbox import Outbox
from pipeline.adapters.clickhouse.rows import alert_from_row
from pipeline.adapters.clickhouse.schema import (
    Migration,
    load_migrations,
    migrations_folder,
)
from pipeline.adapters.clickhouse.writes import BatchWrites
from pipeline.core.alerts import Alert, AlertStatus
from pipeline.core.stored import EVENT_TABLES, StoredEvent
from pipeline.endpoints import ClickHouseDsn
from pipeline.errors import ConfigError, SinkRejected, SinkUnavailable

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


class ClickHouseSink(Inserts, Outbox, SmallState, BatchWrites, Migrating):
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
        if self.dsn.embedded:
            try:
                Path(self.dsn.path).mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file of that name, a read-only file system
                raise ConfigError(
                    f"cannot use {self.dsn.path} for the embedded database: {exc.strerror or exc}"
                ) from exc
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
        self._init_inserts()
        self._progress_lock = threading.Lock()  # write_events may run on several threads

    def _connect(self) -> Client:
        # Asked first where it can be (chDB's refusal prints its own raw line on stderr),
        # and again after a refusal elsewhere.
        if self.dsn.embedded and knows_its_own_files():
            self._refuse_if_held_elsewhere()
        try:
            return clickhouse_connect.get_client(**client_arguments(self.dsn, self._ca_file))
        except Exception as exc:  # the driver raises several unrelated types on connect
            if self.dsn.embedded:
                self._refuse_if_held_elsewhere(exc)
            raise SinkUnavailable(
                f"cannot connect to ClickHouse at {self.dsn}: {connect_failure(exc, self.dsn)}"
            ) from exc

    def _refuse_if_held_elsewhere(self, cause: BaseException | None = None) -> None:
        if held_by_another_process(Path(self.dsn.path)):
            raise ConfigError(
                f"the embedded database at {self.dsn.path} is in use by another process (a "
                "running `pipeline worker`?): read it once that has stopped, or use a "
                "ClickHouse server (http://…) to read beside a worker"
            ) from cause

    def close(self) -> None:
        self._close_inserts()
        with self._lookup_lock:
            if self._lookup_client is not None:
                self._lookup_client.close()
                self._lookup_client = None
        self._client.close()

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

    def window_kinds_stored(self) -> set[str]:
        """The window kinds `unit_windows` holds aggregates by (`week`, `month`)."""
        sql = f"SELECT DISTINCT window_kind FROM {self.database}.unit_windows"
        return {str(row[0]) for row in self._rows(sql)}

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
        """Run a read query; its columns by name (cheaper than rows when there are many), its
        UTC date-times aware (made so by the driver, in C). An empty result may name no
        columns: a name it lacks reads as an empty column."""
        try:
            result = self._client.query(sql, parameters=parameters, tz_mode="aware")
        except ClickHouseError as exc:
            raise classify(exc, "query") from exc
        # The columns only: asking for `result_rows` first would transpose every row twice.
        columns = result.result_columns
        if not columns or not columns[0]:
            return defaultdict(tuple)
        return dict(zip(result.column_names, columns, strict=True))

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
