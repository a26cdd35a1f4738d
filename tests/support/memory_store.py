"""An in-memory `Store` (pipeline/runtime/ports.py) for unit tests of the step: it keeps what
ClickHouse would keep (the latest row of each window by `contributions`, later rows winning
ties; events by id) and can fail or refuse writes on demand."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from pipeline.core.alerts import Alert
from pipeline.core.board import BoardRow
from pipeline.core.detection.bright import BrightSpot
from pipeline.core.engine import BatchResult, RejectedMessage, WindowRecord
from pipeline.core.engine_state import InputPartition, RecentEvent
from pipeline.core.events import PatientFeedback, TargetMetric
from pipeline.core.judgements import JudgedMark, window_digest
from pipeline.core.learning import ResponseRecord
from pipeline.core.revisions import RevisionInForce
from pipeline.core.stored import StoredEvent
from pipeline.core.verdict_book import VerdictRow
from pipeline.errors import SinkError, SinkRejected, SinkUnavailable
from pipeline.kafka_origin import input_partition

Version = tuple[str, datetime]
WindowKey = tuple[str, str, datetime]


class MemoryStore:
    lookups_apart = False  # one store call at a time, like a single client

    def __init__(self) -> None:
        self.events: dict[UUID, StoredEvent] = {}
        self.event_rows = 0
        self.windows: dict[WindowKey, WindowRecord] = {}
        self.rejected: list[RejectedMessage] = []
        self.alerts: dict[str, Alert] = {}
        self.history: list[Alert] = []
        self.board: list[BoardRow] = []
        self.targets: list[BoardRow] = []
        self.bright: list[BrightSpot] = []
        self.verdicts: list[VerdictRow] = []
        self.delivered: dict[str, set[Version]] = {}
        self.writes: list[str] = []
        self.failures = 0
        self.error: type[SinkError] = SinkUnavailable
        self.refuse: Callable[[StoredEvent], bool] = lambda stored: False
        self.refuse_writes: set[str] = set()  # names of the write methods ClickHouse refuses
        self.crash_after_windows = False
        self.crash_before_outcomes = False
        self.store_digests = True
        self.ledger: dict[int, ResponseRecord] = {}
        self.in_force: dict[tuple[str, str, int], RevisionInForce] = {}
        self.marks: dict[str, JudgedMark] = {}
        self.revision_lookups: list[int] = []
        self.lookups: list[int] = []

    def _maybe_fail(self, write: str = "") -> None:
        if self.failures:
            self.failures -= 1
            raise self.error("ClickHouse down")
        if write in self.refuse_writes:
            raise SinkRejected(f"ClickHouse refused the rows of {write}")

    def write_windows(self, result: BatchResult, token: str, *, applied: bool) -> None:
        self._maybe_fail("write_windows")
        for record in result.window_state:
            a = record.aggregate
            key = (a.org_id, a.unit_id, a.window.start)
            current = self.windows.get(key)
            if current is None or a.contributions >= current.aggregate.contributions:
                held = record if applied else replace(record, applied=())
                # stored with its digest, as the sink stores it (unless told not to)
                digest = window_digest(a) if self.store_digests else None
                self.windows[key] = replace(held, digest=digest)
        if applied and self.crash_after_windows:
            raise KeyboardInterrupt("the process died here")

    def write_events(self, accepted: Sequence[StoredEvent], token: str) -> None:
        self._maybe_fail()
        if any(self.refuse(s) for s in accepted):
            raise SinkRejected("ClickHouse refused a row")
        for stored in accepted:
            self.event_rows += stored.event.event_id not in self.events
            self.events[stored.event.event_id] = stored

    def write_events_each(
        self, groups: Sequence[Sequence[StoredEvent]], token: str
    ) -> list[SinkRejected | None]:
        """One group after another; stops at the first error that is not a refusal."""
        outcomes: list[SinkRejected | None] = []
        for events in groups:
            try:
                self.write_events(events, token)
                outcomes.append(None)
            except SinkRejected as exc:
                outcomes.append(exc)
        return outcomes

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
        self._maybe_fail("write_outcomes")
        if self.crash_before_outcomes:
            raise KeyboardInterrupt("the process died here")
        if self.writes[-1:] != [token]:  # a batch's outcomes may come in two calls
            self.writes.append(token)
        self.board.extend(board)
        self.targets.extend(targets)
        self.bright.extend(bright)
        self.verdicts.extend(verdicts)
        self.rejected.extend(rejected)
        for alert in alerts:
            self.alerts[alert.alert_id] = alert
            self.history.append(alert)

    def window_records(self, owns: Callable[[str], bool]) -> list[WindowRecord] | None:
        return [r for r in self.windows.values() if owns(r.aggregate.org_id)]

    def latest_event(self, owns: Callable[[str], bool]) -> datetime | None:
        times = [s.event.occurred_at for s in self.events.values() if owns(s.event.org_id)]
        return max(times, default=None)

    def org_inputs(self) -> dict[str, InputPartition]:
        latest: dict[str, StoredEvent] = {}
        for stored in self.events.values():
            known = latest.get(org := stored.event.org_id)
            if known is None or stored.event.occurred_at >= known.event.occurred_at:
                latest[org] = stored
        found = {org: input_partition(stored.origin) for org, stored in latest.items()}
        return {org: place for org, place in found.items() if place is not None}

    def recent_events(self, since: datetime, owns: Callable[[str], bool]) -> list[RecentEvent]:
        recent = []
        for stored in self.events.values():
            e = stored.event
            end = e.period_end if isinstance(e, TargetMetric | PatientFeedback) else None
            if owns(e.org_id) and (e.occurred_at >= since or (end is not None and end > since)):
                recent.append(RecentEvent(e.event_id, e.occurred_at, end))
        return recent

    def known_event_ids(self, ids: Collection[UUID]) -> set[UUID]:
        self._maybe_fail()
        self.lookups.append(len(ids))
        return {i for i in ids if i in self.events}

    def write_side_state(self, result: BatchResult, token: str) -> None:
        self._maybe_fail("write_side_state")
        self.ledger.update((r.event_id, r) for r in result.responses)
        for r in result.revisions:
            self.in_force[(r.org_id, r.report_ref, r.revision.event_id)] = r

    def write_progress(self, accepted: Sequence[StoredEvent], token: str) -> None:
        self._maybe_fail("write_progress")  # latest_event reads the events themselves

    def write_judged(self, marks: Sequence[JudgedMark], token: str) -> None:
        self._maybe_fail("write_judged")
        for mark in marks:
            current = self.marks.get(mark.org_id)
            if current is None or mark.judged_at >= current.judged_at:
                self.marks[mark.org_id] = mark

    def responses(self, owns: Callable[[str], bool]) -> list[ResponseRecord]:
        return [r for r in self.ledger.values() if owns(r.org_id)]

    def revisions_of(self, refs: Collection[tuple[str, str]]) -> list[RevisionInForce]:
        self.revision_lookups.append(len(refs))
        return [r for r in self.in_force.values() if (r.org_id, r.report_ref) in refs]

    def judged_marks(self, owns: Callable[[str], bool]) -> list[JudgedMark]:
        return [m for org, m in self.marks.items() if owns(org)]

    def latest_alerts(self) -> list[Alert]:
        return list(self.alerts.values())

    def stored_payloads(self) -> Iterator[bytes]:
        yield from (s.payload.encode() for s in self.events.values())

    def mark_delivered(self, versions: Sequence[Version], route: str) -> None:
        self._maybe_fail("mark_delivered")
        self.delivered.setdefault(route, set()).update(versions)

    def undelivered(self, route: str) -> list[Alert]:
        done = self.delivered.get(route, set())
        return [a for a in self.history if (a.alert_id, a.detected_at) not in done]

    def delivered_versions(self, route: str) -> set[Version]:
        return set(self.delivered.get(route, set()))

    def first_detected(self) -> dict[str, datetime]:
        first: dict[str, datetime] = {}
        for alert in self.history:
            first.setdefault(alert.alert_id, alert.detected_at)
        return first
