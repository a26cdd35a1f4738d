"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from tests.support.report_data import fill_store


@pytest.fixture()
def filled_sink(tmp_path: Path) -> Iterator[ClickHouseSink]:
    sink = ClickHouseSink(f"chdb://{tmp_path / 'ch'}", "quality", "week")
    try:  # chDB holds one path per process: always close, or the next test cannot open its own
        sink.migrate()
        fill_store(sink)
        yield sink
    finally:
        sink.close()
