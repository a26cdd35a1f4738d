"""The contract's events (CONTRACT.md §1) as strict pydantic models.

These models are the single source of truth: JSON Schemas under `schemas/events/` are generated
from them. Strictness is deliberate: unknown fields are rejected (a typo must not be silently
dropped), `"2"` is not `2`, timestamps must carry an offset, enums are closed.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = 1
FREE_TEXT_MAX_CHARS = 10_000
MAX_INT64 = 2**63 - 1
"""The largest integer any field takes: every accepted value fits a signed 64-bit column."""
FREE_TEXT_FIELDS = frozenset({"description", "comment", "note"})
"""Free text: may hold personal data, which is redacted before it is stored."""
PATIENT_FIELDS = frozenset({"patient_ref"})
"""Patient references: stored only as a keyed pseudonym."""
EVENT_TIME_FIELDS = ("occurred_at", "period_start", "period_end")
"""Event times: bounded by the event-time horizon (`pipeline.core.bounds`)."""

RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
"""What a timestamp must look like before it is parsed (the JSON Schemas carry it too)."""
UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
"""The 8-4-4-4-12 form; Python's UUID() would also take braces, `urn:uuid:` or no hyphens."""
_RFC3339 = re.compile(RFC3339_PATTERN)
_UUID = re.compile(UUID_PATTERN)


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


class ResponseKind(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    ACTION_TAKEN = "action_taken"
    FALSE_POSITIVE = "false_positive"
    RESOLVED = "resolved"


def _rfc3339_text(value: object) -> object:
    # pydantic alone would take "2024-01-01T10:00+00:00" (no seconds) or a unix number; the
    # contract wants RFC 3339 text. Past this check the field is parsed in lax mode, since strict
    # mode would refuse the (already checked) string once a validator has seen it.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "timestamp must be an RFC 3339 string")
    if not _RFC3339.fullmatch(value):
        raise ValueError("timestamp must be RFC 3339 with seconds and an offset")
    return value


def _uuid_text(value: object) -> object:
    # the same two steps as timestamps: check the text strictly, then let pydantic parse it
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "a UUID must be a string")
    if not _UUID.fullmatch(value):
        raise ValueError("UUID must be 32 hex digits grouped 8-4-4-4-12 by hyphens")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), Field(strict=False)]
EventId = Annotated[UUID, BeforeValidator(_uuid_text), Field(strict=False)]
OrgId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{3,10}$")]
UnitId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Source = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ShortLabel = Annotated[str, StringConstraints(max_length=64)]
FreeText = Annotated[str, StringConstraints(max_length=FREE_TEXT_MAX_CHARS)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
ReportRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]


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


class TargetMetric(_Event):
    """Performance against a target for one period."""

    event_type: Literal[EventType.TARGET_METRIC]
    metric: Slug
    period_start: Timestamp
    period_end: Timestamp
    numerator: Annotated[int, Field(ge=0, le=MAX_INT64)]
    denominator: Annotated[int, Field(gt=0, le=MAX_INT64)]
    target: Annotated[float, Field(gt=0, le=1)]
    higher_is_better: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> TargetMetric:
        if self.period_start >= self.period_end:
            raise ValueError("period_start must be before period_end")
        if self.numerator > self.denominator:
            raise ValueError("numerator must not exceed denominator")
        return self


class PatientFeedback(_Event):
    """One Friends-and-Family-Test style response."""

    event_type: Literal[EventType.PATIENT_FEEDBACK]
    rating: Annotated[int, Field(ge=1, le=6)]
    channel: FeedbackChannel | None = None
    comment: FreeText | None = None
    themes: Annotated[list[Slug], Field(max_length=20)] | None = None


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
