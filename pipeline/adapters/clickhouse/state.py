"""The engine's small state in ClickHouse: encoding of `unit_windows.state` and the queries a
restore needs (pipeline/core/engine_state.py says what the state is and why it is enough).

`state` is JSON `{"r": [report in force, ...], "a": [event id, ...]}`: the target reports in
force behind the window's target figures and the ids the latest batch applied to it (32 hex
digits; rows written before that have them with dashes, which read the same). Its bytes depend
only on the window's state, so a retried insert is byte-identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pipeline.adapters.clickhouse.rows import utc
from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.engine_state import RecentEvent, WindowRecord
from pipeline.core.events import EventType, ValueUnit
from pipeline.core.stored import EVENT_TABLES
from pipeline.core.target_reports import ReportInForce
from pipeline.core.windows import Window

OwnsOrg = Callable[[str], bool]
QueryDicts = Callable[[str, dict[str, Any] | None], list[dict[str, Any]]]
LOOKUP_CHUNK = 5_000


class _Queries(Protocol):
    database: str
    window_kind: str

    def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...

    def query_columns(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> dict[str, Sequence[Any]]: ...


def encode_state(record: WindowRecord | None, *, applied: bool = True) -> str:
    """The `state` column of a window row (`applied=False`: the ids cleared once stored)."""
    if record is None:
        return ""
    reports = [
        [
            r.occurred_at.isoformat(),
            r.event_id,
            r.metric,
            r.period_start.isoformat(),
            r.period_end.isoformat(),
            r.numerator,
            r.denominator,
            r.target,
            r.higher_is_better,
            r.value,
            None if r.unit is None else r.unit.value,
        ]
        for r in record.reports
    ]
    ids = [i.hex for i in record.applied] if applied else []  # `str` costs 3x as much
    return json.dumps({"r": reports, "a": ids}, separators=(",", ":"))


def _report(item: list[Any]) -> ReportInForce:
    at, event_id, metric, start, end, numerator, denominator, target, higher = item[:9]
    value, unit = item[9:11] if len(item) >= 11 else (None, None)
    return ReportInForce(
        datetime.fromisoformat(at),
        event_id,
        metric,
        datetime.fromisoformat(start),
        datetime.fromisoformat(end),
        numerator,
        denominator,
        target,
        bool(higher),
        value,
        None if unit is None else ValueUnit(unit),
    )


_WINDOW_COLUMNS = (
    "org_id",
    "unit_id",
    "window_start",
    "window_end",
    "fft_counts",
    "incidents_by_harm",
    "incidents_by_category",
    "contributions",
    "theme_names",
    "theme_counts",
    "state",
    "digest",
)


def window_records(sink: _Queries, owns: OwnsOrg) -> list[WindowRecord] | None:
    """The latest state of every unit window of the organisations `owns` accepts; None when
    some window's latest row predates stored state (restore must then re-read payloads)."""
    found = sink.query_columns(
        "SELECT org_id, unit_id, window_start, window_end, fft_counts, incidents_by_harm, "
        "incidents_by_category, contributions, theme_names, theme_counts, state, digest "
        f"FROM {sink.database}.unit_windows FINAL "
        "WHERE window_kind = {kind:String}",
        {"kind": sink.window_kind},
    )
    records = []
    # Decoded once each: units share their windows' bounds, and a unit's windows in one month
    # the same report in force (so the same state, once their ids are cleared).
    windows: dict[tuple[datetime, datetime], Window] = {}
    states: dict[str, tuple[tuple[ReportInForce, ...], tuple[UUID, ...]]] = {}
    # By column: every window ever stored is read at each restore (docs/worker.md).
    for (
        org,
        unit,
        start,
        end,
        fft,
        harm,
        category,
        contributions,
        names,
        counts,
        stored,
        digest,
    ) in zip(*(found[name] for name in _WINDOW_COLUMNS), strict=True):
        if not owns(org):
            continue
        if not stored:
            return None
        window = windows.get((start, end))
        if window is None:
            window = windows[start, end] = Window(utc(start), utc(end))
        aggregate = UnitWindowAggregate(
            org_id=org,
            unit_id=unit,
            window=window,
            fft_counts=tuple(fft),
            incidents_by_harm=tuple(harm),
            incidents_by_category=tuple(category),
            targets=(),  # recomputed from the reports in force
            contributions=int(contributions),
            themes=tuple(zip(names, counts, strict=True)),  # (str, int) as the driver reads them
        )
        held = states.get(stored)
        if held is None:
            state = json.loads(stored)
            reports = tuple(_report(item) for item in state["r"])
            held = states[stored] = (reports, tuple(UUID(i) for i in state["a"]))
        records.append(WindowRecord(aggregate, *held, bytes.fromhex(digest) if digest else None))
    return records


def recent_events(sink: _Queries, since: datetime, owns: OwnsOrg) -> list[RecentEvent]:
    """Stored events that occurred from `since` on (target metrics: whose period ends after)."""
    db = sink.database
    parts = []
    for event_type, table in EVENT_TABLES.items():
        if event_type is EventType.PATIENT_FEEDBACK:
            # A counts-form batch spans its period, which its occurred_at does not bound. Two
            # disjoint branches: the first prunes by partition (event month); the second reads
            # the small `period_events` (migration 0231, ordered by period_end), not
            # `period_end` in every part of the feedback table. It may name an event a crash
            # kept from being stored: the step leaves out the ids it finds pending.
            columns = "SELECT org_id, event_id, occurred_at, period_end FROM "
            parts.append(
                f"{columns}{db}.{table} WHERE occurred_at >= {{since:DateTime64(6, 'UTC')}}"
            )
            parts.append(
                f"{columns}{db}.period_events WHERE period_end > {{since:DateTime64(6, 'UTC')}} "
                "AND occurred_at < {since:DateTime64(6, 'UTC')}"
            )
        elif event_type is EventType.TARGET_METRIC:
            parts.append(
                f"SELECT org_id, event_id, occurred_at, period_end FROM {db}.{table} "
                "WHERE period_end > {since:DateTime64(6, 'UTC')}"
            )
        else:
            parts.append(
                f"SELECT org_id, event_id, occurred_at, NULL AS period_end FROM {db}.{table} "
                "WHERE occurred_at >= {since:DateTime64(6, 'UTC')}"
            )
    rows = sink.query_dicts(" UNION ALL ".join(parts), {"since": utc(since)})
    return [
        RecentEvent(
            _uuid(row["event_id"]),
            utc(row["occurred_at"]),
            None if row["period_end"] is None else utc(row["period_end"]),
        )
        for row in rows
        if owns(row["org_id"])
    ]


def known_event_ids(query: QueryDicts, database: str, ids: Collection[UUID]) -> set[UUID]:
    """Which of `ids` are stored in `database`, under any organisation (uses the event_id
    skip index); `query` runs a read (the sink's look-up client)."""
    found: set[UUID] = set()
    pending = sorted(ids)
    for start in range(0, len(pending), LOOKUP_CHUNK):
        chunk = [str(i) for i in pending[start : start + LOOKUP_CHUNK]]
        union = " UNION ALL ".join(
            f"SELECT event_id FROM {database}.{table} WHERE event_id IN {{ids:Array(UUID)}}"
            for table in EVENT_TABLES.values()
        )
        found.update(_uuid(row["event_id"]) for row in query(union, {"ids": chunk}))
    return found


def applied_ids(records: Iterable[WindowRecord]) -> set[UUID]:
    return {i for record in records for i in record.applied}


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
