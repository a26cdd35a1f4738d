"""Incident reports re-graded as facts emerge (contract v1.1).

For one organisation and `report_ref` only the highest `revision` counts (ties broken by
`event_id`, never by arrival), so the aggregates of a set of revisions do not depend on the
order they came in: a revision arriving after a higher one is kept but not counted, and one
arriving after a lower one retracts that one's contribution, even from another window or unit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from pipeline.core.events import Harm, IncidentCategory
from pipeline.core.windows import Window


@dataclass(frozen=True, slots=True)
class IncidentRevision:
    """Where one revision counts, and what it counted."""

    event_id: int
    revision: int
    unit: tuple[str, str]
    window: Window
    harm: Harm
    category: IncidentCategory
    occurred_at: datetime

    @property
    def rank(self) -> tuple[int, int]:
        return (self.revision, self.event_id)


@dataclass(frozen=True, slots=True)
class RevisionInForce:
    """A revision that came into force for its report (what a step stores with its batch)."""

    org_id: str
    report_ref: str
    revision: IncidentRevision


class IncidentRevisions:
    """The revision in force for each (organisation, report_ref). `changed` lists the ones
    that came into force since it was last drained."""

    def __init__(self) -> None:
        self._in_force: dict[tuple[str, str], IncidentRevision] = {}
        self.changed: list[RevisionInForce] = []
        self._asked: set[tuple[str, str]] = set()  # looked up in storage already

    def restore(self, revisions: Iterable[RevisionInForce]) -> None:
        """Revisions read back from storage, in any order (not listed in `changed`)."""
        for r in revisions:
            key = (r.org_id, r.report_ref)
            current = self._in_force.get(key)
            if current is None or r.revision.rank > current.rank:
                self._in_force[key] = r.revision

    def load(
        self,
        refs: Iterable[tuple[str, str | None]],
        lookup: Callable[[Collection[tuple[str, str]]], Iterable[RevisionInForce]],
    ) -> None:
        """Before counting reports naming `refs`: ask `lookup` (storage) for the revisions in
        force of those not held, so a restore need not read every report ever revised. A
        report asked once is held from then on (what comes into force here is stored)."""
        missing = {(org, ref) for org, ref in refs if ref is not None} - self._asked
        missing -= self._in_force.keys()
        if missing:
            self.restore(lookup(missing))
            self._asked |= missing

    def drain(self) -> list[RevisionInForce]:
        changed, self.changed = self.changed, []
        return changed

    def offer(
        self, org_id: str, report_ref: str, revision: IncidentRevision
    ) -> IncidentRevision | None:
        """Offer a new revision. Returns `revision` itself when it is already superseded (count
        nothing), the revision it supersedes (retract that), or None (the first one seen)."""
        key = (org_id, report_ref)
        current = self._in_force.get(key)
        if current is not None and current.rank >= revision.rank:
            return revision
        self._in_force[key] = revision
        self.changed.append(RevisionInForce(org_id, report_ref, revision))
        return current
