"""The one processing step both runtimes call.

A batch of raw messages in; out come the rows to store (accepted events in their storable form,
rejections, changed unit-window aggregates) and the alert versions to raise. The Kafka worker
and the embedded runner differ only in where the messages come from and where results go.

The engine holds the per-unit state: the ids seen (the idempotency key), each unit's windows,
the watermark, and the alerts it has raised. Everything it decides is a function of the set of
events seen, never of their order or batching, except *when* a window is first judged: an alert
raised on an early view of a window is corrected (updated, resolved or withdrawn) once late
events arrive, so the final alerts are the same whatever the order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from pipeline.core.aggregates import UnitWindowAggregate, UnitWindowState, spread_counts
from pipeline.core.alerts import Alert, AlertStatus
from pipeline.core.board import BoardRow, board_rows
from pipeline.core.bounds import STORED, TimeHorizon
from pipeline.core.decode import RawMessage, Rejection, decode
from pipeline.core.detection import DetectionConfig, Detector
from pipeline.core.events import (
    AlertResponse,
    AnyEvent,
    IncidentReport,
    PatientFeedback,
    TargetMetric,
)
from pipeline.core.judge import AlertBook, FindingSource
from pipeline.core.learning import ResponseRecord
from pipeline.core.pseudonyms import PseudonymKeys
from pipeline.core.revisions import IncidentRevision, IncidentRevisions
from pipeline.core.stored import FreeTextPolicy, StoredEvent, to_stored
from pipeline.core.windows import Watermark, Window, WindowKind, window_of, windows_between

UnitKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    rejection: Rejection
    origin: str

    @property
    def rejection_id(self) -> str:
        """Stable id of this rejection: the same bytes from the same origin, the same id (the
        dead letter's key and the stored rejection's id)."""
        digest = hashlib.sha256(self.origin.encode() + b"\x00" + self.rejection.raw)
        return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    window: WindowKind = WindowKind.WEEK
    allowed_lateness: timedelta = timedelta(days=7)
    free_text: FreeTextPolicy = FreeTextPolicy.REDACTED
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    horizon: TimeHorizon = field(default_factory=TimeHorizon)
    watermark_max_step: timedelta | None = timedelta(days=28)
    """How far one event may move the watermark (None: all the way). An outlier far ahead
    can then make late only what lies within this step, not everything after it."""


@dataclass(slots=True)
class BatchResult:
    """What one step produced. `read == len(accepted) + len(rejected) + duplicates`."""

    read: int = 0
    accepted: list[StoredEvent] = field(default_factory=list)
    rejected: list[RejectedMessage] = field(default_factory=list)
    duplicates: int = 0
    late: int = 0
    windows: list[UnitWindowAggregate] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    board: list[BoardRow] = field(default_factory=list)
    """The Making Data Count summary rows of the units judged in this step."""


class Engine:
    """Stateful, pure processing: no I/O, no clock (callers pass `now`)."""

    def __init__(
        self,
        config: EngineConfig,
        pseudonymisation_key: bytes | PseudonymKeys,
        detector: FindingSource | None = None,
    ) -> None:
        self.config = config
        self._key = PseudonymKeys.of(pseudonymisation_key)
        self._seen: set[int] = set()  # event ids (as 128-bit integers: cheaper to hash)
        self._units: dict[UnitKey, dict[Window, UnitWindowState]] = {}
        self._watermark = Watermark(config.allowed_lateness, max_step=config.watermark_max_step)
        self._book = AlertBook(detector or Detector(config.detection))
        self._judged_until: dict[UnitKey, datetime] = {}
        self._revisions = IncidentRevisions()
        self._retracted: list[tuple[UnitKey, Window]] = []  # by the event being admitted

    @property
    def watermark(self) -> datetime | None:
        return self._watermark.value

    @property
    def alerts(self) -> list[Alert]:
        """The latest version of every alert raised so far (withdrawn ones included)."""
        return self._book.latest()

    def unmatched_responses(self) -> list[ResponseRecord]:
        """Responses naming no alert raised for their organisation and unit (so far)."""
        return self._book.unmatched_responses()

    def closed_series(self) -> dict[UnitKey, list[UnitWindowAggregate]]:
        """Every unit's closed windows in time order: what detection judges."""
        return {unit: self._closed_windows(unit) for unit in self._units}

    def _closed_windows(self, unit: UnitKey) -> list[UnitWindowAggregate]:
        windows = self._units[unit]
        return [windows[w].snapshot() for w in sorted(windows) if self._watermark.is_closed(w)]

    def restore(
        self, payloads: Iterable[bytes], alerts: Iterable[Alert], now: datetime
    ) -> BatchResult:
        """Rebuild state from what the sink holds.

        `payloads` are stored `StoredEvent.payload`s; `alerts` the latest stored version of each
        alert. The result carries only the alert versions the stored ones lack (say, a crash
        came between storing events and storing their alerts); route them like any other.
        """
        result = BatchResult()
        for payload in payloads:
            event = decode(payload, STORED)
            if isinstance(event, Rejection):
                # Stored forms always re-validate (tests hold to_stored to that); should one
                # not, its id still counts as seen, so a re-run cannot store the event twice.
                self._seen_in(payload)
            elif self._admit(event) is not None:
                result.read += 1
        self._book.restore(alerts)
        result.alerts, result.board = self._judge(set(self._units), now)
        return result

    def process(self, messages: Iterable[RawMessage], now: datetime) -> BatchResult:
        """Decode, deduplicate, redact, aggregate and judge one batch."""
        result = BatchResult()
        touched: dict[tuple[UnitKey, Window], None] = {}
        late_units: set[UnitKey] = set()
        answered: set[UnitKey] = set()
        bounds = self.config.horizon.at(now)
        for message in messages:
            result.read += 1
            outcome = decode(message.value, bounds, size=message.size)
            if isinstance(outcome, Rejection):
                result.rejected.append(RejectedMessage(outcome, message.origin))
                continue
            admitted = self._admit(outcome)
            if admitted is None:
                result.duplicates += 1
                continue
            windows, late = admitted
            unit = (outcome.org_id, outcome.unit_id)
            if isinstance(outcome, AlertResponse):
                answered.add(unit)
            for window in windows:
                touched[(unit, window)] = None
            for retracted_unit, window in self._retracted:
                touched[(retracted_unit, window)] = None
                if self._watermark.is_closed(window):
                    late_units.add(retracted_unit)
            if late:
                result.late += 1
                late_units.add(unit)
            result.accepted.append(
                to_stored(
                    outcome,
                    message.value,
                    origin=message.origin,
                    late=late,
                    policy=self.config.free_text,
                    key=self._key,
                )
            )
        result.windows = [self._units[unit][window].snapshot() for unit, window in touched]
        answered &= self._units.keys()  # a unit with no data has no alert to answer
        result.alerts, result.board = self._judge(late_units | answered | self._newly_closed(), now)
        return result

    def finish(self, now: datetime) -> BatchResult:
        """End of input: every window that ended by the latest event time is judged."""
        self._watermark.finish()
        alerts, board = self._judge(self._newly_closed(), now)
        return BatchResult(alerts=alerts, board=board)

    def _seen_in(self, payload: bytes) -> None:
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            self._seen.add(UUID(json.loads(payload)["event_id"]).int)

    def _admit(self, event: AnyEvent) -> tuple[Sequence[Window], bool] | None:
        """Apply a new event to its unit's windows; None for a duplicate."""
        event_id = event.event_id.int
        if event_id in self._seen:
            return None
        self._seen.add(event_id)
        self._retracted = []
        if isinstance(event, AlertResponse):
            self._book.responses.add(event)
            self._watermark.observe(event.occurred_at)
            return (), False
        unit_windows = self._units.setdefault((event.org_id, event.unit_id), {})
        batch = isinstance(event, PatientFeedback) and event.counts is not None
        if isinstance(event, TargetMetric) or (isinstance(event, PatientFeedback) and batch):
            assert event.period_start is not None and event.period_end is not None
            windows = windows_between(event.period_start, event.period_end, self.config.window)
        else:
            windows = [window_of(event.occurred_at, self.config.window)]
        mark = self._watermark.value
        late = mark is not None and windows[0].end <= mark  # the earliest window closes first
        spread = _spread(event, windows) if batch else None
        for i, window in enumerate(windows):
            state = unit_windows.get(window)
            if state is None:
                state = unit_windows[window] = UnitWindowState(event.org_id, event.unit_id, window)
            if spread is not None:
                state.add_feedback_counts(spread[i])
            elif isinstance(event, IncidentReport) and event.report_ref is not None:
                self._apply_revision(event, window, state)
            else:
                _apply(state, event)
        self._watermark.observe(event.occurred_at)
        return windows, late

    def _apply_revision(
        self, event: IncidentReport, window: Window, state: UnitWindowState
    ) -> None:
        """Count `event` only if it is its report's highest revision, retracting the one it
        supersedes (whatever unit or window that one counted in)."""
        counted = IncidentRevision(
            event.event_id.int,
            event.revision,
            (event.org_id, event.unit_id),
            window,
            event.harm,
            event.category,
        )
        superseded = self._revisions.offer(event.org_id, event.report_ref or "", counted)
        if superseded is counted:
            state.count_superseded()
            return
        state.add_incident(event.harm, event.category)
        if superseded is not None:
            old = self._units[superseded.unit][superseded.window]
            old.remove_incident(superseded.harm, superseded.category)
            self._retracted.append((superseded.unit, superseded.window))

    def _closed_until(self, unit: UnitKey) -> datetime | None:
        closed = [w.end for w in self._units[unit] if self._watermark.is_closed(w)]
        return max(closed, default=None)

    def _newly_closed(self) -> set[UnitKey]:
        changed: set[UnitKey] = set()
        for unit in self._units:
            until = self._closed_until(unit)
            if until is not None and until != self._judged_until.get(unit):
                changed.add(unit)
        return changed

    def _judge(self, units: set[UnitKey], now: datetime) -> tuple[list[Alert], list[BoardRow]]:
        if not units:
            return [], []
        for unit in units:
            until = self._closed_until(unit)
            if until is not None:
                self._judged_until[unit] = until
        orgs = {org for org, _ in units}
        series = {unit: self._closed_windows(unit) for unit in self._units if unit[0] in orgs}
        board = [row for unit in sorted(units) for row in board_rows(series.get(unit, ()))]
        return self._book.judge(series, units, now), board


def _spread(event: AnyEvent, windows: Sequence[Window]) -> list[tuple[int, ...]]:
    """A feedback batch's responses per window (see `spread_counts`)."""
    assert isinstance(event, PatientFeedback)
    assert event.period_start is not None and event.period_end is not None
    return spread_counts(event.rating_counts, event.period_start, event.period_end, windows)


def _apply(state: UnitWindowState, event: AnyEvent) -> None:
    if isinstance(event, PatientFeedback):
        assert event.rating is not None  # a batch is spread by the caller
        state.add_feedback(event.rating, event.themes)
    elif isinstance(event, IncidentReport):
        state.add_incident(event.harm, event.category)
    elif isinstance(event, TargetMetric):
        state.add_report(event)


__all__ = ["AlertStatus", "BatchResult", "Engine", "EngineConfig", "RawMessage"]
