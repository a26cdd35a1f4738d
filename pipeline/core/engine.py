"""The one processing step both runtimes call.

A batch of raw messages in; out come the rows to store (accepted events in their storable form,
rejections, changed unit-window aggregates with their small state) and the alert versions to
raise. The Kafka worker and the embedded runner differ only in where the messages come from and
where results go.

The engine holds the per-unit state: each unit's windows, the watermark, the alerts it has
raised, and the ids of events whose windows are still open (the idempotency key; older ids are
asked of storage through `known`, see engine_state.py). Everything it decides is a function of
the set of events seen, never of their order or batching, except *when* a window is first
judged: an alert raised on an early view of a window is corrected (updated, resolved or
withdrawn) once late events arrive, so the final alerts are the same whatever the order. Harm
and reporting are judged in a window only once its organisation's incident reports have passed
it (arrivals.py), so reports that come after the other topics raise no silence to withdraw.

A message valid by the contract that the engine still fails on (a bug, an unforeseen value) is
rejected with reason `processing_error` and the rest of the batch goes on. An organisation whose
judgement fails is left out of the result whole and named in `BatchResult.judging_failures`
(judging.py); the other organisations' judgements go on.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime
from uuid import UUID

from pipeline.core.admission import Admission
from pipeline.core.aggregates import UnitWindowAggregate, UnitWindowState
from pipeline.core.alerts import Alert, AlertStatus
from pipeline.core.arrivals import ReportArrivals
from pipeline.core.batch import (
    BatchResult,
    EngineConfig,
    RejectedMessage,
)
from pipeline.core.batch_decode import decode_batch
from pipeline.core.bounds import STORED
from pipeline.core.counting import Touched
from pipeline.core.decode import RawMessage, Rejection, decode
from pipeline.core.detection import Detector
from pipeline.core.engine_state import (
    RestoredState,
    SeenIds,
    SetAside,
    WindowRecord,
    expiry_of_recent,
    horizon_start,
    within_range,
)
from pipeline.core.events import AnyEvent, TargetMetric
from pipeline.core.judge import AlertBook, FindingSource
from pipeline.core.judgements import fingerprint
from pipeline.core.judging import Judging
from pipeline.core.learning import ResponseRecord
from pipeline.core.placement import Placement, placement
from pipeline.core.pseudonyms import PseudonymKeys
from pipeline.core.revisions import IncidentRevisions, RevisionInForce
from pipeline.core.windows import Watermark, Window

UnitKey = tuple[str, str]
KnownIds = Callable[[Collection[UUID]], set[UUID]]
"""Asks storage which of these event ids it holds (for ids no longer, or never, in memory)."""
RevisionsOf = Callable[[Collection[tuple[str, str]]], list[RevisionInForce]]
"""Asks storage for the revisions in force of these (organisation, report_ref)."""


_Decoded = tuple[RawMessage, "AnyEvent | Rejection", Placement | None]


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
        self._seen = SeenIds()  # event ids (as 128-bit integers: cheaper to hash)
        self._pending: set[UUID] = set()  # counted in a stored window, not stored as events
        self._units: dict[UnitKey, dict[Window, UnitWindowState]] = {}
        self._watermark = Watermark(config.allowed_lateness, max_step=config.watermark_max_step)
        detector = detector or Detector(config.detection)
        self._book = AlertBook(detector, window=config.window)
        rules = fingerprint(config, type(detector).__qualname__, self._book.learning)
        # How far each organisation's incident reports have come (arrivals.py): read off its
        # windows, so restored with them.
        self._arrivals = ReportArrivals(config.window)
        self._judging = Judging(
            self._book, self._units, self._watermark, rules, config.detection, self._arrivals
        )
        self._revisions = IncidentRevisions()
        shared = (self._seen, self._pending, self._units, self._watermark, self._book)
        self._admission = Admission(config, self._key, (*shared, self._revisions))
        # Units whose closed windows changed or whose alerts were answered since the last
        # judgement (`process(judge=False)`); units with newly closed windows are found anew.
        self._unjudged: set[UnitKey] = set()

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
        return {unit: self._judging.closed_windows(unit) for unit in self._units}

    def window_count(self) -> int:
        return sum(len(windows) for windows in self._units.values())

    def open_windows(self) -> int:
        """Unit windows the watermark has not closed yet."""
        return sum(
            not self._watermark.is_closed(w) for windows in self._units.values() for w in windows
        )

    @property
    def remembered_ids(self) -> int:
        """How many event ids the engine holds in memory (bounded by the open windows)."""
        return len(self._seen)

    def horizon(self, latest_event: datetime | None) -> datetime | None:
        """For a restore (of more organisations, perhaps): events that occurred from this
        moment on (target metrics: whose period ends after it) are the ones
        `RestoredState.recent` must list, given the latest event time of the restored ones."""
        current = self._watermark.latest_event
        if latest_event is None or (current is not None and current > latest_event):
            latest_event = current
        mark = None if latest_event is None else latest_event - self.config.allowed_lateness
        return horizon_start(mark, self.config.window)

    def restore_state(self, state: RestoredState, now: datetime) -> BatchResult:
        """Rebuild from the small form the step stores (engine_state.py); the result carries
        only the alert versions the stored ones lack (route them like any other): only the
        organisations whose stored judgement does not cover what was restored are judged. A
        stored target report beyond the processable range is left out (`result.set_aside`)."""
        digests: dict[tuple[UnitKey, Window], bytes] = {}
        result = BatchResult()
        for stored in state.windows:
            record, aside = within_range(stored)
            result.set_aside += aside
            agg = record.aggregate
            unit = (agg.org_id, agg.unit_id)
            windows = self._units.setdefault(unit, {})
            windows[agg.window] = restored = UnitWindowState.restored(agg, record.reports)
            if aside:  # stored again without it: the report and Grafana read stored windows
                snapshot = restored.snapshot()
                result.windows.append(snapshot)
                result.window_state.append(WindowRecord(snapshot, record.reports, record.applied))
            self._arrivals.restore(agg.org_id, agg.window, any(agg.incidents_by_harm), agg.reported)
            if record.digest is not None:
                digests[unit, agg.window] = record.digest
        if state.latest_event is not None:
            self._watermark.observe(state.latest_event)
        mark = self._watermark.value
        kind = self.config.window
        for recent in state.recent:
            expiry = expiry_of_recent(recent, kind)
            if mark is None or expiry > mark:
                self._seen.add(recent.event_id.int, expiry)
        if mark is not None:
            self._seen.evict(mark)
        self._pending |= state.pending
        self._book.responses.restore(state.responses)
        self._revisions.restore(state.revisions)
        self._book.restore(state.alerts)
        orgs = {record.aggregate.org_id for record in state.windows}
        self._judging.restore(orgs, state.judged, now, result, digests)
        return self._drained(result)

    def restore(
        self, payloads: Iterable[bytes], alerts: Iterable[Alert], now: datetime
    ) -> BatchResult:
        """Rebuild state by re-reading stored `StoredEvent.payload`s (storage written before
        window state was stored); `alerts` the latest stored version of each alert. A target
        report beyond the processable range is left out (`result.set_aside`)."""
        result = BatchResult()
        for payload in payloads:
            event = decode(payload, STORED)
            if isinstance(event, Rejection):
                # Stored forms always re-validate (tests hold to_stored to that); should one
                # not, its id still counts as seen, so a re-run cannot store the event twice.
                self._seen_in(payload)
                continue
            if event.event_id.int in self._seen:
                continue
            if type(event) is TargetMetric and (why := event.beyond_processable_range()):
                self._seen_in(payload)
                aside = SetAside(event.org_id, event.unit_id, str(event.event_id), why)
                result.set_aside.append(aside)
                continue
            placed = placement(event, self.config.window)
            self._admission.count(event, placed.windows, {}, placed.expiry)
            result.read += 1
        for (org, _), windows in self._units.items():
            for window, state in windows.items():
                reported = any(state.incidents_by_harm) or any(state.fft_counts)
                self._arrivals.restore(org, window, any(state.incidents_by_harm), reported)
        self._book.restore(alerts)
        self._judging.judge(set(self._units), now, result)
        return self._drained(result)

    def process(
        self,
        messages: Iterable[RawMessage],
        now: datetime,
        known: KnownIds | None = None,
        *,
        ask_every_new_id: bool = False,
        revisions_of: RevisionsOf | None = None,
        judge: bool = True,
    ) -> BatchResult:
        """Decode, deduplicate, redact, aggregate and judge one batch.

        With `known`, ids the engine no longer remembers are asked of storage, and ids of
        windows the watermark closed are forgotten after the batch; `ask_every_new_id` asks
        for every id not in memory (a worker that owns only some organisations: an id reused
        under another organisation is stored by another worker). Without `known` nothing is
        forgotten. `revisions_of` gives the revisions in force of reports not held in memory.
        `judge=False` leaves the judgement for a later `process` or `judge_pending` (which
        judge everything left since): the final alerts are the same, raised later.
        """
        result = BatchResult()
        touched: Touched = {}
        bounds = self.config.horizon.at(now)
        decoded = decode_batch(messages, bounds, self.config.window, self._seen, ask_every_new_id)
        found = known(decoded.ask) if known is not None and decoded.ask else set()
        if revisions_of is not None:
            self._revisions.load(decoded.refs, revisions_of)
        result.read += len(decoded.entries)
        late_units, answered = self._admission.admit_all(decoded.entries, found, result, touched)
        note_arrival = self._arrivals.note
        for state, applied in touched.values():
            holds = any(state.incidents_by_harm)
            note_arrival(state.org_id, state.window, holds, holds or any(state.fft_counts))
            snapshot = state.snapshot()
            result.windows.append(snapshot)
            reports = tuple(state.reports[key] for key in sorted(state.reports))
            result.window_state.append(WindowRecord(snapshot, reports, tuple(applied)))
        answered &= self._units.keys()  # a unit with no data has no alert to answer
        self._unjudged |= late_units | answered
        if judge:
            self._judge_unjudged(now, result)
        if known is not None:
            self._seen.evict(self._watermark.value)
        return self._drained(result)

    @property
    def judgement_pending(self) -> bool:
        """Whether a `process(judge=False)` left units to judge (`judge_pending` does)."""
        return bool(self._unjudged) or bool(self._judging.newly_closed())

    def judge_pending(self, now: datetime) -> BatchResult:
        """Judge what earlier batches left unjudged (`process(judge=False)`)."""
        result = BatchResult()
        self._judge_unjudged(now, result)
        return self._drained(result)

    def _judge_unjudged(self, now: datetime, result: BatchResult) -> None:
        units, self._unjudged = self._unjudged | self._judging.newly_closed(), set()
        self._judging.judge(units, now, result)
        self._arrivals.caught_up()

    def _drained(self, result: BatchResult) -> BatchResult:
        """`result` with the responses and revisions this step added (stored with it)."""
        result.responses = self._book.responses.drain()
        result.revisions = self._revisions.drain()
        return result

    def finish(self, now: datetime) -> BatchResult:
        """End of input: every window that ended by the latest event time is judged (and
        whatever earlier batches left unjudged)."""
        self._watermark.finish()
        return self.judge_pending(now)

    def _seen_in(self, payload: bytes) -> None:
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            event_id = UUID(json.loads(payload)["event_id"])
            self._seen.add(event_id.int, datetime.max.replace(tzinfo=UTC))


__all__ = [
    "AlertStatus",
    "BatchResult",
    "Engine",
    "EngineConfig",
    "KnownIds",
    "RawMessage",
    "RejectedMessage",
    "RestoredState",
    "WindowRecord",
]
