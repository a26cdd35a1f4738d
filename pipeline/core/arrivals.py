"""How far each organisation's incident reports have arrived: the gate on the verdicts that
read their absence (harm, and reporting's silence).

One watermark closes windows for every source, so when the incident reports lag the other
topics (published one after another, a catch-up after an outage, a nightly batch job) feedback
and target metrics close windows whose reports are still to come, and those windows would read
as a silence (and a fall in harm) that the reports then withdraw. So a closed window is judged
on harm and reporting only once its organisation's incident reports have passed it: the
organisation has a report in a window starting at least the allowed lateness after the
window's end (as the watermark closes a window once an event that late has come).

A feed that stopped must still be told. Its bound comes from the organisation's patient
feedback: once its latest window holding feedback or reports starts more than `stall_span` (two
windows) after its latest window holding a report, the windows up to that bound are judged on
what they hold, so an incident system down across a trust reads as the silence of its units.
Target returns do not count: a monthly return reaches the last weeks of its month, past the
latest data at the end of an extract, and no source of the organisation says those weeks' reports
are missing rather than not sent yet. When the input ends, every window up to the organisation's
latest holding feedback or reports is judged on what it holds (its reports are all in); the
weeks only a target return reaches are not (a unit silent in every source but its returns would
otherwise read as silent there, and so would every unit of the organisation).

Both are read off the organisation's windows alone (`reports` and `latest` never move back and
are rebuilt exactly from restored windows), never off the engine's watermark or the order
events came in: a worker holding an organisation, alone or with others, ends on the same
judgement. One thing depends on arrival, and only *when* the stall bound applies: a judgement
that follows reports from before an organisation's stall bound (the reports are catching up,
`caught_up`) leaves that organisation on its reports until the next judgement, so reports
published after the other topics raise no silence that their own later batches withdraw.
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
    """How far an organisation's other sources may run ahead of its incident reports before
    the reports are taken to have stopped (two windows)."""
    return timedelta(days=14) if kind is WindowKind.WEEK else timedelta(days=62)


class ReportArrivals:
    """Per organisation, from its windows: `reports`, the start of its latest window holding
    an incident report, and `latest`, its latest window holding feedback or reports (not only
    target returns)."""

    def __init__(self, kind: WindowKind) -> None:
        self._span = stall_span(kind)
        self.reports: dict[str, datetime] = {}
        self.latest: dict[str, Window] = {}
        # The earliest start of a window holding reports that was counted in since the last
        # judgement (None: none was).
        self._arriving_from: datetime | None = None

    def note(self, org: str, window: Window, holds_reports: bool, reported: bool) -> None:
        """A window of `org` was counted in (`holds_reports`: it holds incident reports;
        `reported`: it holds feedback or incident reports, not only target returns)."""
        start = window.start
        if not reported:
            return
        latest = self.latest.get(org)
        if latest is None or start > latest.start:
            self.latest[org] = window
        if holds_reports:
            reports = self.reports.get(org)
            if reports is None or start > reports:
                self.reports[org] = start
            if self._arriving_from is None or start < self._arriving_from:
                self._arriving_from = start

    def restore(self, org: str, window: Window, holds_reports: bool, reported: bool) -> None:
        """As `note`, for a restored window (not an arrival)."""
        arriving = self._arriving_from
        self.note(org, window, holds_reports, reported)
        self._arriving_from = arriving

    def data_end(self, org: str) -> datetime | None:
        """The end of `org`'s latest window holding feedback or incident reports (None: none
        does)."""
        latest = self.latest.get(org)
        return None if latest is None else latest.end

    def caught_up(self) -> None:
        """A judgement was made: what arrives from now on is told apart from what came."""
        self._arriving_from = None

    def cover(self, org: str, watermark: Watermark, *, arriving: bool = True) -> datetime | None:
        """Windows of `org` ending by this have their incident reports in (None: every closed
        window has: the organisation has no report yet, so nothing reads their absence). Once
        the input ended, those up to its latest window holding feedback or reports.
        `arriving=False`: what it is once the reports that came meanwhile are no longer taken
        to be catching up (a function of the windows alone)."""
        reports = self.reports.get(org)
        if reports is None:
            return None
        if watermark.finished:
            return self.latest[org].end
        bound = self.latest[org].start - self._span
        since = self._arriving_from if arriving else None
        if bound > reports and (since is None or since >= bound):
            reports = bound  # stopped (not catching up): judged on what the windows hold
        return reports - watermark.allowed_lateness
