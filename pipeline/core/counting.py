"""How one new event changes its unit's window states: the engine's per-event counting.

Feedback responses, incidents and target reports are added to every window the event counts
in (see `placement`); a revised incident report counts only while it is its report's highest
revision, and takes the one it supersedes out of whatever unit and window that one counted in.
This runs once per event, so the common cases come first and nothing is looked up twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from pipeline.core.aggregates import UnitWindowState
from pipeline.core.batch import apply_event, is_batch, spread_batch
from pipeline.core.events import AnyEvent, IncidentReport, PatientFeedback
from pipeline.core.revisions import IncidentRevision, IncidentRevisions
from pipeline.core.windows import Window

UnitKey = tuple[str, str]
Units = dict[UnitKey, dict[Window, UnitWindowState]]
Touched = dict[int, tuple[UnitWindowState, list[UUID]]]
"""The unit windows a batch changed, by `id` of their state: the state and the ids applied
(an int hashes far faster than a (unit, window) pair, whose window's hash is a Python call)."""
Retracted = list[tuple[UnitKey, Window]]
"""Windows an incident was taken out of by a later revision (while admitting one event)."""


def count_in_windows(
    units: Units,
    event: AnyEvent,
    windows: Sequence[Window],
    touched: Touched,
    revisions: IncidentRevisions,
    retracted: Retracted,
) -> None:
    """Add `event` (not an alert response) to its unit's `windows`, noting each in `touched`."""
    unit = (event.org_id, event.unit_id)
    unit_windows = units.get(unit)
    if unit_windows is None:
        unit_windows = units[unit] = {}
    spread = spread_batch(event, windows) if is_batch(event) else None
    for i, window in enumerate(windows):
        state = unit_windows.get(window)
        if state is None:
            state = unit_windows[window] = UnitWindowState(event.org_id, event.unit_id, window)
        if spread is not None:
            state.add_feedback_counts(spread[i])
        elif type(event) is PatientFeedback and event.rating is not None:
            state.add_feedback(event.rating, event.themes)  # the most common, inline
        elif isinstance(event, IncidentReport) and event.report_ref is not None:
            _apply_revision(units, event, window, state, revisions, retracted)
        else:
            apply_event(state, event)
        applied = touched.get(id(state))
        if applied is None:
            touched[id(state)] = (state, [event.event_id])
        else:
            applied[1].append(event.event_id)


def _apply_revision(
    units: Units,
    event: IncidentReport,
    window: Window,
    state: UnitWindowState,
    revisions: IncidentRevisions,
    retracted: Retracted,
) -> None:
    """Count `event` only if it is its report's highest revision, retracting the one it
    supersedes (whatever unit or window that one counted in)."""
    counted = IncidentRevision(
        event.event_id.int,
        event.revision,
        (event.org_id, event.unit_id),
        window,
        event.harm,
        event.category,
        event.occurred_at,
    )
    superseded = revisions.offer(event.org_id, event.report_ref or "", counted)
    if superseded is counted:
        state.count_superseded()
        return
    state.add_incident(event.harm, event.category)
    if superseded is not None:
        old = units[superseded.unit][superseded.window]
        old.remove_incident(superseded.harm, superseded.category)
        retracted.append((superseded.unit, superseded.window))
