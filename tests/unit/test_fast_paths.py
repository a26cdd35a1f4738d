"""The step's fast paths give exactly what the slow ones give: the bounds' quick pass, a
batch with a bad line in it against the same lines one at a time, and the native checks of
timestamps and ids against the Python validators."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BeforeValidator, Field, TypeAdapter, ValidationError

from pipeline.core import bounds as bounds_module
from pipeline.core import decode as decode_module
from pipeline.core import event_fields
from pipeline.core.bounds import (
    MAX_PERIOD,
    STORABLE_FROM,
    STORABLE_UNTIL,
    EventBounds,
    TimeHorizon,
    check_bounds,
)
from pipeline.core.decode import RawMessage, Rejection, decode
from pipeline.core.detection import unit as unit_module
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.common import (
    common_offsets,
    org_figures_and_offsets,
    org_series_figures,
)
from pipeline.core.detection.unit import measure_traces
from pipeline.core.engine import BatchResult, Engine, EngineConfig
from tests.support.event_examples import VALID_NHS_NUMBER, as_line, valid_event
from tests.support.events import feedback, incident, raw
from tests.support.series import aggregate, quiet

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
KEY = b"test-key-0123456789abcdef"
_EDGES = (
    datetime(1990, 1, 1, tzinfo=UTC),
    NOW + timedelta(days=1),
    STORABLE_FROM,
    STORABLE_UNTIL,
    datetime(1950, 7, 1, tzinfo=UTC),
)
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@st.composite
def moments(draw: st.DrawFn) -> datetime:
    """Instants near a bound (within a few days either side), in any offset."""
    edge = draw(st.sampled_from(_EDGES))
    shift = draw(st.integers(min_value=-3 * 86_400_000_000, max_value=3 * 86_400_000_000))
    moment = edge + timedelta(microseconds=shift)
    if not STORABLE_FROM.year <= moment.year <= STORABLE_UNTIL.year:
        moment = edge
    return moment.astimezone(draw(offsets))


def _stamp(moment: datetime) -> str:
    return moment.isoformat()


@settings(max_examples=400, deadline=None)
@given(
    occurred=moments(),
    start=moments(),
    length=st.integers(min_value=1, max_value=(MAX_PERIOD.days + 3) * 86_400),
    due=st.one_of(st.none(), moments()),
    horizon_earliest=st.sampled_from((datetime(1990, 1, 1, tzinfo=UTC), datetime(1950, 7, 1))),
)
def test_the_quick_pass_agrees_with_the_field_by_field_check(
    occurred: datetime,
    start: datetime,
    length: int,
    due: datetime | None,
    horizon_earliest: datetime,
) -> None:
    bounds = TimeHorizon(horizon_earliest.replace(tzinfo=UTC)).at(NOW)
    end = start + timedelta(seconds=length)
    lines = [
        valid_event("patient_feedback", occurred_at=_stamp(occurred)),
        valid_event(
            "target_metric",
            occurred_at=_stamp(occurred),
            period_start=_stamp(start),
            period_end=_stamp(end.astimezone(UTC)),
        ),
        valid_event("alert_response", occurred_at=_stamp(occurred), due_by=_stamp(due or NOW)),
    ]
    for event in lines:
        for where in (bounds, EventBounds(), EventBounds(STORABLE_FROM, NOW)):
            parsed = decode(as_line(event), EventBounds())
            if isinstance(parsed, Rejection):
                continue  # not storable at all: nothing for the bounds to judge
            assert check_bounds(parsed, where) == bounds_module._first_problem(parsed, where)


@given(label=st.text(alphabet="0123456789 -abc", min_size=8, max_size=16))
def test_labels_are_judged_the_same_whether_remembered_or_not(label: str) -> None:
    event = valid_event("incident_report", reporter_role=label)
    first = decode(as_line(event), TimeHorizon().at(NOW))
    again = decode(as_line(event), TimeHorizon().at(NOW))
    assert type(first) is type(again)
    if isinstance(first, Rejection):
        assert isinstance(again, Rejection)
        assert (first.reason, first.field) == (again.reason, again.field)


def test_a_label_holding_an_nhs_number_is_never_remembered_as_clear() -> None:
    for _ in range(2):
        rejection = decode(
            as_line(valid_event("incident_report", reporter_role=f"nurse {VALID_NHS_NUMBER}")),
            TimeHorizon().at(NOW),
        )
        assert isinstance(rejection, Rejection)
        assert rejection.field == "reporter_role"


_BAD_LINES = (
    b'{"schema_version": 1, "event_type": "patient_feedback", "rating": "4"}',  # wrong type
    b"not json at all",
    b'{"schema_version": 1, "schema_version": 1}',  # duplicate key
    b"[1, 2, 3]",
    b"",
)


@pytest.mark.parametrize("bad", _BAD_LINES)
@pytest.mark.parametrize("where", [0, 7, 19])
def test_a_batch_with_one_bad_line_equals_the_same_lines_one_by_one(bad: bytes, where: int) -> None:
    events = []
    for day in range(20):
        stamp = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=9)).isoformat()
        events.append(feedback(unit_id="ED", occurred_at=stamp, rating=1 + day % 6))
        events.append(incident(unit_id="AMU", occurred_at=stamp, description=f"note {day}"))
    messages = raw(*events)
    messages.insert(where, RawMessage(bad, f"t:bad{where}"))
    messages.append(messages[3])  # and a duplicate

    whole = Engine(EngineConfig(), KEY)
    batch = [whole.process(messages, NOW), whole.finish(NOW)]
    single = Engine(EngineConfig(), KEY)
    lines = [single.process([m], NOW) for m in messages] + [single.finish(NOW)]

    def outcome(results: list[BatchResult]) -> tuple[list[object], list[object], object]:
        accepted: list[object] = [
            (s.payload, s.origin, s.late) for r in results for s in r.accepted
        ]
        rejected: list[object] = [
            (r.rejection.reason, r.rejection.field, r.rejection.detail, r.rejection.raw, r.origin)
            for b in results
            for r in b.rejected
        ]
        counts = (sum(r.read for r in results), sum(r.duplicates for r in results))
        return accepted, rejected, counts

    assert outcome(batch) == outcome(lines)
    assert len(outcome(batch)[1]) == 1
    assert whole.closed_series() == single.closed_series()
    assert [a.model_dump() for a in whole.alerts] == [a.model_dump() for a in single.alerts]


_PYTHON_CHECKED: dict[
    str, TypeAdapter[Any]
] = {  # the validators the contract was first written with, as the reference
    "timestamp": TypeAdapter(
        Annotated[AwareDatetime, BeforeValidator(event_fields._rfc3339_text), Field(strict=False)]
    ),
    "event_id": TypeAdapter(
        Annotated[UUID, BeforeValidator(event_fields._uuid_text), Field(strict=False)]
    ),
}
_NATIVE: dict[str, TypeAdapter[Any]] = {
    "timestamp": TypeAdapter(event_fields.Timestamp),
    "event_id": TypeAdapter(event_fields.EventId),
}
_stamps = st.builds(
    lambda moment, sep, fraction, zone: moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + fraction + zone,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.sampled_from(["T", "t", " ", "_", ""]),
    st.sampled_from(["", ".5", ".123456", ".1234567890", "."]),
    st.sampled_from(["Z", "z", "+00:00", "-05:30", "+0100", "+01", "", "+24:00", " Z"]),
)
_ids = st.builds(
    lambda value, form: form(value),
    st.uuids(),
    st.sampled_from([str, lambda u: str(u).upper(), lambda u: u.hex, lambda u: f"{{{u}}}"]),
)
_json_values = st.one_of(
    _stamps,
    _ids,
    st.text(alphabet="0123456789-:TtZz+. abcdefABCDEF\n{}", max_size=40),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


def _outcome(adapter: TypeAdapter[Any], text: bytes) -> tuple[object, ...]:
    try:
        value = adapter.validate_json(text)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        return ("rejected", decode_module._reason_for(first["type"]), first["msg"], first["loc"])
    return ("accepted", value, str(value))


@settings(max_examples=600, deadline=None)
@given(field=st.sampled_from(sorted(_NATIVE)), value=_json_values)
def test_timestamps_and_ids_are_checked_natively_as_the_python_validators_check_them(
    field: str, value: object
) -> None:
    """JSON input is checked by pydantic-core alone (no Python call per field): the same values
    pass, and a rejection has the same reason, message and place."""
    text = json.dumps(value).encode()
    assert _outcome(_NATIVE[field], text) == _outcome(_PYTHON_CHECKED[field], text)


def test_an_organisations_inputs_are_shared_only_while_its_windows_are_the_very_same() -> None:
    """One judgement asks for an organisation's figures, offsets and traces twice (verdicts,
    then alerts): the second gets what the first computed, and only for the same windows."""
    config = DetectionConfig()
    members = {f"ward-{i}": quiet(40, seed=i, unit=f"ward-{i}") for i in range(5)}
    figures, offsets = org_figures_and_offsets(members, config)
    assert org_figures_and_offsets(dict(members), config)[0] is figures
    fresh = org_series_figures(members)
    assert repr((fresh, common_offsets(fresh, config))) == repr((figures, offsets))
    traces = measure_traces(figures["ward-1"], config, offsets["ward-1"])
    assert measure_traces(figures["ward-1"], config, offsets["ward-1"]) is traces
    alone = unit_module._measure_traces(figures["ward-1"], config, offsets["ward-1"])
    assert repr(alone) == repr(traces)
    # an equal copy of one window is another input: computed again, to the same figures
    last = members["ward-2"][-1]
    copied = {**members, "ward-2": [*members["ward-2"][:-1], dataclasses.replace(last)]}
    again = org_figures_and_offsets(copied, config)
    assert again[0] is not figures
    assert repr(again) == repr((figures, offsets))
    # a changed window changes what is handed out
    changed = {**members, "ward-2": [*members["ward-2"][:-1], aggregate(39, negative=30)]}
    assert repr(org_figures_and_offsets(changed, config)[0]) != repr(figures)
