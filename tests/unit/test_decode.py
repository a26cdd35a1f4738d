"""Bad input: every reason decode() gives, the field it names, and the hostile corpus."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.bounds import TimeHorizon
from pipeline.core.decode import MAX_MESSAGE_BYTES, Rejection, RejectReason, decode
from pipeline.core.events import EventType, PatientFeedback
from pipeline.core.privacy import NHS_NUMBER_TAG
from tests.support.event_examples import VALID_NHS_NUMBER, as_line, valid_event

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
MANIFEST: dict[str, dict[str, str]] = json.loads((HOSTILE / "expected.json").read_text())


def rejection_of(raw: bytes) -> Rejection:
    # the bounds every runtime checks: the default horizon at this processing time
    outcome = decode(raw, TimeHorizon().at(datetime.now(UTC)))
    assert isinstance(outcome, Rejection), f"accepted: {raw[:200]!r}"
    return outcome


def feedback(**changes: Any) -> bytes:
    return as_line(valid_event("patient_feedback", **changes))


# (raw message, reason, field): at least one case per RejectReason
CASES: dict[str, tuple[bytes, RejectReason, str]] = {
    "empty": (b"", RejectReason.EMPTY, ""),
    "blank": (b"  \n", RejectReason.EMPTY, ""),
    "too large": (b" " * (MAX_MESSAGE_BYTES + 1), RejectReason.TOO_LARGE, ""),
    "latin-1": ('{"source": "café"}'.encode("latin-1"), RejectReason.NOT_UTF8, ""),
    "not json": (b"{not json}", RejectReason.NOT_JSON, ""),
    "deep": (b"[" * 33 + b"]" * 33, RejectReason.TOO_DEEPLY_NESTED, ""),
    "array": (b"[]", RejectReason.NOT_AN_OBJECT, ""),
    "version 2": (
        feedback(schema_version=2),
        RejectReason.UNSUPPORTED_SCHEMA_VERSION,
        "schema_version",
    ),
    "no version": (feedback(schema_version=...), RejectReason.MISSING_FIELD, "schema_version"),
    "unknown type": (feedback(event_type="x"), RejectReason.UNKNOWN_EVENT_TYPE, "event_type"),
    "no type": (feedback(event_type=...), RejectReason.MISSING_FIELD, "event_type"),
    "no rating": (feedback(rating=...), RejectReason.MISSING_FIELD, "rating"),
    "typo": (feedback(ratng=3), RejectReason.UNKNOWN_FIELD, "ratng"),
    "duplicate": (feedback()[:-1] + b', "rating": 1}', RejectReason.DUPLICATE_FIELD, "rating"),
    "string for int": (feedback(rating="2"), RejectReason.WRONG_TYPE, "rating"),
    "list item type": (feedback(themes=["a", 3]), RejectReason.WRONG_TYPE, "themes.1"),
    "list item value": (feedback(themes=["a", "B"]), RejectReason.INVALID_VALUE, "themes.1"),
    "out of range": (feedback(rating=9), RejectReason.INVALID_VALUE, "rating"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_reason_names_the_field_at_fault(case: str) -> None:
    raw, reason, field = CASES[case]
    rejection = rejection_of(raw)
    assert (rejection.reason, rejection.field) == (reason, field)
    assert rejection.detail


def test_the_cases_and_the_corpus_cover_every_reason() -> None:
    covered = {reason for _, reason, _ in CASES.values()}
    covered |= {RejectReason(expected["reason"]) for expected in MANIFEST.values()}
    # processing_error is the engine's verdict on a valid event it failed on, never decode's
    assert covered | {RejectReason.PROCESSING_ERROR} == set(RejectReason)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_hostile_input_is_rejected_with_its_reason_and_never_raises(name: str) -> None:
    raw = (HOSTILE / name).read_bytes()
    rejection = rejection_of(raw)
    assert rejection.reason.value == MANIFEST[name]["reason"], rejection.detail
    assert rejection.field == MANIFEST[name]["field"]


def test_every_file_of_the_corpus_is_in_the_manifest() -> None:
    assert {p.name for p in HOSTILE.iterdir()} - {"expected.json"} == set(MANIFEST)


@pytest.mark.parametrize("event_type", [t.value for t in EventType])
def test_a_valid_event_of_each_type_is_accepted(event_type: str) -> None:
    event = decode(as_line(valid_event(event_type)))
    assert not isinstance(event, Rejection)
    assert event.event_type == event_type


def test_the_largest_valid_event_fits_even_with_every_character_escaped() -> None:
    comment = "\U0001f600" * 10_000  # written by json.dumps as 10,000 escaped surrogate pairs
    raw = json.dumps(valid_event("patient_feedback", comment=comment)).encode()
    assert len(raw) > 120_000
    event = decode(raw)
    assert isinstance(event, PatientFeedback)
    assert event.comment == comment


def test_a_duplicate_key_is_found_past_escaped_quotes_in_free_text() -> None:
    quoted = feedback(comment='He said "wait", then left: "soon"')
    assert not isinstance(decode(quoted), Rejection)
    rejection = rejection_of(quoted[:-1] + b', "channel": "web"}')
    assert (rejection.reason, rejection.field) == (RejectReason.DUPLICATE_FIELD, "channel")


@pytest.mark.parametrize("separators", [(", ", ": "), (",", ":"), (" , ", " : "), (",\n", "\t:\r")])
@pytest.mark.parametrize("comment", ["fine", ":-) then :(", '": "rating": 1', "a\\b"])
@pytest.mark.parametrize("again", [None, "rating", "comment", "channel", "themes"])
def test_a_key_written_twice_is_found_however_the_object_is_written(
    separators: tuple[str, str], comment: str, again: str | None
) -> None:
    # the quick count (no escape, no space after a quote) and the exact one must agree
    event = valid_event("patient_feedback", comment=comment, themes=["waiting"])
    raw = json.dumps(event, separators=separators).encode()
    if again is None:
        assert isinstance(decode(raw), PatientFeedback)
        return
    item = separators[0] + json.dumps(again) + separators[1] + json.dumps(event[again])
    rejection = rejection_of(raw[:-1] + item.encode() + b"}")
    assert (rejection.reason, rejection.field) == (RejectReason.DUPLICATE_FIELD, again)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_literals_are_not_json(literal: bytes) -> None:
    raw = as_line(valid_event("target_metric")).replace(b"0.95", literal)
    assert rejection_of(raw).reason is RejectReason.NOT_JSON


def test_a_cross_field_rule_is_an_invalid_value_of_the_event() -> None:
    raw = as_line(valid_event("target_metric", numerator=1001))
    rejection = rejection_of(raw)
    assert (rejection.reason, rejection.field) == (RejectReason.INVALID_VALUE, "")
    assert "numerator must not exceed denominator" in rejection.detail


@pytest.mark.parametrize(
    "written",
    [
        VALID_NHS_NUMBER,
        "943 476 5919",
        "943-476-5919",
        "\\u0039434765919",  # a JSON escape for the first digit
        "943\\u0020476\\u00205919",  # escaped spaces
    ],
)
def test_a_rejected_message_keeps_no_nhs_number(written: str) -> None:
    raw = feedback(rating="2")[:-1] + b', "note": "NHS ' + written.encode() + b'"}'
    assert rejection_of(raw).raw == raw.replace(written.encode(), NHS_NUMBER_TAG.encode())


def test_a_rejection_echoes_no_nhs_number_in_its_detail_or_field() -> None:
    in_version = rejection_of(feedback(schema_version=f"v {VALID_NHS_NUMBER}"))
    in_type = rejection_of(feedback(event_type=VALID_NHS_NUMBER))
    in_key = rejection_of(feedback(**{f"nhs_{VALID_NHS_NUMBER}": 1}))
    for rejection in (in_version, in_type, in_key):
        assert VALID_NHS_NUMBER not in rejection.detail + rejection.field
    assert in_key.field == f"nhs_{NHS_NUMBER_TAG}"


def test_the_pipelines_own_words_in_a_detail_are_not_taken_for_personal_data() -> None:
    # The detail is redacted like free text; "8-4-4-4-12" was read as a date ("8-4-[DATE]").
    rejection = rejection_of(feedback(event_id="not-a-uuid"))
    assert (rejection.reason, rejection.field) == (RejectReason.INVALID_VALUE, "event_id")
    assert "[" not in rejection.detail and "8, 4, 4, 4 and 12" in rejection.detail


def test_a_long_unknown_key_is_cut_short_in_the_field() -> None:
    rejection = rejection_of(feedback(**{"k" * 5000: 1}))
    assert rejection.reason is RejectReason.UNKNOWN_FIELD
    assert len(rejection.field) <= 200


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_a_kept_hostile_line_holds_no_personal_data(name: str) -> None:
    kept = rejection_of((HOSTILE / name).read_bytes())
    text = kept.raw.decode("utf-8", "replace")
    for personal in (VALID_NHS_NUMBER, "MRN-0042", "07700 900123", "jo@example.org", "SW1A 1AA"):
        assert personal not in text
    assert "01/02/1980" not in text
