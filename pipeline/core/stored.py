"""The storable form of an accepted event: free text redacted, patient reference pseudonymised."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipeline.core.event_fields import FREE_TEXT_MAX_CHARS
from pipeline.core.events import (
    AlertResponse,
    AnyEvent,
    EventType,
    IncidentReport,
    PatientFeedback,
)
from pipeline.core.privacy import RedactedText, redact_free_text
from pipeline.core.pseudonyms import PseudonymKeys

EVENT_TABLES: dict[EventType, str] = {
    EventType.INCIDENT_REPORT: "incident_reports",
    EventType.TARGET_METRIC: "target_metrics",
    EventType.PATIENT_FEEDBACK: "patient_feedback",
    EventType.ALERT_RESPONSE: "alert_responses",
}
"""The table each event type is stored in (the ClickHouse migrations create them)."""


class FreeTextPolicy(StrEnum):
    """What is kept of free text. Either way the text as written is never kept."""

    REDACTED = "redacted"  # identifiers replaced by tags, the rest kept for learning
    DROP = "drop"  # nothing kept but its length and what was found in it


@dataclass(slots=True)  # not frozen: one is made per event, and a frozen one costs 5x as much
class StoredEvent:
    """An accepted event in the only form that may leave the engine (treat it as read-only).

    `event` already carries the redacted free text (or none) and the pseudonymised
    `patient_ref`; `payload` is its JSON, from which the engine can be restored: it always
    decodes again (with `STORED` bounds) to `event`.
    """

    event: AnyEvent
    payload: str
    origin: str
    late: bool
    free_text_chars: int
    nhs_numbers_redacted: int
    other_identifiers_redacted: int


_FREE_TEXT_FIELD: dict[type, str] = {
    PatientFeedback: "comment",
    IncidentReport: "description",
    AlertResponse: "note",
}


def free_text_of(event: AnyEvent) -> tuple[str, str | None]:
    """The name and value of the event's free-text field (each type has at most one)."""
    name = _FREE_TEXT_FIELD.get(type(event))
    if name is None:
        return "", None
    text: str | None = getattr(event, name)
    return name, text


def to_stored(
    event: AnyEvent,
    raw: bytes,
    *,
    origin: str,
    late: bool,
    policy: FreeTextPolicy,
    key: bytes | PseudonymKeys,
) -> StoredEvent:
    """Redact and pseudonymise `event` (decoded from `raw`) for storage."""
    kind = type(event)
    name = _FREE_TEXT_FIELD.get(kind)
    text: str | None = None if name is None else getattr(event, name)
    patient_ref = event.patient_ref if isinstance(event, IncidentReport) else None
    if not text and patient_ref is None:
        # Nothing personal in it: the validated input is its own storable form. (Once per
        # event, and by far the most common case: the row is made with nothing else to do.)
        return StoredEvent(event, raw.decode("utf-8"), origin, late, 0, 0, 0)
    updates: dict[str, str | None] = {}
    redacted: RedactedText | None = None
    if text:
        assert name is not None
        redacted = redact_free_text(text)
        # A tag can be longer than what it replaces ("[POSTCODE]" for "M11AE"): the stored
        # form is cut to the contract's limit, so it always validates again on restore.
        kept = redacted.text[:FREE_TEXT_MAX_CHARS] if policy is FreeTextPolicy.REDACTED else None
        if kept != text:  # most text holds nothing to redact: the event is its own safe form
            updates[name] = kept
    if patient_ref is not None:
        keys = PseudonymKeys.of(key)
        updates["patient_ref"] = keys.pseudonymise(event.org_id, patient_ref)
    if updates:
        safe = event.model_copy(update=updates)
        # what `model_dump_json(exclude_none=True)` gives, without its wrapper's arguments
        payload = safe.__pydantic_serializer__.to_json(safe, exclude_none=True).decode()
    else:  # nothing changed: the line as validated is the storable form, as above
        safe, payload = event, raw.decode("utf-8")
    return StoredEvent(
        event=safe,
        payload=payload,
        origin=origin,
        late=late,
        free_text_chars=len(text) if text else 0,
        nhs_numbers_redacted=redacted.nhs_numbers if redacted else 0,
        other_identifiers_redacted=redacted.other_identifiers if redacted else 0,
    )
