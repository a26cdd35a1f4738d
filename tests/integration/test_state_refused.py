"""A write of the pipeline's own rows that ClickHouse refuses for good stops the run with an
error naming the table and the reason (it was retried for ever: replay hung, the worker stalled
without a word), and nothing of the batch is lost: once the table takes the rows again, the
same input stores every event once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from tests.support.events import feedback

pytestmark = pytest.mark.slow
PIPELINE = [sys.executable, "-m", "pipeline.cli"]
MOST = 2**32 - 1  # the contract's largest count per rating


def counts_feedback(day: str) -> dict[str, object]:
    batch = feedback(
        org_id="RQR",
        occurred_at=f"{day}T10:00:00+00:00",
        period_start=f"{day}T00:00:00+00:00",
        period_end=f"{day}T08:00:00+00:00",
        counts={"1": MOST, "2": MOST, "4": MOST, "5": MOST},
    )
    del batch["rating"]
    return batch


def set_window_responses_type(dsn: str, kind: str) -> None:
    sink = ClickHouseSink(dsn, "quality", "week")
    try:
        sink.migrate()
        sink.query_dicts(f"ALTER TABLE quality.unit_windows MODIFY COLUMN fft_responses {kind}")
    finally:
        sink.close()


def replay(dsn: str, events: Path, summary: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIPELINE_PSEUDONYMISATION_KEY": "state-refused-test-key-0123"}
    return subprocess.run(
        [*PIPELINE, "replay", str(events), "--clickhouse", dsn, "--summary-json", str(summary)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,  # a guard against the old endless retry, not a measure of speed
    )


def test_a_window_clickhouse_refuses_stops_replay_naming_the_table_and_loses_nothing(
    tmp_path: Path,
) -> None:
    # A store whose window counts are still UInt32 (a server not migrated past 0360): two
    # valid counts-form events sum past it, so the window's insert can never succeed.
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    set_window_responses_type(dsn, "UInt32")
    events = tmp_path / "events.jsonl"
    lines = [json.dumps(counts_feedback(day)) for day in ("2024-03-04", "2024-03-05")]
    events.write_text("\n".join(lines) + "\n")
    summary = tmp_path / "summary.json"

    refused = replay(dsn, events, summary)
    assert refused.returncode == 1, refused.stderr[-2000:]
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("pipeline replay: cannot write windows")
    assert "unit_windows.fft_responses does not fit UInt32" in last
    assert str(MOST) not in refused.stderr, "no row value is shown"
    assert not summary.exists()

    set_window_responses_type(dsn, "UInt64")  # what the operator fixes
    stored = replay(dsn, events, summary)
    assert stored.returncode == 0, stored.stderr[-2000:]
    tally = json.loads(summary.read_text())
    assert (tally["accepted"], tally["rejected"], tally["duplicates"]) == (2, 0, 0)
