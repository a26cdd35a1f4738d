"""The contract's events (CONTRACT.md §1) as strict pydantic models.

These models are the single source of truth: JSON Schemas under `schemas/events/` are generated
from them. Strictness is deliberate: unknown fields are rejected (a typo must not be silently
dropped), `"2"` is not `2`, timestamps must carry an offset, enums are closed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pipeline.core.event_fields import (
    EventId,
    FreeText,
    OrgId,
    ReportRef,
    ShortLabel,
    Slug,
    Source,
    Timestamp,
    UnitId,
)

SCHEMA_VERSION = 1
MAX_INT64 = 2**63 - 1
"""The largest integer any field takes: every accepted value fits a signed 64-bit column."""
MAX_UINT32 = 2**32 - 1
"""The most responses of one rating a feedback batch may carry (they are stored as UInt32)."""
MAX_VALUE = 1e12
"""The largest `value`, and value-form `target`, the pipeline processes, in any unit: every sum,
limit, ratio and chart scale built from them stays finite (near the float maximum a month's sums
overflowed and judging failed). The contract takes any `value` >= 0 and any positive `target`:
an event beyond these bounds is valid, and dead-lettered as `processing_error`
(`beyond_processable_range`)."""
MAX_SHARE_COUNT = 10**12
"""The largest share `denominator` (so `numerator`) the pipeline processes. Denominators are the
activity of the harmful-incident rate, and a window's expected count from activity near 2^63
lost every unit of precision, so judging its organisation raised (OverflowError) at every batch
and restart. The contract takes any count up to 2^63 - 1: a return beyond is valid, and
dead-lettered as `processing_error` (`beyond_processable_range`); one a store already holds
(written before the bound) is set aside at restore, logged and counted (`Engine.restore_state`)."""
MIN_VALUE_TARGET = 1e-6
"""The smallest value-form `target` the pipeline processes: a margin is read as a fraction of it."""
FREE_TEXT_FIELDS = frozenset({"description", "comment", "note"})
"""Free text: may hold personal data, which is redacted before it is stored."""
PATIENT_FIELDS = frozenset({"patient_ref"})
"""Patient references: stored only as a keyed pseudonym."""
EVENT_TIME_FIELDS = ("occurred_at", "period_start", "period_end")
"""Event times: bounded by the event-time horizon (`pipeline.core.bounds`)."""


class EventType(StrEnum):
    INCIDENT_REPORT = "incident_report"
    TARGET_METRIC = "target_metric"
    PATIENT_FEEDBACK = "patient_feedback"
    ALERT_RESPONSE = "alert_response"


class IncidentCategory(StrEnum):
    MEDICATION = "medication"
    FALL = "fall"
    PRESSURE_ULCER = "pressure_ulcer"
    INFECTION = "infection"
    DELAY_IN_CARE = "delay_in_care"
    DIAGNOSIS = "diagnosis"
    TREATMENT = "treatment"
    COMMUNICATION = "communication"
    DISCHARGE = "discharge"
    OTHER = "other"


class Harm(StrEnum):
    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    SEVERE = "severe"
    DEATH = "death"


class FeedbackChannel(StrEnum):
    SMS = "sms"
    WEB = "web"
    PAPER = "paper"
    KIOSK = "kiosk"
    PHONE = "phone"
    OTHER = "other"


class ValueUnit(StrEnum):
    """The unit of a `target_metric` in its value form (v1.1)."""

    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    PERCENT = "percent"
    COUNT = "count"


class ResponseKind(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    ACTION_TAKEN = "action_taken"
    FALSE_POSITIVE = "false_positive"
    RESOLVED = "resolved"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # an int range, not Literal[1]: Literal would accept `true` since True == 1
    schema_version: Annotated[int, Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)]
    event_id: EventId
    org_id: OrgId
    unit_id: UnitId
    occurred_at: Timestamp
    source: Source

    @property
    def unit_key(self) -> str:
        """The Kafka key and the unit of state: `org_id/unit_id`."""
        return f"{self.org_id}/{self.unit_id}"


class IncidentReport(_Event):
    """A patient-safety incident."""

    event_type: Literal[EventType.INCIDENT_REPORT]
    category: IncidentCategory
    harm: Harm
    reporter_role: ShortLabel | None = None
    description: FreeText | None = None
    patient_ref: ShortLabel | None = None
    report_ref: ReportRef | None = None
    """The incident's reference in the local risk system (contract v1.1): for one organisation
    and `report_ref`, only the highest `revision` counts."""
    revision: Annotated[int, Field(ge=1)] = 1


def _missing(field: str) -> PydanticCustomError:
    # a rule across fields names the field it misses in the context (decode reports it)
    return PydanticCustomError("missing", "field required: {field}", {"field": field})


class TargetMetric(_Event):
    """Performance against a target for one period.

    Two forms: a share (`numerator` of `denominator`, `target` a share in (0, 1]) or, from
    v1.1, a value (`value` >= 0 in `unit`, `target` any positive number in that unit). Either
    way `higher_is_better` says which side of `target` is met.
    """

    event_type: Literal[EventType.TARGET_METRIC]
    metric: Slug
    period_start: Timestamp
    period_end: Timestamp
    numerator: Annotated[int, Field(ge=0, le=MAX_INT64)] | None = None
    denominator: Annotated[int, Field(gt=0, le=MAX_INT64)] | None = None
    value: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    unit: ValueUnit | None = None
    target: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    higher_is_better: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> TargetMetric:
        if self.period_start >= self.period_end:
            raise ValueError("period_start must be before period_end")
        share = self.numerator is not None or self.denominator is not None
        if share and (self.value is not None or self.unit is not None):
            raise ValueError("give numerator and denominator, or value and unit, not both")
        if not share and (self.value is not None or self.unit is not None):
            if self.value is None:
                raise _missing("value")
            if self.unit is None:
                raise _missing("unit")
            return self
        if self.numerator is None:
            raise _missing("numerator")
        if self.denominator is None:
            raise _missing("denominator")
        if self.numerator > self.denominator:
            raise ValueError("numerator must not exceed denominator")
        if self.target > 1:
            raise PydanticCustomError(
                "less_than_equal", "a share's target must be at most 1", {"field": "target"}
            )
        return self

    @property
    def is_share(self) -> bool:
        """True for the numerator/denominator form, False for the value form."""
        return self.value is None

    def beyond_processable_range(self) -> str | None:
        """Why this valid event's value, target or denominator is beyond what the pipeline can
        sum, chart and judge (`MAX_VALUE`, `MIN_VALUE_TARGET`, `MAX_SHARE_COUNT`), or None.
        Figures only: safe to show."""
        return beyond_processable_range(self.value, self.target, self.denominator)


def beyond_processable_range(
    value: float | None, target: float, denominator: float | None
) -> str | None:
    """Why a target return of these figures (`value` None: the share form) is beyond what the
    pipeline can sum, chart and judge, or None: `TargetMetric.beyond_processable_range`, and
    the same test on a report in force restored from a store written before a bound existed."""
    if value is None:
        if denominator is not None and denominator > MAX_SHARE_COUNT:
            return (
                f"denominator {denominator:,} is above {MAX_SHARE_COUNT:,}, "
                "the largest count the pipeline processes"
            )
        return None
    if value > MAX_VALUE:
        return f"value {value:g} is above {MAX_VALUE:g}, the largest the pipeline sums"
    if not MIN_VALUE_TARGET <= target <= MAX_VALUE:
        return (
            f"target {target:g} is outside {MIN_VALUE_TARGET:g} to {MAX_VALUE:g}, "
            "the targets the pipeline measures against"
        )
    return None


RatingKey = Literal["1", "2", "3", "4", "5", "6"]
RATING_KEYS: tuple[RatingKey, ...] = ("1", "2", "3", "4", "5", "6")


class PatientFeedback(_Event):
    """One Friends-and-Family-Test style response, or (v1.1) a batch of them for a period.

    The single form carries `rating`; the counts form `period_start`, `period_end` and
    `counts` (responses per rating "1".."6"), treated exactly as that many single responses
    spread over the period.
    """

    event_type: Literal[EventType.PATIENT_FEEDBACK]
    rating: Annotated[int, Field(ge=1, le=6)] | None = None
    period_start: Timestamp | None = None
    period_end: Timestamp | None = None
    counts: dict[RatingKey, Annotated[int, Field(ge=0, le=MAX_UINT32)]] | None = None
    channel: FeedbackChannel | None = None
    comment: FreeText | None = None
    themes: Annotated[list[Slug], Field(max_length=20)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> PatientFeedback:
        batch = self.counts is not None or self.period_start is not None
        if self.rating is not None:
            if batch or self.period_end is not None:
                raise ValueError("give rating, or period_start, period_end and counts, not both")
            return self
        if self.counts is None and self.period_start is None and self.period_end is None:
            raise _missing("rating")
        for name in ("period_start", "period_end", "counts"):
            if getattr(self, name) is None:
                raise _missing(name)
        assert self.period_start is not None and self.period_end is not None
        if self.period_start >= self.period_end:
            raise ValueError("period_start must be before period_end")
        if not any((self.counts or {}).values()):
            raise ValueError("counts must hold at least one response")
        return self

    @property
    def rating_counts(self) -> tuple[int, int, int, int, int, int]:
        """Responses per rating 1..6: the counts, or one response for the single form."""
        if self.counts is None:
            one = [0] * 6
            one[(self.rating or 6) - 1] = 1
            return (one[0], one[1], one[2], one[3], one[4], one[5])
        c = self.counts
        return (
            c.get("1", 0),
            c.get("2", 0),
            c.get("3", 0),
            c.get("4", 0),
            c.get("5", 0),
            c.get("6", 0),
        )


class AlertResponse(_Event):
    """A safety team's answer to an alert; closes the learning loop."""

    event_type: Literal[EventType.ALERT_RESPONSE]
    alert_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    response: ResponseKind
    responder_role: ShortLabel | None = None
    note: FreeText | None = None
    owner: ShortLabel | None = None
    due_by: Timestamp | None = None


Event = Annotated[
    IncidentReport | TargetMetric | PatientFeedback | AlertResponse,
    Field(discriminator="event_type"),
]
EVENT_MODELS: dict[EventType, type[_Event]] = {
    EventType.INCIDENT_REPORT: IncidentReport,
    EventType.TARGET_METRIC: TargetMetric,
    EventType.PATIENT_FEEDBACK: PatientFeedback,
    EventType.ALERT_RESPONSE: AlertResponse,
}
EVENT_ADAPTER: TypeAdapter[IncidentReport | TargetMetric | PatientFeedback | AlertResponse] = (
    TypeAdapter(Event)
)
AnyEvent = IncidentReport | TargetMetric | PatientFeedback | AlertResponse
