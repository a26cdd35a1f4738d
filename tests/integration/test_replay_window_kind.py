"""A store aggregates by one window kind: replaying by the other into it is refused, since its
stored events would be duplicates there and count in no window of the other kind."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pipeline.bootstrap.worker import open_worker_sink
from pipeline.cli.replay import replay
from pipeline.core.windows import WindowKind
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from tests.support.event_examples import as_line, valid_event


def test_replaying_by_month_into_a_store_built_by_week_is_refused(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(as_line(valid_event("patient_feedback")) + b"\n")
    dsn = f"chdb://{tmp_path / 'clickhouse'}"

    def run(window: WindowKind) -> str:
        out = io.StringIO()
        replay([str(events)], dsn=dsn, window=window, alerts_out=None, summary_json=None, out=out)
        return out.getvalue()

    assert "1 accepted" in run(WindowKind.WEEK)
    assert "1 duplicates" in run(WindowKind.WEEK)  # the same kind again: as before
    with pytest.raises(ConfigError) as refused:
        run(WindowKind.MONTH)
    message = str(refused.value)
    assert "holds windows by week" in message and "--window week" in message


def test_the_worker_refuses_a_store_built_by_the_other_window(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(as_line(valid_event("patient_feedback")) + b"\n")
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    out = io.StringIO()
    replay(
        [str(events)], dsn=dsn, window=WindowKind.MONTH, alerts_out=None, summary_json=None, out=out
    )
    with pytest.raises(ConfigError, match="holds windows by month"):
        open_worker_sink(Settings(window=WindowKind.WEEK), dsn)
    open_worker_sink(Settings(window=WindowKind.MONTH), dsn).close()  # its own kind: opened
