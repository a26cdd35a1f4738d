"""The stored board is what the latest judgement says, however the data arrived.

A unit's target returns for 2016-17, then two in 2024 (too few to chart after the gap): fed
in one replay, or in two replays into the same store (a worker that judged 2016-17 first),
`mdc_summary FINAL` as the report and Grafana read it holds no target row for the unit; the
2016-17 row, stored while those returns were the latest, is superseded.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.cli.main import main
from pipeline.report.queries import load_board
from tests.support.events import feedback, metric

pytestmark = pytest.mark.slow


def _monthly(year: int, month: int, count: int, share: float) -> list[dict[str, Any]]:
    starts = [datetime(year + (month - 1 + i) // 12, (month - 1 + i) % 12 + 1, 1, tzinfo=UTC)
              for i in range(count + 1)]  # fmt: skip
    out: list[dict[str, Any]] = []
    for start, end in itertools.pairwise(starts):
        at = (end + timedelta(days=10)).isoformat()
        out.append(metric(occurred_at=at, period_start=start.isoformat(),
                          period_end=end.isoformat(), numerator=round(share * 1000),
                          denominator=1000, target=0.78))  # fmt: skip
        out += [feedback(occurred_at=(start + timedelta(days=d)).isoformat(), rating=1 + d % 2)
                for d in range(0, 28, 2)]  # fmt: skip
    return out


def _write(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def _stored_board(root: Path, files: list[Path]) -> list[tuple[str, str, str]]:
    dsn = f"chdb://{root / 'clickhouse'}"
    for f in files:  # each a replay of its own: the second restores what the first stored
        assert main(["replay", str(f), "--clickhouse", dsn]) == 0
    sink = ClickHouseSink(dsn, "quality", "week")
    try:
        return sorted((r.unit_id, r.measure, r.metric) for r in load_board(sink, "week"))
    finally:
        sink.close()


def test_a_target_run_too_short_after_a_gap_supersedes_the_stored_row(tmp_path: Path) -> None:
    before_gap, after_gap = _monthly(2016, 4, 12, 0.95), _monthly(2024, 8, 2, 0.73)
    early = _write(tmp_path / "early.jsonl", before_gap)
    late = _write(tmp_path / "late.jsonl", after_gap)
    both = _write(tmp_path / "both.jsonl", [*before_gap, *after_gap])
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    at_once = _stored_board(tmp_path / "one", [both])
    in_turn = _stored_board(tmp_path / "two", [early, late])
    assert at_once == in_turn
    assert ("ED", "experience", "") in in_turn
    assert not [row for row in in_turn if row[1] == "target"]
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'two' / 'clickhouse'}")
    (withdrawn,) = client.query(
        "SELECT variation, points FROM quality.mdc_summary FINAL WHERE measure = 'target'"
    ).result_rows
    assert withdrawn == ("withdrawn", 0)
