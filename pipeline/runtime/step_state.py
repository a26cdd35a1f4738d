"""`Step`'s state: `restore` rebuilds the engine from the small state the step stores with each
batch (pipeline/core/engine_state.py), limited to the organisations this runtime owns; storage
written before that state existed is re-read payload by payload, once. `reset` forgets
everything and restores at once the organisations recorded on the partitions the runtime now
owns (all of them when it owns every partition); any other is restored when its first event
arrives.

Mixed into `Step` (pipeline/runtime/step.py), which sets what is declared here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence

from pipeline.core.alerts import Alert
from pipeline.core.engine import BatchResult, Engine, RawMessage
from pipeline.core.engine_state import InputPartition, RestoredState
from pipeline.runtime.batch_writes import BatchWrites
from pipeline.runtime.legacy import org_of_payload, owned_payloads
from pipeline.runtime.ports import OwnsOrg
from pipeline.runtime.routing import Routes

log = logging.getLogger("pipeline.step")


def owns_every_org(org: str) -> bool:
    return True


class StepState(BatchWrites):
    """`Step`'s restore and reset; what they read of the step is declared here."""

    engine: Engine
    routes: Routes
    _engine_factory: Callable[[], Engine]
    _owns: OwnsOrg
    _held: set[str] | None
    _by_record: set[str]
    _ask_every_new_id: bool
    settle: Callable[[], None]
    _judging_failed: Callable[[BatchResult], None]

    # -- state ---------------------------------------------------------------------------

    def restore(self, owns: OwnsOrg | None = None) -> BatchResult:
        """A fresh engine rebuilt from storage for the organisations `owns` accepts (all when
        None); then routes what an earlier run stored but did not route."""
        self.settle()
        self.engine = self._engine_factory()
        self._held = None
        self._by_record = set()
        self._owns = owns or owns_every_org
        self._ask_every_new_id = owns is not None
        return self._restore(self._owns, self._owns)

    def reset(self, *, ask_every_new_id: bool, owned: Collection[InputPartition] = ()) -> None:
        """Forget everything, then restore at once each organisation whose latest event arrived
        on a partition of `owned` (the input partitions the runtime now owns; `Store.org_inputs`)
        so that its open alerts are posted to Alertmanager again now, not only after its next
        event (until then Alertmanager ended them: "ended, not resolved"). Any other
        organisation is restored from storage when its first event arrives (a worker holds the
        organisations its partitions bring, whatever partitioner the publishers used).
        `ask_every_new_id`: other workers store other organisations, so an id not in memory may
        be stored under one of theirs. Without it the runtime owns every organisation and
        restores them all now."""
        if not ask_every_new_id:
            self.restore()
            return
        self.settle()
        self.engine = self._engine_factory()
        self._held = set()
        self._by_record = set()
        self._owns = self._held.__contains__
        self._ask_every_new_id = ask_every_new_id
        self.routes.retain(self._owns)
        if owned:
            self._restore_recorded(set(owned))

    def _restore_recorded(self, owned: set[InputPartition]) -> None:
        recorded = self._org_inputs()
        orgs = {org for org, place in recorded.items() if place in owned}
        log.info("%d organisations recorded on the partitions assigned: restored now", len(orgs))
        if orgs and self._held is not None:
            self._held.update(orgs)
            self._by_record = set(orgs)
            self._restore(orgs.__contains__, self._owns)

    def moved_away(self, owned: Collection[InputPartition]) -> bool:
        """Whether an organisation `reset` restored from its record, and no event of which came
        since, is now recorded on a partition not in `owned` (the input partitions the runtime
        owns). Its events then go to another worker (the partition count changed, or its
        publisher's partitioner), which holds it as they come: the runtime should be reset, so
        that it neither judges a copy of it that no longer changes nor keeps posting its
        alerts. Reads storage only while such an organisation is held."""
        if not self._by_record:
            return False
        recorded = self._org_inputs()
        places = set(owned)
        return any(org in recorded and recorded[org] not in places for org in self._by_record)

    def _org_inputs(self) -> dict[str, InputPartition]:
        return self._retrying(
            "read the organisations' input partitions", self._store.org_inputs, read=True
        )

    def _hold(self, messages: Sequence[RawMessage]) -> None:
        """Restore the organisations first seen in `messages`, once no batch is being stored
        (a restore reads and routes what is stored)."""
        if self._held is None:
            return
        seen = {org_of_payload(m.value) for m in messages}
        if self._by_record:
            self._by_record.difference_update(seen)  # its events come here: it is ours
        new = seen.difference(self._held)
        new.discard(None)
        if new:
            self.settle()
            orgs = {org for org in new if org is not None}
            self._held.update(orgs)
            self._restore(orgs.__contains__, self._owns)

    def _restore(self, new: OwnsOrg, held: OwnsOrg) -> BatchResult:
        started = time.monotonic()
        engine = self.engine
        state = self._retrying(
            "read the stored state", lambda: self._read_state(engine, new), read=True
        )
        if state is None:
            log.warning("stored windows predate stored state: re-reading every stored event")
            payloads = self._retrying(
                "read stored events", lambda: self._owned_payloads(new), read=True
            )
            result = engine.restore(payloads, self._owned_alerts(new), self._clock())
        else:
            result = engine.restore_state(state, self._clock())
        for aside in result.set_aside:
            log.warning(
                "stored target report %s of %s %s set aside at restore, as a new one is "
                "dead-lettered: %s",
                aside.event_id,
                aside.org_id,
                aside.unit_id,
                aside.reason,
            )
        if result.set_aside:
            self._metrics.set_aside(len(result.set_aside))
        self._judging_failed(result)
        self._write(result, token="restore")
        self.routes.route_pending(self._store, engine, new, held)
        self._metrics.open_windows_now(engine.open_windows())
        log.info(
            "state restored: %d unit windows, %d event ids in memory, %d alerts, in %.2fs",
            engine.window_count(),
            engine.remembered_ids,
            len(engine.alerts),
            time.monotonic() - started,
        )
        return result

    def _read_state(self, engine: Engine, owns: OwnsOrg) -> RestoredState | None:
        records = self._store.window_records(owns)
        if records is None:
            return None
        latest = self._store.latest_event(owns)
        since = engine.horizon(latest)
        recent = self._store.recent_events(since, owns) if since is not None else []
        applied = {i for record in records for i in record.applied}
        stored = self._store.known_event_ids(applied) if applied else set()
        pending = applied - stored  # counted, not stored: never seen (see period_events)
        return RestoredState(
            records,
            [r for r in recent if r.event_id not in pending] if pending else recent,
            latest,
            self._owned_alerts(owns),
            pending,
            self._store.responses(owns),
            judged=self._store.judged_marks(owns),
        )

    def _owned_payloads(self, owns: OwnsOrg) -> list[bytes]:
        return list(owned_payloads(self._store.stored_payloads(), owns))

    def _owned_alerts(self, owns: OwnsOrg) -> list[Alert]:
        alerts = self._retrying("read alerts", self._store.latest_alerts, read=True)
        return [a for a in alerts if owns(a.org_id)]
