"""What the step needs from the outside, as protocols, with null versions for a runtime that
has no such thing (the embedded runner routes no alerts and exports no metrics).

The adapters satisfy these structurally: `ClickHouseSink`/`WorkerSink` the `Store`,
`KafkaRoute` an `AlertRoute`, `AlertmanagerRoute` a `BackgroundRoute`, `PipelineMetrics` the
`Metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from pipeline.core.alerts import Alert
from pipeline.core.board import BoardRow
from pipeline.core.detection.bright import BrightSpot
from pipeline.core.engine import BatchResult, RejectedMessage, WindowRecord
from pipeline.core.engine_state import InputPartition, RecentEvent
from pipeline.core.judgements import JudgedMark
from pipeline.core.learning import ResponseRecord
from pipeline.core.revisions import RevisionInForce
from pipeline.core.stored import StoredEvent
from pipeline.core.verdict_book import VerdictRow
from pipeline.errors import SinkRejected

OwnsOrg = Callable[[str], bool]
Version = tuple[str, datetime]


class Store(Protocol):
    """Storage of a step's results and of the engine's small state. Every write is idempotent
    (the same bytes under the same token are stored once). Errors: `SinkUnavailable` (retry
    later), `SinkRejected` (these rows will never be taken), other `SinkError`s.

    `lookups_apart`: `known_event_ids` and `revisions_of` may run on one thread while another
    store call runs on another (the store looks them up through a connection of its own);
    when False, the step runs one store call at a time."""

    lookups_apart: bool

    def write_windows(self, result: BatchResult, token: str, *, applied: bool) -> None: ...

    def write_events(self, accepted: Sequence[StoredEvent], token: str) -> None: ...

    def write_events_each(
        self, groups: Sequence[Sequence[StoredEvent]], token: str
    ) -> list[SinkRejected | None]:
        """`write_events` of each group (the events of one table each), possibly side by side:
        each group's insert stays atomic on its own. Returns, per group, the refusal that left
        it unstored (None: stored). Any other error is raised (once the groups under way have
        finished); a retry sends every group again, and those already stored add nothing."""
        ...

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
    ) -> None: ...

    def window_records(self, owns: OwnsOrg) -> list[WindowRecord] | None: ...

    def latest_event(self, owns: OwnsOrg) -> datetime | None: ...

    def recent_events(self, since: datetime, owns: OwnsOrg) -> list[RecentEvent]: ...

    def known_event_ids(self, ids: Collection[UUID]) -> set[UUID]: ...

    def write_side_state(self, result: BatchResult, token: str) -> None:
        """The responses and incident revisions in force `result` added."""
        ...

    def write_progress(self, accepted: Sequence[StoredEvent], token: str) -> None:
        """The latest event time of each organisation in `accepted` (after the events), with
        the input partition that event arrived on (`kafka_origin.input_partition`)."""
        ...

    def org_inputs(self) -> dict[str, InputPartition]:
        """Each organisation's input partition as recorded with its latest event time (the
        partition of its latest event); an organisation whose latest event came from no Kafka
        partition (a file), or was stored before partitions were recorded, is not in it."""
        ...

    def write_judged(self, marks: Sequence[JudgedMark], token: str) -> None:
        """What each organisation's alerts were judged on (after the alerts)."""
        ...

    def responses(self, owns: OwnsOrg) -> list[ResponseRecord]: ...

    def revisions_of(self, refs: Collection[tuple[str, str]]) -> list[RevisionInForce]:
        """The revisions stored as in force of these (organisation, report_ref)."""
        ...

    def judged_marks(self, owns: OwnsOrg) -> list[JudgedMark]:
        """The latest mark of each organisation `owns` accepts."""
        ...

    def latest_alerts(self) -> list[Alert]: ...

    def stored_payloads(self) -> Iterable[bytes]: ...

    # the alert delivery outbox: which alert versions each route took

    def mark_delivered(self, versions: Sequence[Version], route: str) -> None: ...

    def undelivered(self, route: str) -> list[Alert]: ...

    def delivered_versions(self, route: str) -> set[Version]: ...

    def first_detected(self) -> dict[str, datetime]: ...


class AlertRoute(Protocol):
    """A route the batch waits for: alert versions and dead letters are taken, or it raises
    `TransportError` (retried by the step)."""

    def deliver(self, alerts: Sequence[Alert], rejected: Sequence[RejectedMessage]) -> None: ...


class BackgroundRoute(Protocol):
    """A route that delivers on its own thread and never holds the stream up."""

    def submit(self, alerts: Iterable[Alert]) -> None: ...

    def delivered(self) -> list[Version]: ...

    def retain(self, keep: Callable[[Alert], bool]) -> None: ...

    def seed(
        self,
        alerts: Iterable[Alert],
        first_detected: dict[str, datetime],
        heard: Iterable[str] = (),
    ) -> None: ...


class Metrics(Protocol):
    """What the step reports about itself."""

    def record_batch(self, consumed_by_topic: Mapping[str, int], result: BatchResult) -> None: ...

    def record_alerts(self, alerts: Iterable[Alert]) -> None: ...

    def routing_failed(self, route: str) -> None: ...

    def sink_retried(self) -> None: ...

    def sink_state(self, up: bool) -> None: ...

    def sink_took(self, seconds: float) -> None: ...

    def open_windows_now(self, count: int) -> None: ...

    def batch_stored(self) -> None: ...

    def judging_failed(self, count: int) -> None: ...

    def set_aside(self, count: int) -> None: ...


class NullMetrics:
    """Metrics for a runtime that exports none."""

    def record_batch(self, consumed_by_topic: Mapping[str, int], result: BatchResult) -> None:
        pass

    def record_alerts(self, alerts: Iterable[Alert]) -> None:
        pass

    def routing_failed(self, route: str) -> None:
        pass

    def sink_retried(self) -> None:
        pass

    def sink_state(self, up: bool) -> None:
        pass

    def sink_took(self, seconds: float) -> None:
        pass

    def open_windows_now(self, count: int) -> None:
        pass

    def batch_stored(self) -> None:
        pass

    def judging_failed(self, count: int) -> None:
        pass

    def set_aside(self, count: int) -> None:
        pass
