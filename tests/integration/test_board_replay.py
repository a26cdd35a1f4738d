"""The stored board is what the latest judgement says, however the data arrived.

A unit's target returns for 2016-17, then two in 2024 (too few to chart after the gap): fed
in one replay, or in two replays into the same store (a worker that judged 2016-17 first),
`mdc_summary FINAL` as the report and Grafana read it holds no target row for the unit; the
2016-17 row, stored while those returns were the latest, is superseded. The same holds of
every target metric the unit reports (`mdc_targets`): a further metric's row is judged and
withdrawn by the same rules, whichever way the data came.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.cli.main import main
from pipeline.report.queries import load_board
from pipeline.report.records import BoardRecord
from tests.support.events import feedback, metric

pytestmark = pytest.mark.slow


def _monthly(
    year: int, month: int, count: int, share: float, name: str = "ae_4h"
) -> list[dict[str, Any]]:
    starts = [datetime(year + (month - 1 + i) // 12, (month - 1 + i) % 12 + 1, 1, tzinfo=UTC)
              for i in range(count + 1)]  # fmt: skip
    out: list[dict[str, Any]] = []
    for start, end in itertools.pairwise(starts):
        at = (end + timedelta(days=10)).isoformat()
        out.append(metric(metric=name, occurred_at=at, period_start=start.isoformat(),
                          period_end=end.isoformat(), numerator=round(share * 1000),
                          denominator=1000, target=0.78))  # fmt: skip
        out += [feedback(occurred_at=(start + timedelta(days=d)).isoformat(), rating=1 + d % 2)
                for d in range(0, 28, 2)]  # fmt: skip
    return out


def _write(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def _stored_board(root: Path, files: list[Path]) -> list[tuple[str, str, str]]:
    return sorted((r.unit_id, r.measure, r.metric) for r in _replayed(root, files)[0])


def _replayed(root: Path, files: list[Path]) -> tuple[list[BoardRecord], list[BoardRecord]]:
    """The board and every target's rows as the report reads them, after each file was
    replayed in turn into one store."""
    dsn = f"chdb://{root / 'clickhouse'}"
    for f in files:  # each a replay of its own: the second restores what the first stored
        assert main(["replay", str(f), "--clickhouse", dsn]) == 0
    sink = ClickHouseSink(dsn, "quality", "week")
    try:
        return load_board(sink, "week"), load_board(sink, "week", every_target=True)
    finally:
        sink.close()


def _comparable(records: list[BoardRecord]) -> list[tuple[Any, ...]]:
    """Records as tuples with NaN (a row with no centre: `not_judged`) as None, since NaN
    never equals NaN."""
    return [
        tuple(None if isinstance(v, float) and math.isnan(v) else v for v in astuple(r))
        for r in records
    ]


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


def test_every_target_metric_is_stored_the_same_whichever_way_it_was_replayed(
    tmp_path: Path,
) -> None:
    """Both targets have 2016-17 returns; in 2024-25 the main one has twelve, a further one
    (handovers) two: its 2016-17 row, stored by the first replay, is withdrawn by the second,
    as in one replay of both; the main target's row in `mdc_targets` is the board's own."""
    early = _monthly(2016, 4, 12, 0.95) + _monthly(2016, 4, 12, 0.9, "handover_60m")
    late = _monthly(2024, 8, 12, 0.73) + _monthly(2024, 8, 2, 0.6, "handover_60m")
    files = [_write(tmp_path / n, es) for n, es in (("early", early), ("late", late))]
    both = _write(tmp_path / "both.jsonl", [*early, *late])
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    board_once, targets_once = _replayed(tmp_path / "one", [both])
    board_turn, targets_turn = _replayed(tmp_path / "two", files)
    assert targets_once == targets_turn
    assert _comparable(board_once) == _comparable(board_turn)
    assert [t.metric for t in targets_turn] == ["ae_4h"]  # handovers withdrawn
    (main_row,) = [b for b in board_turn if b.measure == "target"]
    assert main_row == targets_turn[0]
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'two' / 'clickhouse'}")
    rows = client.query(
        "SELECT metric, variation, points FROM quality.mdc_targets FINAL ORDER BY metric"
    ).result_rows
    assert rows[1] == ("handover_60m", "withdrawn", 0)
