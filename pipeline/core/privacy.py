"""Personal data in free text and patient references.

The stored form of free text is what our clinical-safety sign-off covers (README, "Personal
data"): NHS numbers (10 digits with a valid Modulus 11 check digit, spaced or not) and other
direct identifiers that can be recognised by shape (email addresses, UK phone numbers, UK
postcodes, dates that could be a date of birth) are replaced by a bracketed tag. Patient
references are replaced by a keyed pseudonym (HMAC-SHA256), so the same patient links across
events of one organisation without the reference itself being stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

NHS_NUMBER_TAG = "[NHS-NUMBER]"

# 10 digits in a 3-3-4 grouping with optional single spaces or hyphens, not inside a longer number.
_NHS_CANDIDATE = re.compile(r"(?<![\d])(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?![\d])")
_NHS_CANDIDATE_BYTES = re.compile(rb"(?<![\d])(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?![\d])")
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
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def redact_nhs_numbers(text: str) -> tuple[str, int]:
    """Replace every valid NHS number in `text`; return the new text and how many were found."""
    found = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        if is_valid_nhs_number("".join(match.groups())):
            found += 1
            return NHS_NUMBER_TAG
        return match.group(0)

    return _NHS_CANDIDATE.sub(replace, text), found


def redact_nhs_numbers_in_bytes(raw: bytes) -> bytes:
    """The same redaction over raw bytes, for input kept as it came (rejected events)."""

    def replace(match: re.Match[bytes]) -> bytes:
        digits = b"".join(match.groups()).decode("ascii")
        return NHS_NUMBER_TAG.encode() if is_valid_nhs_number(digits) else match.group(0)

    return _NHS_CANDIDATE_BYTES.sub(replace, raw)


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


def pseudonymise(key: bytes, org_id: str, patient_ref: str) -> str:
    """Keyed pseudonym of a patient reference, scoped to its organisation (32 hex characters).

    The same key, organisation and reference always give the same pseudonym; without the key
    the reference cannot be recovered or confirmed by guessing.
    """
    message = f"{org_id}\x1f{patient_ref}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
