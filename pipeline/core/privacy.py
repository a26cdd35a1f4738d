"""Personal data in free text, labels and rejected input; keyed pseudonyms of patient references.

The stored form of free text is what our clinical-safety sign-off covers (README, "Personal
data"): NHS numbers and other direct identifiers that can be recognised by shape (email
addresses, UK phone numbers, UK postcodes, dates that could be a date of birth) are replaced by
a bracketed tag. Patient references are replaced by a keyed pseudonym
(pipeline/core/pseudonyms.py), so the same patient links across events of one organisation
without the reference itself being stored.

An NHS number is 10 digits with a valid Modulus 11 check digit, not beginning `00` (no number
below 010 000 0000 is issued: Scotland's CHI numbers, the lowest range, begin with a day of the
month 01-31; so `00:00:00+00:00`, a midnight time, is not one), found as a person would read it
(`pipeline.core.textview`): after NFKC normalisation and with invisible characters removed,
written whole or in groups parted by a gap: a single non-alphanumeric character (`943.476.5919`,
`943/476/5919`, `943_476_5919`, `943−476−5919`), possibly with spaces around it, or a run of
spaces (`943   476   5919`). In free text and rejected lines, a run of more than 10 digits with
no gap is redacted whole when any 10 digits in a row within it are a valid NHS number (numbers
written joined, `94347659194010232137`, or joined to other digits). Every pattern here runs in
time linear in the text: each unbounded repetition is possessive, and no repetition can match
what the next one matches.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from itertools import accumulate

from pipeline.core.textview import Reading, TextView

NHS_NUMBER_TAG = "[NHS-NUMBER]"
PATIENT_REF_TAG = "[PATIENT-REF]"
_WEIGHTS = range(10, 1, -1)

# A gap between groups of digits: up to 8 spaces, or one to three other non-alphanumeric
# characters with up to 4 spaces either side. Bounded, so the engine cannot backtrack far.
_GAP = r"(?:\s{1,8}|\s{0,4}(?:[^\w\s]|_){1,3}\s{0,4})"
_DIGIT_GROUPS = re.compile(rf"\d++(?:{_GAP}\d++)*+")
_DIGIT_GROUP = re.compile(r"\d++")
_HEX_CODE = re.compile(r"[0-9A-Fa-f]{16,}+")
_NOT_DIGITS = re.compile(r"\D++")
# A JSON string (escapes included); and after a key, its value: a string's content or a scalar.
# (an unclosed string runs to the end, so no quote is the start of a second, failing scan)
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_KEY_VALUE = re.compile(r'\s*+:\s*+(?:"((?:[^"\\]++|\\.)*+)"?|([^\s,:{}\[\]"]++))', re.DOTALL)
_OTHER_IDENTIFIERS: tuple[tuple[re.Pattern[str], str], ...] = (
    # a local part starts where a run of its characters starts, so a long run without an `@`
    # is scanned once, not once per starting character
    (re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)++"), "[EMAIL]"),
    (re.compile(r"(?<!\w)(?:\+44\s?|0)(?:\d[\s-]?){9,10}(?!\w)"), "[PHONE]"),
    (
        re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s{0,4}\d[A-Z]{2}\b", re.IGNORECASE),
        "[POSTCODE]",
    ),
    (re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b"), "[DATE]"),
)
# Every shape above needs a digit or an `@` in the readable view. Plain ASCII without either,
# and without a backslash (which the view reads as a JSON escape), has neither in its view
# (control characters read as a space or nothing): most free text is cleared by one search.
_MAY_HOLD_IDENTIFIER = re.compile(r"[0-9@\\]")
PATTERNS: tuple[re.Pattern[str], ...] = (
    _DIGIT_GROUPS,
    _DIGIT_GROUP,
    _HEX_CODE,
    _NOT_DIGITS,
    _JSON_STRING,
    _KEY_VALUE,
    *(pattern for pattern, _ in _OTHER_IDENTIFIERS),
    _MAY_HOLD_IDENTIFIER,
)
"""Every pattern run over input text (tests check each is free of catastrophic backtracking)."""


def is_valid_nhs_number(digits: str) -> bool:
    """True when `digits` (exactly 10 ASCII digits) passes the NHS Modulus 11 check and lies in
    the issued ranges' span (not beginning `00`)."""
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit() or digits[:2] == "00":
        return False
    # weights 10..2 on the first nine digits, summed over their ASCII codes less ord("0") each
    codes = digits[:9].encode("ascii")
    total: int = sum(map(operator.mul, codes, _WEIGHTS)) - ord("0") * sum(_WEIGHTS)
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def contains_nhs_number(text: str) -> bool:
    """True when `text` holds a valid NHS number, written as `redact_nhs_numbers` finds them,
    unless its digits are part of a hexadecimal code (a digest such as the pipeline's own
    alert ids, `tar-0123456789abcdef0123`): for identifiers and labels, which refuse one."""
    view = Reading(text, 1).text
    return any(not _in_hex_code(view, *span) for span in _nhs_number_spans(view, merge=False))


def _in_hex_code(text: str, start: int, end: int) -> bool:
    """True when `text[start:end]` lies inside a run of 16 or more hex digits with letters."""
    if not (start > 0 and text[start - 1].isalnum()) and not (
        end < len(text) and text[end].isalnum()
    ):
        return False
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return _HEX_CODE.fullmatch(text, start, end) is not None


def redact_nhs_numbers(text: str) -> tuple[str, int]:
    """Replace every valid NHS number in `text`; return the new text and how many were found."""
    view = Reading(text, 1)
    spans = [view.source_span(start, end) for start, end in _nhs_number_spans(view.text)]
    return _replace_spans(text, [(start, end, NHS_NUMBER_TAG) for start, end in spans]), len(spans)


def redact_rejected(raw: bytes) -> bytes:
    """Raw input with every personal-data shape replaced, for keeping rejected messages.

    NHS numbers and the other identifier shapes are found in the JSON reading of `raw`, and the
    value of any key that names a patient (`patient_ref`, however escaped, cased or misspelt
    around "patient") is replaced too, whatever the free-text policy. Only those bytes change.
    """
    source = raw.decode("utf-8", "surrogateescape")  # lossless for any bytes
    view = Reading(source, 2)
    found = [(*view.source_span(s, e), NHS_NUMBER_TAG) for s, e in _nhs_number_spans(view.text)]
    for pattern, tag in _OTHER_IDENTIFIERS:
        found += [(*view.source_span(*m.span()), tag) for m in pattern.finditer(view.text)]
    found += [(start, end, PATIENT_REF_TAG) for start, end in _patient_values(source)]
    if not found:
        return raw
    return _replace_spans(source, _merged(found)).encode("utf-8", "surrogateescape")


def _patient_values(source: str) -> list[tuple[int, int]]:
    """Spans of the values of keys naming a patient, in JSON-ish `source` (valid or not)."""
    spans: list[tuple[int, int]] = []
    for key in _JSON_STRING.finditer(source):
        name = "".join(c for c in TextView(key.group()[1:-1], json=True).text if c.isalpha())
        if "patient" not in name.casefold():
            continue
        value = _KEY_VALUE.match(source, key.end())
        if value is not None:
            spans.append(value.span(1) if value.group(1) is not None else value.span(2))
    return spans


def _nhs_number_spans(text: str, *, merge: bool = True) -> list[tuple[int, int]]:
    """Where valid NHS numbers are in `text`: sorted, not overlapping (overlaps are merged
    unless `merge` is false).

    Written in groups, a number is whole groups. With `merge` (the redaction of free text and
    rejected lines), a run of more than 10 digits with no gap is also one span when any 10 of
    its digits in a row make a valid number: numbers joined together or to other digits. Labels
    (`merge` false) are not refused for that: any long digit run would be by chance.
    """
    spans: list[tuple[int, int]] = []
    for run in _DIGIT_GROUPS.finditer(text):
        if run.end() - run.start() < 10:
            continue
        groups = [(group.start(), group.end()) for group in _DIGIT_GROUP.finditer(run.group())]
        digits = _ascii_digits(_NOT_DIGITS.sub("", run.group()))
        # digits before each group; the group that the 10th digit from there ends
        counted_before: list[int] = []
        group_ending_at: dict[int, int] = {}
        counted = 0
        for index, (start, end) in enumerate(groups):
            counted_before.append(counted)
            counted += end - start
            group_ending_at[counted] = index
        found: list[tuple[int, int]] = []
        for first, before in enumerate(counted_before):
            last = group_ending_at.get(before + 10)
            if last is not None and is_valid_nhs_number(digits[before : before + 10]):
                found.append((run.start() + groups[first][0], run.start() + groups[last][1]))
            start, end = groups[first]
            if merge and end - start > 10 and _holds_nhs_number(digits, before, end - start):
                found.append((run.start() + start, run.start() + end))
        if not merge:
            spans += found
            continue
        for span in sorted(found):
            _add_span(spans, *span)
    return spans


def _holds_nhs_number(digits: str, start: int, length: int) -> bool:
    """True when some 10 digits in a row of `digits[start:start + length]` (ASCII) are a valid
    NHS number (not beginning `00`). Each window's weighted sum comes from two running sums,
    in constant time."""
    values = [code - 48 for code in digits[start : start + length].encode("ascii")]
    sums = list(accumulate(values, initial=0))
    weighted = list(accumulate(map(operator.mul, values, range(length)), initial=0))
    for i in range(length - 9):
        # the digits i..i+8 weighted 10..2: sum of d[j] * (10 + i - j)
        total = (10 + i) * (sums[i + 9] - sums[i]) - (weighted[i + 9] - weighted[i])
        # the check digit (10, never a digit, is invalid); no issued number begins 00
        if -total % 11 == values[i + 9] and (values[i] or values[i + 1]):
            return True
    return False


def _ascii_digits(digits: str) -> str:
    return digits if digits.isascii() else "".join(str(int(digit)) for digit in digits)


def _add_span(spans: list[tuple[int, int]], start: int, end: int) -> None:
    if spans and start <= spans[-1][1]:
        spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
    else:
        spans.append((start, end))


def _merged(found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sorted spans, each overlap merged into its first span (and its tag)."""
    merged: list[tuple[int, int, str]] = []
    for start, end, tag in sorted(found):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), merged[-1][2])
        else:
            merged.append((start, end, tag))
    return merged


def _replace_spans(text: str, spans: list[tuple[int, int, str]]) -> str:
    pieces: list[str] = []
    cursor = 0
    for start, end, tag in spans:
        pieces += [text[cursor:start], tag]
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


@dataclass(frozen=True, slots=True)
class RedactedText:
    """Free text in its storable form, with what was taken out of it."""

    text: str
    nhs_numbers: int
    other_identifiers: int


def redact_free_text(text: str) -> RedactedText:
    """The storable form of free text: NHS numbers first, then the other identifier shapes.

    The other shapes are found in the readable view too, so a full-width or zero-width-split
    email address or phone number is caught as well.
    """
    if text.isascii() and _MAY_HOLD_IDENTIFIER.search(text) is None:
        return RedactedText(text, 0, 0)
    return _redact_looking_closely(text)


def _redact_looking_closely(text: str) -> RedactedText:
    redacted, nhs_numbers = redact_nhs_numbers(text)
    view = Reading(redacted, 1)
    found = [
        (*view.source_span(*m.span()), tag)
        for pattern, tag in _OTHER_IDENTIFIERS
        for m in pattern.finditer(view.text)
    ]
    if not found:
        return RedactedText(redacted, nhs_numbers, 0)
    merged = _merged(found)
    return RedactedText(_replace_spans(redacted, merged), nhs_numbers, len(merged))
