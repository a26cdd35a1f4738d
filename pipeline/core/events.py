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
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from pydantic_core import core_schema as cs

SCHEMA_VERSION = 1
FREE_TEXT_MAX_CHARS = 10_000
MAX_INT64 = 2**63 - 1
MAX_UINT32 = 2**32 - 1
"""The most responses of one rating a feedback batch may carry (they are stored as UInt32)."""
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
_WRONG_TIMESTAMP_TYPE = "timestamp must be an RFC 3339 string"
_BAD_TIMESTAMP = "timestamp must be RFC 3339 with seconds and an offset"
_WRONG_UUID_TYPE = "a UUID must be a string"
_BAD_UUID = "UUID must be 32 hex digits grouped 8-4-4-4-12 by hyphens"


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


def _rfc3339_text(value: object) -> object:
    # pydantic alone would take "2024-01-01T10:00+00:00" (no seconds) or a unix number; the
    # contract wants RFC 3339 text. Past this check the field is parsed in lax mode, since strict
    # mode would refuse the (already checked) string once a validator has seen it.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", _WRONG_TIMESTAMP_TYPE)
    if not _RFC3339.fullmatch(value):
        raise ValueError(_BAD_TIMESTAMP)
    return value


def _uuid_text(value: object) -> object:
    # the same two steps as timestamps: check the text strictly, then let pydantic parse it
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", _WRONG_UUID_TYPE)
    if not _UUID.fullmatch(value):
        raise ValueError(_BAD_UUID)
    return value


class _JsonText:
    """The same check as a before-validator above, in pydantic-core alone for JSON input.

    Every event is validated from JSON, and a Python validator per timestamp and id costs a
    call into Python each. For JSON input the text is checked natively instead (a strict
    string, then the pattern, then the same lax parse); the error messages are the Python
    validator's, so a rejection reads the same. Python input keeps the validator.
    """

    def __init__(self, pattern: str, wrong_type: str, bad_text: str) -> None:
        self.pattern, self.wrong_type, self.bad_text = pattern, wrong_type, bad_text

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        python = handler(source)
        assert python["type"] == "function-before"  # the before-validator's schema
        strict_text = cs.str_schema(strict=True)
        # error types of our own (a known type takes no message of ours): decode maps any type
        # ending in "_type" to wrong_type and any other to invalid_value, as it does the
        # validator's "string_type" and "value_error"
        json = cs.chain_schema(
            [
                cs.custom_error_schema(
                    strict_text, custom_error_type="text_type", custom_error_message=self.wrong_type
                ),
                cs.custom_error_schema(
                    cs.str_schema(pattern=self.pattern),
                    custom_error_type="text_value",
                    custom_error_message=f"Value error, {self.bad_text}",
                ),
                python["schema"],
            ]
        )
        return cs.json_or_python_schema(json_schema=json, python_schema=python)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        assert schema["type"] == "json-or-python"
        return handler(schema["python_schema"])  # what the published schemas always said


_TIMESTAMP_TEXT = _JsonText(RFC3339_PATTERN, _WRONG_TIMESTAMP_TYPE, _BAD_TIMESTAMP)
_UUID_TEXT = _JsonText(UUID_PATTERN, _WRONG_UUID_TYPE, _BAD_UUID)
Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339_text), Field(strict=False), _TIMESTAMP_TEXT
]
EventId = Annotated[UUID, BeforeValidator(_uuid_text), Field(strict=False), _UUID_TEXT]
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
