"""The engine's state in small form: what the step stores with every batch and restores from.

History is not re-read on start-up. What the engine needs is small and bounded by the number of
unit windows kept (retention), not by the number of events:

- each unit window's aggregate plus its target reports in force (`WindowRecord`), stored with
  every batch that changes it, together with the ids of the events that batch applied to it
  (`applied`). A record may reach storage before the events it counts (a crash in between):
  restore then learns which of those ids are not stored (`RestoredState.pending`), and when they
  come again they are stored without being counted a second time;
- the ids of events whose windows are still open (`SeenIds`): the in-memory duplicate check. An
  event for a window closed before the horizon is checked against storage instead (rare: such
  an event is late), so deduplication stays exact with memory that does not grow with history;
- the latest event time (the watermark) and the latest version of each alert;
- the learning loop's ledger (each response, without its note) and the incident revisions that
  came into force, stored with the batch that added them (before its events, like the windows);
- per organisation, what its stored alerts were judged on (`JudgedMark`, stored after them), so
  a restore judges only the organisations whose judgement may not have been stored;
- per organisation, the input partition its latest event arrived on (`InputPartition`, read
  from that event's origin by the store, `pipeline/kafka_origin.py`, and stored with its
  latest event time): a worker given that partition restores the organisation at once, not
  when its first event comes (docs/worker.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import Alert
from pipeline.core.judgements import JudgedMark
from pipeline.core.learning import ResponseRecord
from pipeline.core.revisions import RevisionInForce
from pipeline.core.target_reports import ReportInForce
from pipeline.core.windows import Window, WindowKind, window_of

InputPartition = tuple[str, int]
"""A Kafka input partition: (topic, partition)."""


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """One unit window as the step stores it: the aggregate, the reports in force behind its
    target figures, and the ids of the events this batch applied to it."""

    aggregate: UnitWindowAggregate
    reports: tuple[ReportInForce, ...] = ()
    applied: tuple[UUID, ...] = ()
    digest: bytes | None = None
    """As restored: the aggregate's `judgements.window_digest`, stored with it when it was
    written (None: not stored, the restore computes it)."""


@dataclass(frozen=True, slots=True)
class RecentEvent:
    """A stored event whose windows may still be open: enough to place it in `SeenIds`."""

    event_id: UUID
    occurred_at: datetime
    period_end: datetime | None = None  # target metrics: the end of the period reported


@dataclass(slots=True)
class RestoredState:
    """What a store hands back to rebuild an engine (see `Engine.restore_state`)."""

    windows: Sequence[WindowRecord] = ()
    recent: Iterable[RecentEvent] = ()
    latest_event: datetime | None = None
    alerts: Iterable[Alert] = ()
    pending: set[UUID] = field(default_factory=set)
    """Ids counted in a stored window but not stored as events (a crash came in between)."""
    responses: Iterable[ResponseRecord] = ()
    """The learning loop's ledger: every response stored (never its note)."""
    revisions: Iterable[RevisionInForce] = ()
    """Revisions of incident reports that came into force (the highest per report wins). The
    step leaves this empty and hands the engine a lookup instead (`Engine.process`'s
    `revisions_of`): a report's revisions are read when a revision of it arrives."""
    judged: Iterable[JudgedMark] = ()
    """The latest stored judgement mark of each organisation (judgements.py)."""


@dataclass(frozen=True, slots=True)
class SetAside:
    """A target report a store holds that is beyond what the pipeline processes (stored before
    the bound existed; `TargetMetric.beyond_processable_range`), left out of its window at
    restore as a new one is dead-lettered: judged with it, the organisation failed at every
    restart. `reason` names figures only."""

    org_id: str
    unit_id: str
    event_id: str
    reason: str


def within_range(record: WindowRecord) -> tuple[WindowRecord, list[SetAside]]:
    """`record` without its reports beyond the processable range (its stored digest dropped
    with them: the window's figures change, so its organisation is judged again), and those."""
    agg = record.aggregate
    aside = [
        SetAside(agg.org_id, agg.unit_id, r.event_id, why)
        for r in record.reports
        if (why := r.beyond_processable_range())
    ]
    if not aside:
        return record, []
    gone = {a.event_id for a in aside}
    kept = tuple(r for r in record.reports if r.event_id not in gone)
    return WindowRecord(agg, kept, record.applied, None), aside


def _last_window_end(period_end: datetime, kind: WindowKind) -> datetime:
    last: Window = window_of(period_end, kind)
    return last.start if last.start == period_end else last.end


def expiry_of_recent(recent: RecentEvent, kind: WindowKind) -> datetime:
    if recent.period_end is not None:
        # the last window of [start, end) is the one holding the last instant before `end`
        return _last_window_end(recent.period_end, kind)
    return window_of(recent.occurred_at, kind).end


def horizon_start(watermark: datetime | None, kind: WindowKind) -> datetime | None:
    """The start of the window holding the watermark: every event that occurred from then on
    (or, for a target metric, whose period ends after it) counts in a window still open."""
    return None if watermark is None else window_of(watermark, kind).start


class SeenIds:
    """Event ids (128-bit integers) held until the watermark passes their expiry.

    `evicted_through` is the watermark of the last eviction: an id with an expiry at or before
    it may have been forgotten, so `needs_lookup` says to ask storage.
    """

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._by_expiry: dict[datetime, list[int]] = {}
        self.evicted_through: datetime | None = None

    def __contains__(self, event_id: int) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> set[int]:
        """The ids held (read-only: for membership tests in a loop, without a call each)."""
        return self._ids

    def add(self, event_id: int, expiry: datetime) -> None:
        self._ids.add(event_id)
        held = self._by_expiry.get(expiry)
        if held is None:
            self._by_expiry[expiry] = [event_id]
        else:
            held.append(event_id)

    def holder(self, expiry: datetime) -> list[int]:
        """The list of the ids held until `expiry`, for a caller that adds many: each id
        appended to it must also be added to `ids` (as `add` does)."""
        held = self._by_expiry.get(expiry)
        if held is None:
            held = self._by_expiry[expiry] = []
        return held

    def needs_lookup(self, expiry: datetime) -> bool:
        return self.evicted_through is not None and expiry <= self.evicted_through

    def evict(self, watermark: datetime | None) -> None:
        """Forget the ids whose windows all closed by `watermark`."""
        if watermark is None:
            return
        for expiry in [e for e in self._by_expiry if e <= watermark]:
            self._ids.difference_update(self._by_expiry.pop(expiry))
        if self.evicted_through is None or watermark > self.evicted_through:
            self.evicted_through = watermark
