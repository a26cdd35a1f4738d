"""How far each organisation's incident reports have arrived: the gate on verdicts that read
their absence.

One watermark closes windows for every source, so when the incident reports lag the other
topics (published one after another, a catch-up after an outage, a nightly batch job) the
feedback and target metrics close windows whose reports are still to come, and those windows
would read as a silence (and as a fall in harm) that the reports then withdraw. So harm and
reporting are judged in a closed window only once its organisation's incident reports have
passed it too: the organisation has a report in a window starting at least the allowed lateness
after the window's end (as the watermark closes a window once an event that late has come).
Arrival is tracked per window, not per event (the engine's windows already hold it, so it is
restored exactly from them and costs nothing per event). While the reports are less than
`stall_span` behind, a window the watermark closed before they came is not judged at all until
they come (`Judging._limit`), so an alert gets one version per window, not one without the
reports and one with them; further behind (a sparse or lagging feed) its feedback is judged at
once and only its harm and reporting wait.

A source that stopped must still be told, not hidden for ever: once the watermark has moved
more than `stall_span` (two windows) past both where the reports have arrived and where the
watermark stood when they last advanced, the gate lifts and the organisation's windows are
judged on the watermark alone, so an incident system down across a trust reads as the silence
of its units. A feed that is catching up (advancing, however far behind) keeps the gate. After
a restart when the feed last advanced is not known (it is not stored), so only the lag counts:
a restore judges as the run before it did when that feed had stopped (its silences stand), and
a feed more than `stall_span` behind that was still catching up when the worker stopped is told
stalled until it next advances (its silences then withdrawn, as before this gate).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.windows import Watermark, Window, WindowKind


class ClosedWindows(list[UnitWindowAggregate]):
    """A unit's closed windows in time order; in the first `reports_in` of them its
    organisation's incident reports have arrived (the rest are not judged on harm or
    reporting yet)."""

    __slots__ = ("reports_in",)

    def __init__(self, windows: Iterable[UnitWindowAggregate], reports_in: int) -> None:
        super().__init__(windows)
        self.reports_in = reports_in


def reports_arrived(series: Sequence[UnitWindowAggregate]) -> int:
    """How many leading windows of `series` its incident reports have passed (all of them
    unless the series is a gated `ClosedWindows`)."""
    if type(series) is ClosedWindows:
        return min(series.reports_in, len(series))
    return len(series)


def stall_span(kind: WindowKind) -> timedelta:
    """How far the watermark may move on past a stalled report feed before it is told."""
    return timedelta(days=14) if kind is WindowKind.WEEK else timedelta(days=62)


class ReportArrivals:
    """Per organisation: the start of its latest window holding an incident report, and the
    watermark when that last moved (None: not known, after a restore)."""

    def __init__(self, kind: WindowKind) -> None:
        self.span = stall_span(kind)
        self.reached: dict[str, datetime] = {}
        self._advanced_at: dict[str, datetime | None] = {}

    def note(self, org: str, window: Window, mark: datetime | None) -> bool:
        """A window of `org` holds incident reports (`mark`: the watermark now); True when
        that moved its arrival on."""
        reached = self.reached.get(org)
        if reached is not None and window.start <= reached:
            return False
        self.reached[org] = window.start
        self._advanced_at[org] = mark
        return True

    def restore(self, org: str, window: Window) -> None:
        """As `note`, from restored state: when the arrival last moved is not known."""
        self.note(org, window, None)

    def until(self, org: str, watermark: Watermark) -> datetime | None:
        """Windows of `org` that end by this have their incident reports in (None: every
        closed window has: the organisation has none yet, its feed stalled, or the input
        ended)."""
        reached = self.reached.get(org)
        mark = watermark.value
        if reached is None or mark is None or watermark.finished:
            return None
        until = reached - watermark.allowed_lateness
        if until >= mark:
            return None
        beyond = mark - self.span
        advanced_at = self._advanced_at.get(org)
        if beyond > until and (advanced_at is None or beyond > advanced_at):
            return None  # stalled: judged on the watermark, so a stopped feed is told
        return until
