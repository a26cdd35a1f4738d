"""The storable form of an accepted event: free text redacted, patient reference pseudonymised."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipeline.core.events import AnyEvent, IncidentReport
from pipeline.core.privacy import RedactedText, pseudonymise, redact_free_text

FREE_TEXT_FIELDS = ("description", "comment", "note")


class FreeTextPolicy(StrEnum):
    """What is kept of free text. Either way the text as written is never kept."""

    REDACTED = "redacted"  # identifiers replaced by tags, the rest kept for learning
    DROP = "drop"  # nothing kept but its length and what was found in it


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An accepted event in the only form that may leave the engine.

    `event` already carries the redacted free text (or none) and the pseudonymised
    `patient_ref`; `payload` is its JSON, from which the engine can be restored.
    """

    event: AnyEvent
    payload: str
    origin: str
    late: bool
    free_text_chars: int
    nhs_numbers_redacted: int
    other_identifiers_redacted: int


def to_stored(
    event: AnyEvent, *, origin: str, late: bool, policy: FreeTextPolicy, key: bytes
) -> StoredEvent:
    """Redact and pseudonymise `event` for storage."""
    updates: dict[str, str | None] = {}
    redacted: RedactedText | None = None
    chars = 0
    for name in FREE_TEXT_FIELDS:
        text = getattr(event, name, None)
        if text:
            chars = len(text)
            redacted = redact_free_text(text)
            updates[name] = redacted.text if policy is FreeTextPolicy.REDACTED else None
    if isinstance(event, IncidentReport) and event.patient_ref is not None:
        updates["patient_ref"] = pseudonymise(key, event.org_id, event.patient_ref)
    safe = event.model_copy(update=updates) if updates else event
    return StoredEvent(
        event=safe,
        payload=safe.model_dump_json(exclude_none=True),
        origin=origin,
        late=late,
        free_text_chars=chars,
        nhs_numbers_redacted=redacted.nhs_numbers if redacted else 0,
        other_identifiers_redacted=redacted.other_identifiers if redacted else 0,
    )
