"""Faults injected around real parts, for tests only (nothing in `pipeline` knows of them)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipeline.adapters.clickhouse.worker_sink import WorkerSink
from pipeline.errors import SinkUnavailable


def outage_sink(outage_file: Path) -> type[WorkerSink]:
    """The real worker sink, except that while `outage_file` exists every ClickHouse insert
    fails as if ClickHouse were unreachable (exercises retry, back-pressure and recovery)."""

    class OutageSink(WorkerSink):
        def insert_batch(self, table: str, batch: pa.RecordBatch, token: str) -> None:
            if outage_file.exists():
                raise SinkUnavailable(
                    f"insert into {table}: ClickHouse unavailable (injected: {outage_file} exists)"
                )
            super().insert_batch(table, batch, token)

    return OutageSink
