"""The alert (CONTRACT.md §2) and its stable id.

An alert is one *episode*: a run of consecutive windows in which one unit shows one condition.
Its id is derived from what the episode is (kind, organisation, unit, the window it started in),
never from when or how often it was computed, so a restart, a replay or a re-delivery gives the
same id, and the alert is updated while the episode lasts rather than raised again each window.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class AlertKind(StrEnum):
    TARGET_EXPERIENCE_DIVERGENCE = "target_experience_divergence"
    MASKED_DARK_SPOT = "masked_dark_spot"
    SAFETY_SIGNAL = "safety_signal"
    # contract v1.1: a unit's incident reporting fell well below its own baseline while its
    # activity held (a warning sign, never an improvement)
    REPORTING_SILENCE = "reporting_silence"

    @property
    def label(self) -> str:
        """The kind in words, for people (the demo, the report)."""
        return _KIND_LABELS[self]


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Higher is more severe: low 1, medium 2, high 3 (for sorting)."""
        return _SEVERITY_RANKS[self]


_KIND_LABELS = {
    AlertKind.TARGET_EXPERIENCE_DIVERGENCE: "Hitting the target, missing the point",
    AlertKind.MASKED_DARK_SPOT: "Dark spot masked by its organisation",
    AlertKind.SAFETY_SIGNAL: "Safety signal",
    AlertKind.REPORTING_SILENCE: "Reporting silence (a warning sign, not an improvement)",
}
_SEVERITY_RANKS = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}


class AlertStatus(StrEnum):
    """Where the episode stands (an addition to the contract's fields).

    `open`: the latest closed window still shows the condition. `resolved`: the episode ended.
    `withdrawn`: late data showed the episode was never there, or moved it (then
    `evidence.replaced_by` names the alerts raised in its place); kept so that no one is left
    chasing an alert that silently vanished. `dismissed` (contract v1.1): the safety team
    answered `false_positive`; the episode stays dismissed, a later episode is a new alert.
    """

    OPEN = "open"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"
    DISMISSED = "dismissed"


def alert_id_for(kind: AlertKind, org_id: str, unit_id: str, episode_start: datetime) -> str:
    """Stable id: the same condition for the same unit and starting window gives the same id."""
    key = f"{kind.value}|{org_id}|{unit_id}|{episode_start.isoformat()}"
    return f"{kind.value[:3]}-{hashlib.sha256(key.encode()).hexdigest()[:20]}"


class Alert(BaseModel):
    """One alert, as published to Kafka, ClickHouse, JSON Lines and Alertmanager."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str
    kind: AlertKind
    org_id: str
    unit_id: str
    window_start: datetime
    window_end: datetime
    severity: Severity
    summary: str
    evidence: dict[str, Any]
    detected_at: datetime
    status: AlertStatus = AlertStatus.OPEN

    def same_finding(self, other: Alert) -> bool:
        """True when two versions say the same thing (processing time aside)."""
        return self.model_dump(exclude={"detected_at"}) == other.model_dump(exclude={"detected_at"})

    def to_json(self) -> str:
        """The contract's JSON form: RFC 3339 timestamps, evidence as an object."""
        return self.model_dump_json()
