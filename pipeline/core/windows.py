"""Event-time windows and the watermark that closes them.

Windows are per unit and aligned to UTC: an ISO week (Monday 00:00 to the next Monday) by
default, or a calendar month. A window is *closed* once the watermark (the latest event time
seen, less the allowed lateness) has passed its end; detection only judges closed windows. An
event for a closed window is *late*: it is still stored and counted, and the window's aggregate
and verdict are recomputed (nothing is silently dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache


class WindowKind(StrEnum):
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A half-open event-time interval [start, end) in UTC."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def overlap_seconds(self, start: datetime, end: datetime) -> float:
        """Seconds of [start, end) that fall inside this window (0 when disjoint)."""
        return max(0.0, (min(self.end, end) - max(self.start, start)).total_seconds())


_WEEK_SECONDS = 7 * 86_400
_MONDAY_OFFSET = 4 * 86_400  # 1970-01-01 was a Thursday; epoch + 4 days is a Monday


def window_of(moment: datetime, kind: WindowKind) -> Window:
    """The window that contains `moment` (an aware datetime)."""
    if kind is WindowKind.WEEK:
        # once per event: most moments are placed by their local day alone (no UTC offset
        # asked), the rest by integer arithmetic on the timestamp
        window = week_of_local_day(moment.toordinal())
        if window is not None:
            return window
        seconds = int(moment.timestamp()) - _MONDAY_OFFSET
        return _week_starting(seconds - seconds % _WEEK_SECONDS + _MONDAY_OFFSET)
    utc = moment.astimezone(UTC)
    start = utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return Window(start, _next_month(start))


_EPOCH_DAY = 719_163  # date(1970, 1, 1).toordinal()


@lru_cache(maxsize=4096)
def week_of_local_day(day: int) -> Window | None:
    """The week of every moment whose local date is the proleptic ordinal `day`, or None when
    that depends on its offset. An offset is under a day either way, so such a moment lies
    within a day before and two after the local day's start, in UTC: when `day` is a Tuesday
    to a Saturday, that is all one UTC week (ordinal 1 is a Monday)."""
    weekday = (day - 1) % 7
    if not 1 <= weekday <= 5:
        return None
    return _week_starting((day - weekday - _EPOCH_DAY) * 86_400)


@lru_cache(maxsize=4096)
def _week_starting(epoch_seconds: int) -> Window:
    start = datetime.fromtimestamp(epoch_seconds, UTC)
    return Window(start, start + timedelta(days=7))


def windows_between(start: datetime, end: datetime, kind: WindowKind) -> list[Window]:
    """Every window that overlaps the half-open interval [start, end), in time order."""
    windows: list[Window] = []
    current = window_of(start, kind)
    while current.start < end:
        windows.append(current)
        current = window_of(current.end, kind)
    return windows


def _next_month(first_of_month: datetime) -> datetime:
    if first_of_month.month == 12:
        return first_of_month.replace(year=first_of_month.year + 1, month=1)
    return first_of_month.replace(month=first_of_month.month + 1)


@dataclass(slots=True)
class Watermark:
    """Event-time progress: the latest event time seen, less the allowed lateness.

    It only moves forward. One event far ahead of the rest (a mistyped year, a stray current
    event in a historical replay) must not make everything after it late, so each event moves
    the mark at most `max_step` past where it was: a real advance, carried by many events, still
    gets there; a lone outlier moves it by `max_step` at most. `latest_event` is the true
    latest event time, which the end of input (`finish`) judges by, so what is finally judged
    does not depend on the order of the events.
    """

    allowed_lateness: timedelta
    latest_event: datetime | None = None
    max_step: timedelta | None = None
    followed: datetime | None = None
    finished: bool = False
    _mark: datetime | None = field(default=None, init=False, repr=False, compare=False)

    def observe(self, moment: datetime) -> None:
        # once per event: compare as little as the rule needs (an aware comparison asks both
        # sides for their offsets), and move the mark only on change
        latest = self.latest_event
        followed = self.followed
        if latest is None or moment > latest:
            self.latest_event = moment
            if self.finished:
                self._mark = moment - self.allowed_lateness
            past = followed is not None and followed is latest  # so past what it followed
        elif followed is latest:
            return  # not past the latest event, so not past what the mark followed either
        else:
            past = False
        if followed is None or past or moment > followed:
            step = self.max_step
            if (
                followed is not None
                and step is not None
                # a local day is within a day of the UTC one: days this close are in step
                and moment.toordinal() - followed.toordinal() + 3 > step.days
                and moment > followed + step
            ):
                moment = followed + step
            self.followed = moment
            if not self.finished:
                self._mark = moment - self.allowed_lateness

    def finish(self) -> None:
        """End of input: no more events are coming, so every one seen counts, lateness none."""
        self.allowed_lateness = timedelta(0)
        self.finished = True
        self._mark = self.latest_event

    @property
    def value(self) -> datetime | None:
        return self._mark

    def is_closed(self, window: Window) -> bool:
        """True once no more on-time events can arrive for `window`."""
        mark = self.value
        return mark is not None and window.end <= mark
