"""Where an accepted event counts: the unit windows it falls in, and until when it is held.

An incident report or a single feedback response counts in the one window of its
`occurred_at`; a target metric or a feedback batch in every window its period overlaps; an
alert response in none (it answers an alert), though its id is still remembered until the
window of its `occurred_at` ends. This runs once per event, so it is written for speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from pipeline.core.events import (
    AlertResponse,
    AnyEvent,
    IncidentReport,
    PatientFeedback,
    TargetMetric,
)
from pipeline.core.windows import Window, WindowKind, window_of, windows_between


class Placement(NamedTuple):  # a tuple: made once per event, and far cheaper than a dataclass
    windows: Sequence[Window]
    expiry: datetime  # when the last of them ends: until then a duplicate is known in memory


NEVER = datetime.max
"""The expiry of a placement that failed (the engine places again and reports the failure)."""
FAILED = Placement((), NEVER)
# a NamedTuple's own constructor is a Python function; tuple's is not (per event: about half)
_new_tuple = tuple.__new__


def placement(event: AnyEvent, kind: WindowKind) -> Placement:
    """The windows `event` counts in (time order), and when the last of them ends."""
    if type(event) is IncidentReport or (type(event) is PatientFeedback and event.counts is None):
        window = window_of(event.occurred_at, kind)  # by far the most common: one window
        return _new_tuple(Placement, ((window,), window.end))
    if isinstance(event, AlertResponse):
        return Placement((), window_of(event.occurred_at, kind).end)
    if isinstance(event, TargetMetric):
        windows = windows_between(event.period_start, event.period_end, kind)
    elif isinstance(event, PatientFeedback) and event.counts is not None:  # a batch
        assert event.period_start is not None and event.period_end is not None
        windows = windows_between(event.period_start, event.period_end, kind)
    else:
        windows = [window_of(event.occurred_at, kind)]
    return Placement(windows, windows[-1].end)
