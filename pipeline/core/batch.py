"""What one engine step takes and gives: its configuration, its result, a rejection with its
origin; and how one accepted event changes a unit's window state."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from pipeline.core.aggregates import UnitWindowAggregate, UnitWindowState, spread_counts
from pipeline.core.alerts import Alert
from pipeline.core.board import BoardRow
from pipeline.core.bounds import TimeHorizon
from pipeline.core.decode import RawMessage, Rejection, RejectReason
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.bright import BrightSpot
from pipeline.core.engine_state import SetAside, WindowRecord
from pipeline.core.events import AnyEvent, IncidentReport, PatientFeedback, TargetMetric
from pipeline.core.judgements import JudgedMark
from pipeline.core.learning import ResponseRecord
from pipeline.core.privacy import redact_rejected
from pipeline.core.revisions import RevisionInForce
from pipeline.core.stored import FreeTextPolicy, StoredEvent
from pipeline.core.verdict_book import VerdictRow
from pipeline.core.windows import Window, WindowKind


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


@dataclass(frozen=True, slots=True, order=True)
class JudgingFailure:
    """An organisation whose judgement raised: nothing of it was kept (pipeline/core/
    judging.py). `error` is the exception's type only: its message may quote an event."""

    org_id: str
    error: str


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
    window_state: list[WindowRecord] = field(default_factory=list)
    """The changed windows in their storable small form (same order as `windows`)."""
    board: list[BoardRow] = field(default_factory=list)
    """The Making Data Count summary rows of the units judged in this step."""
    targets: list[BoardRow] = field(default_factory=list)
    """A row per target metric of each unit judged in this step (`board.unit_board`)."""
    responses: list[ResponseRecord] = field(default_factory=list)
    """Responses added to the learning loop's ledger in this step."""
    revisions: list[RevisionInForce] = field(default_factory=list)
    """Incident revisions that came into force in this step."""
    judged: list[JudgedMark] = field(default_factory=list)
    """What each organisation judged in this step was judged on (store after the alerts)."""
    bright_spots: list[BrightSpot] = field(default_factory=list)
    """Every unit and measure of the organisations judged in this step: its latest bright spot
    (units better than their baseline and their peers; never alerts), or a `none` row."""
    verdicts: list[VerdictRow] = field(default_factory=list)
    """The verdicts (unit, measure, window) that changed in this step."""
    judging_failures: list[JudgingFailure] = field(default_factory=list)
    """Organisations whose judgement raised in this step (none of their judgement is here)."""
    set_aside: list[SetAside] = field(default_factory=list)
    """At a restore: stored target reports beyond the processable range, left out of their
    windows (`engine_state.within_range`); the step logs and counts them."""


def spread_batch(event: AnyEvent, windows: Sequence[Window]) -> list[tuple[int, ...]]:
    """A feedback batch's responses per window (see `spread_counts`)."""
    assert isinstance(event, PatientFeedback)
    assert event.period_start is not None and event.period_end is not None
    return spread_counts(event.rating_counts, event.period_start, event.period_end, windows)


def is_batch(event: AnyEvent) -> bool:
    """A counts-form feedback event: responses spread over its period."""
    return isinstance(event, PatientFeedback) and event.counts is not None


def apply_event(state: UnitWindowState, event: AnyEvent) -> None:
    if isinstance(event, PatientFeedback):
        assert event.rating is not None  # a batch is spread by the caller
        state.add_feedback(event.rating, event.themes)
    elif isinstance(event, IncidentReport):
        state.add_incident(event.harm, event.category)
    elif isinstance(event, TargetMetric):
        state.add_report(event)


class UnprocessableEvent(ValueError):
    """An event valid under the contract that the pipeline cannot process; raised while it is
    admitted, it becomes that event's `processing_error` and never leaves the core. Its message
    names figures only, never the event's text: it is shown as the rejection's detail."""


def processing_error(message: RawMessage, exc: Exception) -> Rejection:
    # The exception's type only (its message may quote the event, free text included), unless
    # the pipeline raised it on purpose with a message of figures only.
    if isinstance(exc, UnprocessableEvent):
        detail = f"the pipeline cannot process this event: {exc}"
    else:
        detail = f"the pipeline could not process this event ({type(exc).__name__})"
    return Rejection(
        RejectReason.PROCESSING_ERROR,
        detail,
        "",
        redact_rejected(message.value),
    )
