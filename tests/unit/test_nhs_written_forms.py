"""NHS numbers in every written form a person would still read as one never survive.

Generated: the ten digits in any digit style NFKC reads as ASCII (full-width, mathematical),
grouped 3-3-4 or whole, parted by any single non-alphanumeric character (with or without
spaces around it) or by a wide gap, with invisible characters (zero-width spaces and joiners,
soft hyphens, direction marks, variation selectors) anywhere between the digits. Checked in
every place the pipeline keeps or shows text: the stored free text and payload, the rejected
line (raw bytes, field, detail) however JSON escapes it, and identifier and label fields, which
refuse it.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.decode import RawMessage, Rejection, RejectReason, decode
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.privacy import is_valid_nhs_number, redact_free_text, redact_rejected
from pipeline.core.stored import FreeTextPolicy
from pipeline.core.textview import TextView
from tests.support.event_examples import as_line, valid_event

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _check_digit(nine: str) -> int:
    remainder = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
    return 0 if remainder == 0 else 11 - remainder


numbers = (
    st.text(alphabet="0123456789", min_size=9, max_size=9)
    .filter(lambda n: _check_digit(n) != 10 and n[:2] != "00")  # none issued below 010
    .map(lambda n: n + str(_check_digit(n)))
)
DIGIT_STYLES = [0x30, 0xFF10, 0x1D7CE, 0x1D7D8, 0x1D7EC, 0x1D7F6]  # ASCII, full-width, maths
SEPARATORS = [
    *" \u00a0\u2009\u202f\u3000-./_,:;|\\~*+#'",
    "\u2212",  # minus sign
    "\u2010",  # hyphen
    "\u2013",  # en dash
    "\u2014",  # em dash
    "\uff0d",  # full-width hyphen-minus
    "\u00b7",  # middle dot
    "\u2022",  # bullet
    "\uff0e",  # full-width full stop
    "\uff0f",  # full-width solidus
]
INVISIBLE = list("\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a\u202c\u034f\ufe0f\u180e")
gaps = st.one_of(
    st.sampled_from(SEPARATORS),
    st.tuples(st.sampled_from(SEPARATORS), st.integers(1, 3)).map(
        lambda t: " " + t[0] + " " * t[1]
    ),
    st.integers(2, 8).map(lambda n: " " * n),
)


@st.composite
def written_forms(draw: st.DrawFn) -> tuple[str, str]:
    """(the number, a written form of it)."""
    number = draw(numbers)
    style = draw(st.sampled_from(DIGIT_STYLES))
    digits = [chr(style + int(d)) for d in number]
    grouped = draw(st.booleans())
    pieces: list[str] = []
    for index, digit in enumerate(digits):
        if grouped and index in (3, 6):
            pieces.append(draw(gaps))
        elif index and draw(st.integers(0, 3)) == 0:
            pieces.append(draw(st.text(st.sampled_from(INVISIBLE), min_size=1, max_size=2)))
        pieces.append(digit)
    return number, "".join(pieces)


words = st.text(st.sampled_from("abcdefghij KLMNOP,;:!?()"), max_size=20)


def survives(number: str, text: str) -> bool:
    """True when `number` can still be read in `text` (digits in order, whatever between)."""
    read = TextView(text).text
    return number in "".join(c for c in read if c.isdigit())


def test_the_written_forms_are_read_as_the_number() -> None:
    assert survives("9434765919", "NHS \uff19\uff14\uff13\u200b-476 . 5919")


@given(written_forms(), words, words)
def test_free_text_keeps_no_written_form(form: tuple[str, str], before: str, after: str) -> None:
    number, written = form
    redacted = redact_free_text(f"{before} {written} {after}")
    assert not survives(number, redacted.text)
    assert redacted.nhs_numbers == 1


@given(written_forms(), words, st.sampled_from(list(FreeTextPolicy)))
def test_the_stored_event_keeps_no_written_form(
    form: tuple[str, str], before: str, policy: FreeTextPolicy
) -> None:
    number, written = form
    engine = Engine(EngineConfig(free_text=policy), b"k" * 32)
    raw = as_line(valid_event("patient_feedback", comment=f"{before} {written}"))
    (stored,) = engine.process([RawMessage(raw, "t:1")], NOW).accepted
    assert not survives(number, stored.payload)
    assert not survives(number, json.loads(stored.payload).get("comment", ""))


LABELS = {
    "incident_report": ["reporter_role", "source"],
    "alert_response": ["alert_id", "responder_role", "source"],
    "patient_feedback": ["source"],
}


@given(
    written_forms(),
    st.sampled_from([(kind, name) for kind, names in LABELS.items() for name in names]),
    st.booleans(),
)
def test_a_label_holding_a_written_form_is_refused_and_kept_without_it(
    form: tuple[str, str], where: tuple[str, str], ascii_only: bool
) -> None:
    number, written = form
    kind, name = where
    label = f"ward {written}"[:64]
    raw = json.dumps(valid_event(kind, **{name: label}), ensure_ascii=ascii_only).encode()
    outcome = decode(raw)
    assert isinstance(outcome, Rejection)
    assert (outcome.reason, outcome.field) == (RejectReason.INVALID_VALUE, name)
    assert not survives(number, json.loads(outcome.raw)[name])
    assert not survives(number, outcome.detail)


@given(written_forms(), st.booleans(), st.sampled_from(["description", "patient_ref", "harm"]))
def test_a_rejected_line_keeps_no_written_form(
    form: tuple[str, str], ascii_only: bool, field: str
) -> None:
    number, written = form
    event = valid_event("incident_report", rating=3)  # an unknown field: rejected
    event[field] = f"see {written}"
    raw = json.dumps(event, ensure_ascii=ascii_only).encode()
    outcome = decode(raw)
    assert isinstance(outcome, Rejection)
    kept = json.loads(outcome.raw)
    assert not survives(number, kept[field])
    assert not survives(number, unicodedata.normalize("NFKC", outcome.raw.decode()))


@given(
    st.lists(numbers, min_size=1, max_size=3),
    st.text(alphabet="0123456789", max_size=4),
    st.text(alphabet="0123456789", max_size=4),
    words,
)
def test_numbers_joined_to_each_other_or_to_digits_do_not_survive(
    joined: list[str], before: str, after: str, around: str
) -> None:
    run = before + "".join(joined) + after
    if len(run) == 10:
        return  # one number alone: the written forms above
    redacted = redact_free_text(f"{around} {run} {around}")
    for number in joined:
        assert not survives(number, redacted.text)
    assert redacted.nhs_numbers == 1  # one place: the whole run


@given(
    st.tuples(
        st.sampled_from("123456789"),  # a leading 0 would make 11 digits a phone number
        st.text(alphabet="0123456789", min_size=10, max_size=29),
    ).map("".join)
)
def test_a_digit_run_is_redacted_exactly_when_it_holds_a_valid_number(run: str) -> None:
    holds = any(is_valid_nhs_number(run[i : i + 10]) for i in range(len(run) - 9))
    redacted = redact_free_text(f"order {run} sent")
    assert redacted.text == ("order [NHS-NUMBER] sent" if holds else f"order {run} sent")


def test_no_number_below_the_issued_ranges_counts_as_one() -> None:
    # 0000000000 and 0012345679 pass Modulus 11 but no NHS or CHI number begins 00; 0101010109
    # (CHI's range begins 010) still counts
    assert not is_valid_nhs_number("0000000000")
    assert not is_valid_nhs_number("0012345679")
    assert is_valid_nhs_number("0101010109")
    assert redact_free_text("at 00:00:00:00:00 sharp").text == "at 00:00:00:00:00 sharp"
    line = b'{"occurred_at": "2025-10-06T00:00:00+00:00", "period_end": "2025-10-13T00:00:00Z"}'
    assert redact_rejected(line) == line
