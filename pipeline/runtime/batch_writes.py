"""The order in which the step stores a batch, and the halving of refused event rows.

Mixed into `Step` (pipeline/runtime/step.py); `_retrying` (runtime/retry.py) retries each
call. The order is what makes a crash at any point safe (docs/worker.md, "Order of a batch's
writes"): the windows with the ids they now count, the ledger, the events, the latest event
time per organisation, the rejections and alert versions; then the routes (alerts leave as
soon as they are stored: event-to-alert latency); then the windows without the ids, the board
rows, bright spots and verdicts, and the judgement marks last.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pipeline.core.batch import BatchResult
from pipeline.core.decode import Rejection, RejectReason
from pipeline.core.engine import RejectedMessage
from pipeline.core.stored import StoredEvent
from pipeline.errors import SinkRejected
from pipeline.runtime.ports import Store
from pipeline.runtime.retry import RetryingCalls

log = logging.getLogger("pipeline.step")

T = TypeVar("T")


class BatchWrites(RetryingCalls):
    """What `Step` provides besides the retry loop: the store and the clock."""

    _store: Store
    _clock: Callable[[], datetime]

    def _write(
        self, result: BatchResult, token: str, *, route: Callable[[], None] | None = None
    ) -> None:
        """Windows with the ids they count, the responses and revisions in force, events, the
        latest event time per organisation, rejections and alert versions; then `route` (the
        alerts and dead letters leave as soon as they are stored); then the windows again
        without the ids, the board rows, bright spots and changed verdicts, and last what the
        alerts were judged on (pipeline/core/engine_state.py and docs/worker.md say why in
        this order: nothing after the alerts is needed to restore them, and a crash before the
        marks means that organisation is judged again at the restart). ClickHouse counts
        as back from an outage in which writes failed only once all of them are stored."""
        self._storing_batch = True
        try:
            self._write_all(result, token, route)
        finally:
            self._storing_batch = False
        self._sink_back("store a batch")

    def _write_all(self, result: BatchResult, token: str, route: Callable[[], None] | None) -> None:
        started = time.monotonic()
        received_at = self._clock()  # outside the retries: a retry must be byte-identical
        store = self._store
        self._retrying("write windows", lambda: store.write_windows(result, token, applied=True))
        if result.responses or result.revisions:
            self._retrying("write the ledger", lambda: store.write_side_state(result, token))
        refused = self._write_events(result.accepted, token)
        if refused:
            gone = {id(r.stored) for r in refused}
            result.accepted = [s for s in result.accepted if id(s) not in gone]
            result.rejected.extend(r.message for r in refused)
        self._retrying("write progress", lambda: store.write_progress(result.accepted, token))
        self._retrying(
            "write rejections and alerts",
            lambda: store.write_outcomes(result.rejected, result.alerts, received_at, token),
        )
        if route is not None:
            routing = time.monotonic()
            route()
            started += time.monotonic() - routing  # the sink's latency, not the routes'
        self._retrying("write windows", lambda: store.write_windows(result, token, applied=False))
        if result.board or result.targets or result.bright_spots or result.verdicts:
            self._retrying(
                "write verdicts",
                lambda: store.write_outcomes(
                    (),
                    (),
                    received_at,
                    token,
                    board=result.board,
                    targets=result.targets,
                    bright=result.bright_spots,
                    verdicts=result.verdicts,
                ),
            )
        if result.judged:
            self._retrying("write judgements", lambda: store.write_judged(result.judged, token))
        self._metrics.sink_took(time.monotonic() - started)

    def _write_events(self, accepted: Sequence[StoredEvent], token: str) -> list[_Refused]:
        """One insert per table, side by side (the store's `write_events_each`); each is
        atomic on its own, so a table whose insert was refused stored none of its rows and
        is halved until the rows at fault are found, as if written alone."""
        by_type: dict[type, list[StoredEvent]] = {}
        for stored in accepted:  # by class: `event_type.value` is a Python call per event
            by_type.setdefault(type(stored.event), []).append(stored)
        groups = list(by_type.values())
        if not groups:
            return []
        outcomes = self._retrying(
            "write events", lambda: self._store.write_events_each(groups, token)
        )
        refused: list[_Refused] = []
        for events, refusal in zip(groups, outcomes, strict=True):
            if refusal is not None:
                refused.extend(self._split(events, token, refusal))
        return refused

    def _write_or_split(self, events: Sequence[StoredEvent], token: str) -> list[_Refused]:
        try:
            self._retrying(
                "write events", lambda: self._store.write_events(events, token), refusals=True
            )
            return []
        except SinkRejected as exc:
            return self._split(events, token, exc)

    def _split(
        self, events: Sequence[StoredEvent], token: str, refusal: SinkRejected
    ) -> list[_Refused]:
        """`events` were refused together (none stored): each half written, or split again."""
        if len(events) > 1:
            half = len(events) // 2
            return self._write_or_split(events[:half], token) + self._write_or_split(
                events[half:], token
            )
        return [self._refused(events[0], refusal)]

    def _refused(self, stored: StoredEvent, exc: SinkRejected) -> _Refused:
        self.health.refused_rows += 1
        self.health.last_refusal = f"{stored.origin}: {type(exc).__name__}"
        log.error("ClickHouse refused the event at %s; dead-lettered: %s", stored.origin, exc)
        rejection = Rejection(
            RejectReason.PROCESSING_ERROR,
            "ClickHouse refused the event's row",
            "",
            stored.payload.encode(),  # the storable form: nothing personal left in it
        )
        return _Refused(stored, RejectedMessage(rejection, stored.origin))


@dataclass(frozen=True, slots=True)
class _Refused:
    stored: StoredEvent
    message: RejectedMessage
