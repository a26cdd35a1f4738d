"""The worker's ClickHouse sink: the shared sink, with an injected outage for tests.

While `outage_file` exists, every insert raises the error an unreachable ClickHouse raises,
just below the step's real retry loop (chDB runs inside the worker: there is no server to
stop). The outbox lives in the shared sink (clickhouse_outbox.py); `version_of` is re-exported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.adapters.clickhouse_outbox import Version, version_of
from pipeline.errors import SinkUnavailable

__all__ = ["Version", "WorkerSink", "version_of"]


class WorkerSink(ClickHouseSink):
    """`ClickHouseSink` with an optional injected outage."""

    def __init__(
        self, dsn: str, database: str, window_kind: str, *, outage_file: Path | None = None
    ) -> None:
        super().__init__(dsn, database, window_kind)
        self.outage_file = outage_file

    def insert_rows(self, table: str, rows: list[dict[str, Any]], token: str) -> None:
        if self.outage_file is not None and self.outage_file.exists():
            raise SinkUnavailable(
                f"insert into {table}: ClickHouse unavailable (injected: {self.outage_file} exists)"
            )
        super().insert_rows(table, rows, token)
