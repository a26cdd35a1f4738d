"""The step's writes of one batch (mixed into the sink): windows, events, progress, outcomes.

Each insert's body is a deterministic function of the batch, so a retry is byte-identical.
Two things are built once per batch and used twice, because the store thread does this work
for every event:

- the unit windows' Arrow columns: the windows go in with the ids they count, then (after the
  events) the same rows again with the ids cleared; only the `state` column differs;
- the latest event time of each organisation (`org_progress`), with the input partition that
  event arrived on (from its origin, `kafka_origin.input_partition`): taken from the events'
  own Arrow columns as they are stored (sorted in C), not by reading every event object
  again. It is used only when it covers exactly the events stored for this batch (same
  token, same count: a refused event is in no successful insert); otherwise, or when
  anything else called in between, it is worked out from the events as before.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.adapters.clickhouse import arrow
from pipeline.adapters.clickhouse import state as clickhouse_state
from pipeline.adapters.clickhouse.rows import (
    alert_row,
    event_columns,
    rejection_row,
    verdict_row,
    window_row,
)
from pipeline.core.alerts import Alert
from pipeline.core.board import BoardRow
from pipeline.core.detection.bright import BrightSpot
from pipeline.core.engine import BatchResult, RejectedMessage
from pipeline.core.engine_state import InputPartition, WindowRecord
from pipeline.core.events import EventType
from pipeline.core.judgements import JudgedMark
from pipeline.core.stored import EVENT_TABLES, StoredEvent
from pipeline.core.verdict_book import VerdictRow
from pipeline.kafka_origin import input_partition

PERIOD_SOURCE = EVENT_TABLES[EventType.PATIENT_FEEDBACK]
PERIOD_TABLE = "period_events"
PERIOD_COLUMNS = ("org_id", "unit_id", "event_id", "occurred_at", "period_end")
_ORG_AND_TIME = attrgetter("org_id", "occurred_at")
NO_INPUT: InputPartition = ("", -1)
"""`org_progress`'s input partition of an event that came from no Kafka partition (a file)."""


@dataclass(slots=True)
class _Progress:
    """The latest event time per organisation of the event rows stored under `token`, with
    that event's origin."""

    token: str
    rows: int = 0
    latest: dict[str, tuple[datetime, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Windows:
    """A batch's window rows as Arrow columns without `state`, and each row's record."""

    result: BatchResult
    batch: pa.RecordBatch
    records: tuple[WindowRecord | None, ...]


class BatchWrites:
    """Needs `database`, `window_kind`, `insert_batch`, `insert_rows`, `insert_rows_together`
    and `table_types`."""

    database: str
    window_kind: str
    _windows: _Windows | None = None
    _progress: _Progress | None = None
    _progress_lock: threading.Lock

    def insert_batch(self, table: str, batch: pa.RecordBatch, token: str) -> None:
        raise NotImplementedError

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]], token: str) -> None:
        raise NotImplementedError

    def insert_rows_together(
        self, inserts: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], token: str
    ) -> None:
        raise NotImplementedError

    def table_types(self, table: str) -> Mapping[str, str]:
        raise NotImplementedError

    def write_side_state(self, result: BatchResult, token: str) -> None:
        raise NotImplementedError

    def write_judged(self, marks: Sequence[JudgedMark], token: str) -> None:
        raise NotImplementedError

    def write(self, result: BatchResult, received_at: datetime, token: str = "") -> None:
        """Store one step's rows. Idempotent: the same rows written twice are stored once.

        `token` names the input (e.g. topic/partition/offset range); each table's insert adds a
        hash of its exact bytes, so a retry is recognised and a different batch never is. The
        windows go first with the ids they count, then the events, then the windows again
        without the ids (see pipeline/core/engine_state.py for why).
        """
        self.write_windows(result, token, applied=True)
        self.write_side_state(result, token)
        self.write_events(result.accepted, token)
        self.write_progress(result.accepted, token)
        self.write_windows(result, token, applied=False)
        self.write_outcomes(
            result.rejected,
            result.alerts,
            received_at,
            token,
            board=result.board,
            targets=result.targets,
            bright=result.bright_spots,
            verdicts=result.verdicts,
        )
        self.write_judged(result.judged, token)

    def write_windows(self, result: BatchResult, token: str, *, applied: bool) -> None:
        """The changed unit windows with their small state (`applied`: with the ids counted;
        otherwise only the windows that had ids, with them cleared)."""
        held = self._windows
        if held is None or held.result is not result:
            held = self._windows = self._window_columns(result)
        if not applied:
            self._windows = None  # the batch's last use
            keep = [record is not None and bool(record.applied) for record in held.records]
            if not any(keep):
                return
            batch = held.batch.filter(pa.array(keep)) if not all(keep) else held.batch
            records = [r for r, k in zip(held.records, keep, strict=True) if k]
        else:
            batch, records = held.batch, list(held.records)
        if not batch.num_rows:
            return
        states = [clickhouse_state.encode_state(r, applied=applied) for r in records]
        column = pa.array(states, type=arrow.arrow_type(self.table_types("unit_windows")["state"]))
        whole = pa.RecordBatch.from_arrays(
            [*batch.columns, column], names=[*batch.schema.names, "state"]
        )
        self.insert_batch("unit_windows", whole, f"{token}|{'applied' if applied else 'done'}")

    def _window_columns(self, result: BatchResult) -> _Windows:
        states = {
            (r.aggregate.org_id, r.aggregate.unit_id, r.aggregate.window): r
            for r in result.window_state
        }
        rows = [window_row(w, self.window_kind) for w in result.windows]
        records = tuple(states.get((w.org_id, w.unit_id, w.window)) for w in result.windows)
        types = self.table_types("unit_windows")
        batch = (
            arrow.arrow_batch(arrow.columns_of(rows), types, "unit_windows")
            if rows
            else pa.RecordBatch.from_pylist([])
        )
        return _Windows(result, batch, records)

    def write_events(self, accepted: Sequence[StoredEvent], token: str) -> None:
        """Accepted events, one insert per table; raises SinkRejected if ClickHouse refuses
        the rows (callers split the batch to find the one at fault)."""
        by_type: dict[type, list[StoredEvent]] = {}
        for stored in accepted:
            by_type.setdefault(type(stored.event), []).append(stored)
        for events in by_type.values():
            table, columns = event_columns(events)
            batch = arrow.arrow_batch(columns, self.table_types(table), table)
            if table == PERIOD_SOURCE:
                self._write_periods(batch, token)
            self.insert_batch(table, batch, token)
            self._stored_events(batch, token)

    def _write_periods(self, feedback: pa.RecordBatch, token: str) -> None:
        """The counts-form rows of `feedback` into `period_events` (migration 0231), before
        the events themselves (a restore leaves out the ids it finds pending)."""
        ends = feedback.column("period_end")
        if ends.null_count == len(ends):
            return
        rows = feedback.filter(pc.is_valid(ends)).select(list(PERIOD_COLUMNS))
        self.insert_batch(PERIOD_TABLE, rows, token)

    def _stored_events(self, batch: pa.RecordBatch, token: str) -> None:
        """Count `batch` (stored under `token`) into the organisations' latest event times
        (the tables' inserts may run side by side: `write_events_each`)."""
        latest = arrow.latest_per_key(
            batch.column("org_id"), batch.column("occurred_at"), batch.column("origin")
        )
        with self._progress_lock:
            progress = self._progress
            if progress is None or progress.token != token:
                progress = self._progress = _Progress(token)
            progress.rows += batch.num_rows
            for org, at, origin in latest:
                if org not in progress.latest or at > progress.latest[org][0]:
                    progress.latest[org] = (at, origin)

    def write_progress(self, accepted: Sequence[StoredEvent], token: str) -> None:
        """The latest event time of each organisation in `accepted` (after the events), with
        the input partition that event arrived on ('' and -1: not from Kafka)."""
        progress, self._progress = self._progress, None
        if progress is not None and progress.token == token and progress.rows == len(accepted):
            latest = progress.latest
        else:
            latest = {}
            for stored in accepted:
                org, at = _ORG_AND_TIME(stored.event)
                if org not in latest or at > latest[org][0]:
                    latest[org] = (at, stored.origin)
        rows = []
        for org, (at, origin) in sorted(latest.items()):
            topic, partition = input_partition(origin) or NO_INPUT
            rows.append(
                {
                    "org_id": org,
                    "latest_event": at,
                    "input_topic": topic,
                    "input_partition": partition,
                }
            )
        if rows:
            self.insert_rows("org_progress", rows, token)

    def write_outcomes(
        self,
        rejected: Sequence[RejectedMessage],
        alerts: Sequence[Alert],
        received_at: datetime,
        token: str,
        *,
        board: Sequence[BoardRow] = (),
        targets: Sequence[BoardRow] = (),
        bright: Sequence[BrightSpot] = (),
        verdicts: Sequence[VerdictRow] = (),
    ) -> None:
        """Rejections (dead letters), the Making Data Count rows (the board's and every target's
        by metric), bright spots (their own table:
        never alerts) and the changed verdicts, at once (outputs only: no restore reads them,
        so nothing orders them among themselves); then the alert versions, in `alerts` and
        then `alert_history` (the restore's alert book, then the outbox's: in that order, as
        the judgement marks come after both)."""
        self.insert_rows_together(
            [
                ("rejected_events", [rejection_row(r, received_at) for r in rejected]),
                ("mdc_summary", _flat_rows(board, self.window_kind)),
                ("mdc_targets", _target_rows(targets, self.window_kind)),
                ("bright_spots", _flat_rows(bright, self.window_kind)),
                ("verdicts", [verdict_row(v, self.window_kind) for v in verdicts]),
            ],
            token,
        )
        if alerts:
            alert_rows = [alert_row(a) for a in alerts]
            self.insert_rows("alerts", alert_rows, token)
            self.insert_rows("alert_history", alert_rows, token)


def _flat_rows(items: Sequence[BoardRow | BrightSpot], window_kind: str) -> list[dict[str, Any]]:
    """Rows of flat dataclasses (scalar fields only) with the window kind: their fields as
    they are (`dataclasses.asdict` would deep-copy every value)."""
    if not items:
        return []
    names = [f.name for f in fields(items[0])]
    return [{**{n: getattr(item, n) for n in names}, "window_kind": window_kind} for item in items]


def _target_rows(targets: Sequence[BoardRow], window_kind: str) -> list[dict[str, Any]]:
    """`mdc_targets` rows: keyed by metric, every one a target (no `measure` column)."""
    rows = _flat_rows(targets, window_kind)
    for row in rows:
        del row["measure"]
    return rows
