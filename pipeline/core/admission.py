"""The second pass of the engine's per-event path: the decoded events of one batch admitted in
arrival order (stored, counted, remembered, the watermark moved); `batch_decode.py` is the first.

A single feedback response or an incident report that is not a revision (an entry with its one
window) takes a short path: per (organisation, unit, window) within the batch, a `_Slot` holds
the unit window's state, the list of ids applied to it (the batch's `touched`), the list of ids
held until the window ends (`SeenIds.holder`), the late flag for the current watermark (an
aware `datetime` comparison costs more than the rest of a slot lookup) and the single
responses without themes not yet folded into the state; so per event there is one dict lookup
instead of a window hash, a placement tuple, a comparison and several calls. The state is
attached when the first event is counted, never earlier, so windows are created in the same
order as by the general path, and the counts are folded in once after the batch.

Everything else (target metrics, feedback batches, alert responses, revised incidents, events
counted before a crash and stored only now) takes the general path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final
from uuid import UUID

from pipeline.core.aggregates import UnitWindowState
from pipeline.core.batch import (
    BatchResult,
    EngineConfig,
    RejectedMessage,
    UnprocessableEvent,
    processing_error,
)
from pipeline.core.batch_decode import Entry
from pipeline.core.counting import Touched, Units, count_in_windows
from pipeline.core.decode import RawMessage, Rejection
from pipeline.core.engine_state import SeenIds
from pipeline.core.events import (
    AlertResponse,
    AnyEvent,
    IncidentReport,
    PatientFeedback,
    TargetMetric,
)
from pipeline.core.judge import AlertBook
from pipeline.core.placement import NEVER, Placement, placement
from pipeline.core.pseudonyms import PseudonymKeys
from pipeline.core.revisions import IncidentRevision, IncidentRevisions
from pipeline.core.stored import StoredEvent, to_stored
from pipeline.core.windows import Watermark, Window, window_of

UnitKey = tuple[str, str]
_UNSET: Final = object()


class _Slot:
    """One unit window as the batch's common-shape events reach it (see the module doc)."""

    __slots__ = (
        "applied",
        "end_day",
        "held",
        "late",
        "mark",
        "ratings",
        "responses",
        "state",
        "window",
    )

    def __init__(self, window: Window) -> None:
        self.window = window
        self.ratings = [0] * 6  # single responses without themes, per rating, not yet folded
        self.responses = 0
        self.end_day = window.end.toordinal()  # in UTC, as windows are
        self.state: UnitWindowState | None = None
        self.applied: list[UUID] = []
        self.held: list[int] = []
        self.mark: object = _UNSET
        self.late = False


def _ends_by(window: Window, end_day: int, mark: datetime | None, mark_day: int) -> bool:
    """Whether `window` ends by the watermark `mark` (its events are late), `end_day` and
    `mark_day` being their days (the mark's local one). A local day is within a day of the
    UTC one, so only a mark within three days of the end needs the (costly) comparison."""
    if mark is None:
        return False
    if mark_day + 2 <= end_day:
        return False
    if mark_day - 1 >= end_day:
        return True
    return window.end <= mark


class Admission:
    """Admits decoded events into the engine's state (which it shares, never copies)."""

    def __init__(
        self,
        config: EngineConfig,
        key: PseudonymKeys,
        state: tuple[SeenIds, set[UUID], Units, Watermark, AlertBook, IncidentRevisions],
    ) -> None:
        self.config = config
        self._key = key
        self._seen, self._pending, self._units, self._watermark, self._book, self._revisions = state
        self.retracted: list[tuple[UnitKey, Window]] = []  # by the event being admitted

    def admit_all(
        self, entries: Sequence[Entry], found: set[UUID], result: BatchResult, touched: Touched
    ) -> tuple[set[UnitKey], set[UnitKey]]:
        """Admit each new event in order; returns the units with late events (or retracted
        windows already closed) and the units an alert response answered."""
        late_units: set[UnitKey] = set()
        answered: set[UnitKey] = set()
        seen = self._seen.ids
        seen_add = seen.add
        pending = self._pending
        watermark = self._watermark
        observe = watermark.observe
        policy, key = self.config.free_text, self._key
        slots: dict[tuple[str, str, int], _Slot] = {}
        last_mark: object = _UNSET
        mark_day = -1
        accepted = result.accepted
        rejected = result.rejected
        self.retracted = []  # what an earlier call (restore) left is no concern of this batch
        for message, outcome, placed, window in entries:
            if window is None and placed is None:
                if isinstance(outcome, Rejection):
                    rejected.append(RejectedMessage(outcome, message.origin))
                else:
                    result.duplicates += 1
                continue
            assert not isinstance(outcome, Rejection)
            event_id = outcome.event_id
            if event_id.int in seen or (found and event_id in found):
                result.duplicates += 1
                continue
            if window is not None and not (pending and event_id in pending):
                try:
                    unit = (outcome.org_id, outcome.unit_id)
                    slot_key = (unit[0], unit[1], id(window))
                    slot = slots.get(slot_key)
                    if slot is None:
                        slot = slots[slot_key] = _Slot(window)
                    mark = watermark.value
                    if mark is not last_mark:
                        last_mark = mark
                        mark_day = -1 if mark is None else mark.toordinal()
                    late = slot.late
                    if slot.mark is not mark:  # the mark moved: late now?
                        slot.mark = mark
                        slot.late = late = _ends_by(window, slot.end_day, mark, mark_day)
                    if type(outcome) is PatientFeedback and not outcome.comment:
                        stored = StoredEvent(
                            outcome, message.value.decode(), message.origin, late, 0, 0, 0
                        )
                    else:
                        stored = to_stored(
                            outcome,
                            message.value,
                            origin=message.origin,
                            late=late,
                            policy=policy,
                            key=key,
                        )
                    state = slot.state
                    if state is None:
                        state = self._attach(slot, unit, touched)
                    if type(outcome) is PatientFeedback:
                        if outcome.themes:
                            state.add_feedback(outcome.rating, outcome.themes)  # type: ignore[arg-type]
                        else:  # folded into the state after the loop
                            slot.ratings[outcome.rating - 1] += 1  # type: ignore[operator]
                            slot.responses += 1
                    else:
                        state.add_incident(outcome.harm, outcome.category)  # type: ignore[union-attr]
                    slot.applied.append(event_id)
                    eid = event_id.int
                    seen_add(eid)
                    slot.held.append(eid)
                    observe(outcome.occurred_at)
                except Exception as exc:  # one bad event must not stop the batch
                    rejected.append(RejectedMessage(processing_error(message, exc), message.origin))
                    continue
                if late:
                    result.late += 1
                    late_units.add(unit)
                accepted.append(stored)
                continue
            if placed is None:
                assert window is not None
                placed = Placement((window,), window.end)
            try:
                stored = self.admit(outcome, message, placed, touched)
            except Exception as exc:  # one bad event must not stop the batch
                self.retracted = []
                rejected.append(RejectedMessage(processing_error(message, exc), message.origin))
                continue
            if self.retracted:
                for retracted_unit, retracted_window in self.retracted:
                    state = self._units[retracted_unit][retracted_window]
                    touched.setdefault(id(state), (state, []))
                    if watermark.is_closed(retracted_window):
                        late_units.add(retracted_unit)
                self.retracted = []
            if type(outcome) is AlertResponse:
                answered.add((outcome.org_id, outcome.unit_id))
            if stored.late:
                result.late += 1
                late_units.add((outcome.org_id, outcome.unit_id))
            accepted.append(stored)
        for slot in slots.values():
            if slot.responses:
                assert slot.state is not None
                slot.state.add_responses(slot.ratings, slot.responses)
        return late_units, answered

    def _attach(self, slot: _Slot, unit: UnitKey, touched: Touched) -> UnitWindowState:
        """The slot's unit window state (made if new) and lists, when its first event counts."""
        windows = self._units.get(unit)
        if windows is None:
            windows = self._units[unit] = {}
        state = windows.get(slot.window)
        if state is None:
            state = windows[slot.window] = UnitWindowState(unit[0], unit[1], slot.window)
        applied = touched.get(id(state))
        if applied is None:
            touched[id(state)] = (state, slot.applied)
        else:
            slot.applied = applied[1]
        slot.held = self._seen.holder(slot.window.end)
        slot.state = state
        return state

    def admit(
        self, event: AnyEvent, message: RawMessage, placed: Placement, touched: Touched
    ) -> StoredEvent:
        """Store and count a new event (a pending one is stored, not counted again)."""
        if type(event) is TargetMetric and (why := event.beyond_processable_range()):
            raise UnprocessableEvent(why)
        if placed.expiry is NEVER:
            placed = placement(event, self.config.window)
        windows = placed.windows
        mark = self._watermark.value
        late = bool(windows) and mark is not None and windows[0].end <= mark
        stored = to_stored(
            event,
            message.value,
            origin=message.origin,
            late=late,
            policy=self.config.free_text,
            key=self._key,
        )
        if self._pending and event.event_id in self._pending:
            # Its windows already count it; what the small form does not carry is rebuilt.
            self._pending.discard(event.event_id)
            self.remember(event)
            self._seen.add(event.event_id.int, placed.expiry)
            self._watermark.observe(event.occurred_at)
        else:
            self.count(event, windows, touched, placed.expiry)
        return stored

    def remember(self, event: AnyEvent) -> None:
        """What an event leaves beyond its windows' figures, without counting it again: a
        response in the alert book, a revised incident report's place among its revisions."""
        if isinstance(event, AlertResponse):
            self._book.responses.add(event)
        elif isinstance(event, IncidentReport) and event.report_ref is not None:
            revision = IncidentRevision(
                event.event_id.int,
                event.revision,
                (event.org_id, event.unit_id),
                window_of(event.occurred_at, self.config.window),
                event.harm,
                event.category,
                event.occurred_at,
            )
            self._revisions.offer(event.org_id, event.report_ref, revision)

    def count(
        self, event: AnyEvent, windows: Sequence[Window], touched: Touched, expiry: datetime
    ) -> None:
        """Apply a new event to its unit's windows (a response to the alert book)."""
        if isinstance(event, AlertResponse):
            self._book.responses.add(event)
        elif windows:
            count_in_windows(self._units, event, windows, touched, self._revisions, self.retracted)
        self._seen.add(event.event_id.int, expiry)
        self._watermark.observe(event.occurred_at)
