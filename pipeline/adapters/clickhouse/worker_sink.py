"""The worker's ClickHouse sink: the shared sink (which now carries the alert delivery outbox,
outbox.py, and the engine's small state, state.py). Kept as the type the worker's composition
root builds and tests wrap (tests/support/faults.py); `version_of` is re-exported."""

from __future__ import annotations

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.adapters.clickhouse.outbox import Version, version_of

__all__ = ["Version", "WorkerSink", "version_of"]


class WorkerSink(ClickHouseSink):
    """`ClickHouseSink`, as the worker uses it."""
