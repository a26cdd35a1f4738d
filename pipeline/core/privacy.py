"""Personal data in free text and patient references.

The stored form of free text is what our clinical-safety sign-off covers (README, "Personal
data"): NHS numbers (10 digits with a valid Modulus 11 check digit, spaced or not) and other
direct identifiers that can be recognised by shape (email addresses, UK phone numbers, UK
postcodes, dates that could be a date of birth) are replaced by a bracketed tag. Patient
references are replaced by a keyed pseudonym (pipeline/core/pseudonyms.py), so the same patient
links across events of one organisation without the reference itself being stored.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_right
from dataclasses import dataclass

NHS_NUMBER_TAG = "[NHS-NUMBER]"
_WEIGHTS = range(10, 1, -1)

# Digits written in groups ("943 476 5919", "943-476-5919", "9434 765 919", a copy-pasted
# "943\u00a0476\u00a05919"): groups of digits parted by up to three spacing characters (spaces of
# any kind, tabs, line breaks, hyphens and dashes, and the NUL bytes that interleave the digits of
# UTF-16/32 text). An NHS number is any run of whole consecutive groups holding 10 digits.
_DIGIT_GROUPS = re.compile(r"\d+(?:[\s\x00\u2010-\u2015-]{1,3}\d+)*")
_DIGIT_GROUP = re.compile(r"\d+")
_DIGIT_GAPS = re.compile(r"\D+")
# A JSON escape: \uXXXX or a one-character escape such as \t or \\.
_JSON_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_JSON_SHORT_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_OTHER_IDENTIFIERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "[EMAIL]"),
    (re.compile(r"(?<![\w])(\+44\s?|0)(\d[\s-]?){9,10}(?![\w])"), "[PHONE]"),
    (
        re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE),
        "[POSTCODE]",
    ),
    (re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-](\d{4}|\d{2})\b"), "[DATE]"),
)


def is_valid_nhs_number(digits: str) -> bool:
    """True when `digits` (exactly 10 ASCII digits) passes the NHS Modulus 11 check."""
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    # weights 10..2 on the first nine digits, summed over their ASCII codes less ord("0") each
    codes = digits[:9].encode("ascii")
    total: int = sum(map(operator.mul, codes, _WEIGHTS)) - ord("0") * sum(_WEIGHTS)
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def redact_nhs_numbers(text: str) -> tuple[str, int]:
    """Replace every valid NHS number in `text`; return the new text and how many were found.

    Digits of any script count (a full-width "９４３…" is the same number), in any grouping.
    """
    spans = _nhs_number_spans(text)
    return _replace_spans(text, spans), len(spans)


def redact_nhs_numbers_in_bytes(raw: bytes) -> bytes:
    """The same redaction over raw bytes, for input kept as it came (rejected events).

    The bytes may be anything. NHS numbers are found as JSON text would be read, so digits or
    gaps written as escapes (`\\u0039434765919`, `943\\u0020476 5919`) are caught, and so are
    UTF-16/32 digits; only the bytes of each number found are replaced, nothing else changes.
    """
    source = raw.decode("utf-8", "surrogateescape")  # lossless for any bytes
    view = _JsonTextView(source)
    spans = [
        (view.source_offset(start), view.source_offset(end))
        for start, end in _nhs_number_spans(view.text)
    ]
    if not spans:
        return raw
    return _replace_spans(source, spans).encode("utf-8", "surrogateescape")


def _nhs_number_spans(text: str) -> list[tuple[int, int]]:
    """Where valid NHS numbers are in `text`: sorted, not overlapping (overlaps are merged)."""
    spans: list[tuple[int, int]] = []
    for run in _DIGIT_GROUPS.finditer(text):
        if run.end() - run.start() < 10:
            continue
        groups = [(group.start(), group.end()) for group in _DIGIT_GROUP.finditer(run.group())]
        digits = _ascii_digits(_DIGIT_GAPS.sub("", run.group()))
        # digits before each group; the group that the 10th digit from there ends
        counted_before: list[int] = []
        group_ending_at: dict[int, int] = {}
        counted = 0
        for index, (start, end) in enumerate(groups):
            counted_before.append(counted)
            counted += end - start
            group_ending_at[counted] = index
        for first, before in enumerate(counted_before):
            last = group_ending_at.get(before + 10)
            if last is not None and is_valid_nhs_number(digits[before : before + 10]):
                _add_span(spans, run.start() + groups[first][0], run.start() + groups[last][1])
    return spans


def _ascii_digits(digits: str) -> str:
    return digits if digits.isascii() else "".join(str(int(digit)) for digit in digits)


def _add_span(spans: list[tuple[int, int]], start: int, end: int) -> None:
    if spans and start <= spans[-1][1]:
        spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
    else:
        spans.append((start, end))


def _replace_spans(text: str, spans: list[tuple[int, int]]) -> str:
    pieces: list[str] = []
    cursor = 0
    for start, end in spans:
        pieces += [text[cursor:start], NHS_NUMBER_TAG]
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


class _JsonTextView:
    """`source` with its JSON escapes replaced by the characters they stand for, and the way
    back from a position in that text to a position in `source`."""

    def __init__(self, source: str) -> None:
        parts: list[str] = []
        # (position in text, position in source) where each run of verbatim text or each
        # escape begins; the last pair marks the ends of both.
        self._text_starts: list[int] = []
        self._source_starts: list[int] = []
        text_length = source_cursor = 0
        for escape in _JSON_ESCAPE.finditer(source):
            if escape.start() > source_cursor:
                self._mark(text_length, source_cursor)
                parts.append(source[source_cursor : escape.start()])
                text_length += escape.start() - source_cursor
            self._mark(text_length, escape.start())
            parts.append(_unescape(escape.group(1)))
            text_length += 1
            source_cursor = escape.end()
        if source_cursor < len(source):
            self._mark(text_length, source_cursor)
            parts.append(source[source_cursor:])
            text_length += len(source) - source_cursor
        self._mark(text_length, len(source))
        self.text = "".join(parts)

    def _mark(self, text_position: int, source_position: int) -> None:
        self._text_starts.append(text_position)
        self._source_starts.append(source_position)

    def source_offset(self, text_position: int) -> int:
        run = bisect_right(self._text_starts, text_position) - 1
        return self._source_starts[run] + text_position - self._text_starts[run]


def _unescape(escape: str) -> str:
    if escape[0] == "u" and len(escape) == 5:
        return chr(int(escape[1:], 16))
    return _JSON_SHORT_ESCAPES.get(escape, escape)


@dataclass(frozen=True, slots=True)
class RedactedText:
    """Free text in its storable form, with what was taken out of it."""

    text: str
    nhs_numbers: int
    other_identifiers: int


def redact_free_text(text: str) -> RedactedText:
    """The storable form of free text: NHS numbers first, then the other identifier shapes."""
    redacted, nhs_numbers = redact_nhs_numbers(text)
    others = 0
    for pattern, tag in _OTHER_IDENTIFIERS:
        redacted, n = pattern.subn(tag, redacted)
        others += n
    return RedactedText(redacted, nhs_numbers, others)
