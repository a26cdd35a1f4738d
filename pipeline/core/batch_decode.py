"""The first pass of the engine's per-event path: a batch of messages decoded and placed.

Every message is decoded exactly as `decode` decodes it and placed unless it is a rejection or
a duplicate held in memory; the ids to ask storage about (`Decoded.ask`) and the revised
reports (`Decoded.refs`) are collected in the same pass, so storage is asked once per batch
before any event is admitted (`admission.py`, the second pass).

The common shapes, a single feedback response and an incident report that is not a revision
(over 95% of events), are checked with less per event: the same validator, then the quick
duplicate-key test (`keys_once_quickly`) and the bounds' quick pass written out for the
shape's fields (`bounds.event_days`, `CLEARED_LABELS`), and the one week of the local day when
that decides it (`week_of_local_day`). Whatever these cannot clear goes on to the rest of
`decode` (`checked`) and general placement, so every outcome is `decode`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from pydantic import ValidationError

from pipeline.core.bounds import CLEARED_LABELS, EventBounds, event_days
from pipeline.core.decode import (
    MAX_MESSAGE_BYTES,
    RawMessage,
    Rejection,
    checked,
    decode,
)
from pipeline.core.engine_state import SeenIds
from pipeline.core.events import EVENT_ADAPTER, AnyEvent, IncidentReport, PatientFeedback
from pipeline.core.placement import FAILED, NEVER, Placement, placement
from pipeline.core.strict_json import keys_once_quickly
from pipeline.core.windows import Window, WindowKind, week_of_local_day, window_of

Entry = tuple[RawMessage, "AnyEvent | Rejection", Placement | None, Window | None]
"""A decoded message: (message, outcome, placement, window). A rejection, or an event already
held in memory (a duplicate), has neither; an event of a common shape has its one window; any
other event its placement."""

_validate_json = EVENT_ADAPTER.validator.validate_json


@dataclass(slots=True)
class Decoded:
    """One batch, decoded: its entries in order, the ids to ask storage about, and the
    (organisation, report_ref) of the incident revisions in it."""

    entries: list[Entry] = field(default_factory=list)
    ask: set[UUID] = field(default_factory=set)
    refs: set[tuple[str, str]] = field(default_factory=set)


def decode_batch(
    messages: Iterable[RawMessage],
    bounds: EventBounds,
    kind: WindowKind,
    seen: SeenIds,
    every: bool,
) -> Decoded:
    """Each message decoded exactly as `decode` would, and placed unless it is a rejection or
    a duplicate held in `seen`. `every`: ask storage about every new id (not only those whose
    windows `seen` may have forgotten)."""
    low, high = event_days(bounds)
    weekly = kind is WindowKind.WEEK
    ids = seen.ids
    evicted = seen.evicted_through
    cleared = CLEARED_LABELS
    out = Decoded()
    entries, ask = out.entries, out.ask
    append = entries.append
    asked_of: dict[int, bool] = {}  # by id(window): does its end need a lookup?
    for message in messages:
        raw = message[0]
        if message[2] is not None or len(raw) > MAX_MESSAGE_BYTES:
            append((message, decode(raw, bounds, size=message[2]), None, None))
            continue
        try:
            event = _validate_json(raw)
        except ValidationError:  # decode explains why (validating again: rare, and the same)
            append((message, decode(raw, bounds), None, None))
            continue
        cls = type(event)
        if (
            (cls is PatientFeedback and event.rating is not None)
            or (cls is IncidentReport and event.report_ref is None)
        ) and keys_once_quickly(raw, len(event.__pydantic_fields_set__)):
            occurred = event.occurred_at
            day = occurred.toordinal()
            org, unit, source = event.org_id, event.unit_id, event.source
            if (
                low < day - 1
                and day + 1 < high
                and (len(org) < 10 or org in cleared)
                and (len(unit) < 10 or unit in cleared)
                and (len(source) < 10 or source in cleared)
                and (
                    (cls is PatientFeedback and not event.themes)
                    or _other_labels_cleared(event, cleared)
                )
            ):
                if event.event_id.int in ids:
                    append((message, event, None, None))
                    continue
                window = week_of_local_day(day) if weekly else None
                if window is None:
                    window = window_of(occurred, kind)
                append((message, event, None, window))
                if every:
                    ask.add(event.event_id)
                elif evicted is not None:
                    need = asked_of.get(id(window))
                    if need is None:
                        need = asked_of[id(window)] = window.end <= evicted
                    if need:
                        ask.add(event.event_id)
                continue
        outcome = checked(raw, event, bounds)
        if isinstance(outcome, Rejection):
            append((message, outcome, None, None))
            continue
        if cls is IncidentReport and outcome.report_ref is not None:  # type: ignore[union-attr]
            out.refs.add((outcome.org_id, outcome.report_ref))  # type: ignore[union-attr]
        if outcome.event_id.int in ids:
            append((message, outcome, None, None))
            continue
        try:
            placed = placement(outcome, kind)
        except Exception:
            placed = FAILED
        append((message, outcome, placed, None))
        if placed.expiry is not NEVER and (every or seen.needs_lookup(placed.expiry)):
            ask.add(outcome.event_id)
    return out


def _other_labels_cleared(event: AnyEvent, cleared: set[str]) -> bool:
    """The labels of a common shape beyond organisation, unit and source, as the bounds'
    quick pass clears them: a feedback's themes, an incident's reporter role."""
    if type(event) is PatientFeedback:
        themes = event.themes
        return not themes or all(len(t) < 10 or t in cleared for t in themes)
    role = event.reporter_role  # type: ignore[union-attr]
    return role is None or len(role) < 10 or role in cleared
