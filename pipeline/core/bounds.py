"""Bounds the domain puts on valid events, beyond their shape (contract v1.1).

A field can be well-formed and still not something the pipeline can act on or store exactly:

- every timestamp must lie within what storage holds exactly (`DateTime64`: 1900 to 2299);
- event times (`occurred_at`, `period_start`, `period_end`) within the event-time horizon: not
  before `earliest` (default 1990-01-01) and not more than `ahead` (default a day) after the
  processing time, which the caller passes in (the core reads no clock);
- a reporting period at most `MAX_PERIOD` long;
- identifier and label fields hold no valid NHS number (free text is redacted instead, patient
  references pseudonymised).

Each failure is an `invalid_value` at the field's path; the detail never echoes the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin
from uuid import UUID

from pydantic import AwareDatetime, BaseModel

from pipeline.core.events import EVENT_TIME_FIELDS, FREE_TEXT_FIELDS, PATIENT_FIELDS
from pipeline.core.privacy import contains_nhs_number

STORABLE_FROM = datetime(1900, 1, 1, tzinfo=UTC)
STORABLE_UNTIL = datetime(2299, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
DEFAULT_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
DEFAULT_AHEAD = timedelta(days=1)
MAX_PERIOD = timedelta(days=366)
_UNCHECKED_TEXT = FREE_TEXT_FIELDS | PATIENT_FIELDS
_WITHOUT_DIGITS = str.maketrans("", "", "0123456789")


@dataclass(frozen=True, slots=True)
class EventBounds:
    """The event times accepted now: from `earliest` to `latest` (None: no upper bound, as
    when re-reading what was stored, which was checked when it arrived)."""

    earliest: datetime = STORABLE_FROM
    latest: datetime | None = None


STORED = EventBounds()
"""The bounds a stored event is re-read with: only what storage itself requires."""


@dataclass(frozen=True, slots=True)
class TimeHorizon:
    """The configurable event-time horizon; `at(now)` gives the bounds at processing time."""

    earliest: datetime = DEFAULT_EARLIEST
    ahead: timedelta = DEFAULT_AHEAD

    def at(self, now: datetime) -> EventBounds:
        return EventBounds(max(self.earliest, STORABLE_FROM), min(now + self.ahead, STORABLE_UNTIL))


@dataclass(frozen=True, slots=True)
class OutOfBounds:
    """Why a valid-looking event is refused: the field path and a detail without its value."""

    field: str
    detail: str


def check_bounds(event: BaseModel, bounds: EventBounds) -> OutOfBounds | None:
    """The first bound `event` breaks, in field order, or None.

    This runs once per event: a quick pass first proves, without converting any timestamp to
    UTC, that nothing can break a bound (what nearly every event shows); only an event it
    cannot clear is looked at field by field.
    """
    if _clearly_within(event, _days_of(bounds)):
        return None
    return _first_problem(event, bounds)


def _first_problem(event: BaseModel, bounds: EventBounds) -> OutOfBounds | None:
    values = event.__dict__
    for name, value in values.items():
        kind = type(value)
        problem = None
        if kind is datetime:
            problem = _time_problem(name, value, bounds)
        elif name in _UNCHECKED_TEXT:
            continue
        elif kind is str:
            problem = _label_problem(name, value) if len(value) >= 10 else None
        elif kind is list:
            problem = next(
                (p for i, v in enumerate(value) if (p := _label_problem(f"{name}.{i}", v))), None
            )
        if problem is not None:
            return problem
    start, end = values.get("period_start"), values.get("period_end")
    if type(start) is datetime and type(end) is datetime and end - start > MAX_PERIOD:
        return OutOfBounds("period_end", f"a period must not be longer than {MAX_PERIOD.days} days")
    return None


_Days = tuple[int, int, int, int]
"""UTC day numbers (proleptic ordinals): storable from/until, event times from/until."""
_last_days: tuple[EventBounds, _Days] | None = None


def _days_of(bounds: EventBounds) -> _Days:
    global _last_days
    if _last_days is not None and _last_days[0] is bounds:  # one bounds object per batch
        return _last_days[1]
    earliest = max(bounds.earliest, STORABLE_FROM).astimezone(UTC).toordinal()
    latest = min(bounds.latest or STORABLE_UNTIL, STORABLE_UNTIL).astimezone(UTC).toordinal()
    days = (STORABLE_FROM.toordinal(), STORABLE_UNTIL.toordinal(), earliest, latest)
    _last_days = (bounds, days)
    return days


def event_days(bounds: EventBounds) -> tuple[int, int]:
    """The UTC day numbers (proleptic ordinals) of `bounds`' earliest and latest event time.
    An event time whose local day `d` has `low < d - 1 < d + 1 < high` is within the bounds
    (the quick pass's reasoning: an offset moves a timestamp by under a day)."""
    days = _days_of(bounds)
    return days[2], days[3]


def _clearly_within(event: BaseModel, days: _Days) -> bool:
    """True only if no bound can be broken. A timestamp's UTC day is within a day of its
    local day (offsets are under 24 hours), so a local day more than one day inside a bound's
    UTC day is inside the bound; a label is cleared once and remembered."""
    values = event.__dict__
    plan = _PLANS.get(type(event)) or _plan(type(event))
    low, high = days[2], days[3]
    for name in plan.event_times:
        value = values[name]
        if type(value) is datetime:
            day = value.toordinal()
            if not low < day - 1 < day + 1 < high:
                return False
    low, high = days[0], days[1]
    for name in plan.other_times:
        value = values[name]
        if type(value) is datetime:
            day = value.toordinal()
            if not low < day - 1 < day + 1 < high:
                return False
    cleared = CLEARED_LABELS
    for name in plan.labels:
        value = values[name]
        kind = type(value)
        if kind is str:
            if len(value) >= 10 and value not in cleared and not _clear_label(value):
                return False
        elif kind is list and not all(
            _clear_label(v) for v in value if isinstance(v, str) and len(v) >= 10
        ):
            return False
    start, end = values.get("period_start"), values.get("period_end")
    if type(start) is datetime and type(end) is datetime:
        # UTC lengths differ from local ones by under two days
        return end.toordinal() - start.toordinal() + 3 <= MAX_PERIOD.days
    return True


class _Plan(NamedTuple):
    """The fields of a model a bound may concern, by the check they need."""

    event_times: tuple[str, ...]
    other_times: tuple[str, ...]
    labels: tuple[str, ...]  # text or lists of it (any field that is not a timestamp)


_PLANS: dict[type[BaseModel], _Plan] = {}
_NEVER_BOUNDED: tuple[type, ...] = (bool, int, float, UUID, type(None), dict, Enum)
_TIME_LEAVES = {datetime, AwareDatetime, type(None)}


def _plan(model: type[BaseModel]) -> _Plan:
    """The fields of `model` a bound may concern: all but those whose every possible value is
    a number, an id, an enum member, a mapping or None (and free text, which is redacted)."""
    event_times: list[str] = []
    other_times: list[str] = []
    labels: list[str] = []
    for name, info in model.model_fields.items():
        leaves = _leaves(info.annotation)
        if name in _UNCHECKED_TEXT and leaves <= {str, type(None)}:
            continue
        if all(isinstance(leaf, type) and issubclass(leaf, _NEVER_BOUNDED) for leaf in leaves):
            continue
        if leaves & _TIME_LEAVES - {type(None)}:  # each loop looks only at its own types
            (event_times if name in EVENT_TIME_FIELDS else other_times).append(name)
        if leaves - _TIME_LEAVES:
            labels.append(name)
    _PLANS[model] = plan = _Plan(tuple(event_times), tuple(other_times), tuple(labels))
    return plan


def _leaves(annotation: Any) -> set[Any]:
    """The types a value of `annotation` can have (generics by their origin: list, dict)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _leaves(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return set().union(*(_leaves(arg) for arg in get_args(annotation)))
    if origin is Literal:
        return {type(arg) for arg in get_args(annotation)}
    return {annotation if origin is None else origin}


CLEARED_LABELS: set[str] = set()
"""Labels (of 10 characters or more) known to hold no NHS number; shorter ones cannot hold
one. Read-only outside this module: `_clear_label` adds to it (and empties it when full)."""
_MAX_CLEARED_LABELS = 10_000


def _clear_label(value: str) -> bool:
    """Whether `value` holds no NHS number (labels repeat: sources, units, roles)."""
    if value in CLEARED_LABELS:
        return True
    if _label_problem("", value) is not None:
        return False
    if len(CLEARED_LABELS) >= _MAX_CLEARED_LABELS:
        CLEARED_LABELS.clear()
    CLEARED_LABELS.add(value)
    return True


def _time_problem(name: str, value: datetime, bounds: EventBounds) -> OutOfBounds | None:
    # compare the year first: converting year 1 or 9999 with an offset to UTC would overflow
    if not STORABLE_FROM.year <= value.year <= STORABLE_UNTIL.year or not (
        STORABLE_FROM <= value <= STORABLE_UNTIL
    ):
        return OutOfBounds(name, f"must be between {STORABLE_FROM:%Y} and {STORABLE_UNTIL:%Y}")
    if name not in EVENT_TIME_FIELDS:
        return None
    if value < bounds.earliest:
        return OutOfBounds(name, f"an event time must not be before {bounds.earliest:%Y-%m-%d}")
    if bounds.latest is not None and value > bounds.latest:
        return OutOfBounds(
            name, "an event time must not be more than the horizon ahead of processing time"
        )
    return None


def _label_problem(path: str, value: object) -> OutOfBounds | None:
    if not isinstance(value, str) or not _may_hold_ten_digits(value):
        return None
    if contains_nhs_number(value):
        return OutOfBounds(path, "an identifier or label must not hold an NHS number")
    return None


def _may_hold_ten_digits(value: str) -> bool:
    if len(value) < 10:
        return False
    if not value.isascii():
        return True  # other scripts' digits or invisible characters: look properly
    return len(value) - len(value.translate(_WITHOUT_DIGITS)) >= 10
