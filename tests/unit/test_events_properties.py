"""Properties of decoding and redaction, over generated events, bytes and NHS numbers."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.bounds import MAX_PERIOD
from pipeline.core.decode import Rejection, RejectReason, decode
from pipeline.core.events import (
    EVENT_MODELS,
    AlertResponse,
    AnyEvent,
    EventType,
    FeedbackChannel,
    Harm,
    IncidentCategory,
    IncidentReport,
    PatientFeedback,
    ResponseKind,
    TargetMetric,
)
from pipeline.core.privacy import (
    NHS_NUMBER_TAG,
    contains_nhs_number,
    is_valid_nhs_number,
    redact_free_text,
    redact_nhs_numbers,
)
from tests.support.event_examples import as_line, valid_event

# --- valid events -------------------------------------------------------------------------

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=offsets
)
# a label holding an NHS number is refused (pipeline.core.bounds), so valid labels hold none
labels = st.text(max_size=64).filter(lambda label: not contains_nhs_number(label))
free_text = st.text(max_size=300)
slugs = st.from_regex(r"\A[a-z0-9_]{1,64}\Z").filter(lambda s: not contains_nhs_number(s))
common: dict[str, st.SearchStrategy[Any]] = {
    "schema_version": st.just(1),
    "event_id": st.uuids(),
    "org_id": st.from_regex(r"\A[A-Z0-9]{3,10}\Z").filter(lambda s: not contains_nhs_number(s)),
    "unit_id": st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z").filter(
        lambda s: not contains_nhs_number(s)
    ),
    "occurred_at": instants,
    "source": st.text(min_size=1, max_size=64).filter(lambda s: not contains_nhs_number(s)),
}


@st.composite
def target_metrics(draw: st.DrawFn) -> TargetMetric:
    start = draw(instants)
    denominator = draw(st.integers(min_value=1, max_value=10**15))
    return TargetMetric(
        **{name: draw(strategy) for name, strategy in common.items()},
        event_type=EventType.TARGET_METRIC,
        metric=draw(slugs),
        period_start=start,
        period_end=start + draw(st.timedeltas(timedelta(microseconds=1), MAX_PERIOD)),
        numerator=draw(st.integers(min_value=0, max_value=denominator)),
        denominator=denominator,
        target=draw(st.floats(min_value=0, max_value=1, exclude_min=True)),
        higher_is_better=draw(st.booleans()),
    )


events: st.SearchStrategy[AnyEvent] = st.one_of(
    st.builds(
        IncidentReport,
        **common,
        event_type=st.just("incident_report"),
        category=st.sampled_from(IncidentCategory),
        harm=st.sampled_from(Harm),
        reporter_role=st.none() | labels,
        description=st.none() | free_text,
        patient_ref=st.none() | labels,
    ),
    target_metrics(),
    st.builds(
        PatientFeedback,
        **common,
        event_type=st.just("patient_feedback"),
        rating=st.integers(min_value=1, max_value=6),
        channel=st.none() | st.sampled_from(FeedbackChannel),
        comment=st.none() | free_text,
        themes=st.none() | st.lists(slugs, max_size=20),
    ),
    st.builds(
        AlertResponse,
        **common,
        event_type=st.just("alert_response"),
        alert_id=st.text(min_size=1, max_size=128).filter(lambda s: not contains_nhs_number(s)),
        response=st.sampled_from(ResponseKind),
        responder_role=st.none() | labels,
        note=st.none() | free_text,
    ),
)


@given(events, st.booleans())
def test_any_valid_event_survives_its_own_json(event: AnyEvent, exclude_none: bool) -> None:
    decoded = decode(event.model_dump_json(exclude_none=exclude_none).encode())
    assert decoded == event


# --- anything else ------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(decode(raw), Rejection)


@given(st.binary(max_size=40), st.integers(min_value=0), st.sampled_from(list(range(4))))
def test_bytes_spliced_into_a_valid_event_never_raise(noise: bytes, at: int, kind: int) -> None:
    line = as_line(valid_event(["incident_report", "target_metric", "patient_feedback"][kind % 3]))
    at %= len(line) + 1
    decode(line[:at] + noise + line[at:])


@given(json_values)
def test_any_json_document_that_is_not_an_object_says_so(document: Any) -> None:
    outcome = decode(json.dumps(document).encode())
    assert isinstance(outcome, Rejection)
    if not isinstance(document, dict):
        assert outcome.reason is RejectReason.NOT_AN_OBJECT


def _wrong_type_values(value: Any) -> list[Any]:
    """JSON values of another type than `value` (an int and a float count as one type)."""
    candidates: list[Any] = [7, "7", True, None, ["x"], {"x": 1}]
    if isinstance(value, bool):
        return [c for c in candidates if not isinstance(c, bool)]
    if isinstance(value, int | float):
        return [c for c in candidates if isinstance(c, bool) or not isinstance(c, int)]
    return [c for c in candidates if type(c) is not type(value)]


SPECIAL = {"schema_version", "event_type"}  # they have reasons of their own
# The fields of one form of a v1.1 event (a share or a value; one response or counts): null is
# taken as absent, so the form misses that field.
FORM_FIELDS = {
    "target_metric": {"numerator", "denominator", "value", "unit"},
    "patient_feedback": {"rating", "period_start", "period_end", "counts"},
}
NULLABLE = {
    name
    for model in EVENT_MODELS.values()
    for name, field in model.model_fields.items()
    if not field.is_required() and field.default is None
} - set().union(*FORM_FIELDS.values())
mutations = st.sampled_from(
    ["incident_report", "target_metric", "patient_feedback", "alert_response"]
).flatmap(
    lambda kind: st.sampled_from(sorted(set(valid_event(kind)) - SPECIAL)).flatmap(
        lambda name: st.tuples(
            st.just(kind),
            st.just(name),
            st.sampled_from(_wrong_type_values(valid_event(kind)[name])),
        )
    )
)


@given(mutations)
def test_a_field_of_the_wrong_type_is_rejected_at_that_field(
    mutation: tuple[str, str, Any],
) -> None:
    kind, name, wrong = mutation
    outcome = decode(as_line(valid_event(kind, **{name: wrong})))
    if wrong is None and name in NULLABLE:
        assert not isinstance(outcome, Rejection)
        return
    if wrong is None and name in FORM_FIELDS.get(kind, set()):
        assert isinstance(outcome, Rejection)
        assert (outcome.reason, outcome.field) == (RejectReason.MISSING_FIELD, name)
        return
    assert isinstance(outcome, Rejection)
    assert (outcome.reason, outcome.field) == (RejectReason.WRONG_TYPE, name), outcome.detail


# --- NHS numbers --------------------------------------------------------------------------


def check_digit(nine: str) -> int:
    remainder = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
    return 0 if remainder == 0 else 11 - remainder


nines = st.text(alphabet="0123456789", min_size=9, max_size=9)
valid_numbers = nines.filter(lambda n: check_digit(n) != 10 and n[:2] != "00").map(
    lambda n: n + str(check_digit(n))
)  # no number below 010 is issued
invalid_numbers = nines.flatmap(
    lambda n: st.sampled_from([str(d) for d in range(10) if d != check_digit(n)]).map(
        lambda last: n + last
    )
)
layouts = st.sampled_from(["{}{}{}", "{} {} {}", "{}-{}-{}", "{}\u00a0{}\u00a0{}", "{}  {}  {}"])
# characters that read as no digit (NFKC turns "²" or "¼" into digits)
no_digits = st.text(
    st.characters(blacklist_categories=["Nd", "Cs"]).filter(
        lambda c: not any(d.isdigit() for d in unicodedata.normalize("NFKC", c))
    ),
    max_size=40,
)


def written(number: str, layout: str) -> str:
    return layout.format(number[:3], number[3:6], number[6:])


@given(valid_numbers, layouts, no_digits, no_digits)
def test_a_valid_nhs_number_in_any_text_is_redacted(
    number: str, layout: str, before: str, after: str
) -> None:
    assert is_valid_nhs_number(number)
    text = before + written(number, layout) + after
    redacted, found = redact_nhs_numbers(text)
    assert (redacted, found) == (before + NHS_NUMBER_TAG + after, 1)
    assert number not in redact_free_text(text).text.replace(" ", "")


@given(invalid_numbers, layouts, no_digits, no_digits)
def test_a_number_failing_the_check_digit_is_left_alone(
    number: str, layout: str, before: str, after: str
) -> None:
    assert not is_valid_nhs_number(number)
    text = before + written(number, layout) + after
    assert redact_nhs_numbers(text) == (text, 0)


@given(valid_numbers, layouts, no_digits, st.booleans(), st.integers(min_value=0, max_value=2))
def test_a_rejected_message_keeps_no_valid_nhs_number_however_it_is_escaped(
    number: str, layout: str, text: str, ascii_only: bool, escaped_digit: int
) -> None:
    event = valid_event("incident_report", harm="?", description=text + written(number, layout))
    raw = json.dumps(event, ensure_ascii=ascii_only).encode()
    # one of the first three digits written as a JSON escape, as some encoders do
    at = raw.rindex(json.dumps(written(number, layout), ensure_ascii=ascii_only)[1:-1].encode())
    at += escaped_digit
    raw = raw[:at] + b"\\u003" + raw[at : at + 1] + raw[at + 1 :]
    rejection = decode(raw)
    assert isinstance(rejection, Rejection)
    assert json.loads(rejection.raw)["description"] == text + NHS_NUMBER_TAG
