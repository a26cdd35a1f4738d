"""Keyed pseudonyms of patient references, the key chain behind them, and key strength.

A pseudonym is `<key id>:<digest>`: the digest is HMAC-SHA256 over `org_id \\x1f patient_ref`
(32 hex characters, 128 bits), scoped to the organisation, so the same patient links across
that organisation's events while the reference itself is never stored. The key id (8 hex
characters) names the key chain that made it, so a rotation is visible in the data.

Rotation chains keys rather than replacing them. With keys K1 (oldest) .. Kn (current):

    d1 = HMAC(K1, org \\x1f ref)        di = HMAC(Ki, org \\x1f d(i-1))

A stored pseudonym made under K1..Ki is brought under K1..Kn by applying K(i+1)..Kn to its
digest alone: no patient reference is needed, which is what makes re-keying stored data
possible (`pipeline rekey`). The price: the old keys must be kept (they compute every new
pseudonym's inner digests); a leaked old key alone no longer links a reference to a stored
pseudonym, since that needs the current key too. Starting a new chain (dropping the old keys)
is a clean break: old pseudonyms cannot then be linked to new ones, and their key id shows it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import string
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

MIN_KEY_BITS = 128
KEY_ID_CHARS = 8
DIGEST_CHARS = 32
SEPARATOR = ":"
_KEY_ID_LABEL = b"pipeline pseudonymisation key id"
_HEX = frozenset(string.hexdigits)
_CLASSES: tuple[tuple[frozenset[str], int], ...] = (
    (frozenset(string.ascii_lowercase), 26),
    (frozenset(string.ascii_uppercase), 26),
    (frozenset(string.digits), 10),
)
_OTHER_CLASS_SIZE = 33  # printable ASCII punctuation and space; anything else counts as one


def _digest(key: bytes, org_id: str, value: str) -> str:
    return hmac.new(key, f"{org_id}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:DIGEST_CHARS]


@dataclass(frozen=True)
class PseudonymKeys:
    """The key chain, oldest first, the current key last (at least one key)."""

    chain: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.chain:
            raise ValueError("a pseudonymisation key chain needs at least one key")

    @classmethod
    def of(cls, key: bytes | PseudonymKeys) -> PseudonymKeys:
        return key if isinstance(key, PseudonymKeys) else cls((key,))

    @cached_property
    def ids(self) -> tuple[str, ...]:
        """The key id of each prefix of the chain: `ids[i]` names the chain K1..K(i+1)."""
        ids: list[str] = []
        previous = b""
        for key in self.chain:
            label = _KEY_ID_LABEL + (b"\x1f" + previous if previous else b"")
            current = hmac.new(key, label, hashlib.sha256).hexdigest()[:KEY_ID_CHARS]
            ids.append(current)
            previous = current.encode()
        return tuple(ids)

    @property
    def key_id(self) -> str:
        """The id written into every pseudonym this chain makes."""
        return self.ids[-1]

    def pseudonymise(self, org_id: str, patient_ref: str) -> str:
        """`<key id>:<digest>` of `patient_ref` in `org_id`; the same inputs, the same result."""
        value = patient_ref
        for key in self.chain:
            value = _digest(key, org_id, value)
        return f"{self.key_id}{SEPARATOR}{value}"

    def rekey(self, org_id: str, pseudonym: str) -> str | None:
        """`pseudonym` (made by a prefix of this chain) as this whole chain makes it.

        A pseudonym without a key id (stored before ids existed) is taken to be from the first
        key alone. None when its key id is not a prefix of this chain (another chain's: it
        cannot be re-keyed with these keys).
        """
        key_id, separator, digest = pseudonym.rpartition(SEPARATOR)
        if not separator:
            key_id, digest = self.ids[0], pseudonym
        if key_id not in self.ids or len(digest) != DIGEST_CHARS:
            return None
        for key in self.chain[self.ids.index(key_id) + 1 :]:
            digest = _digest(key, org_id, digest)
        return f"{self.key_id}{SEPARATOR}{digest}"


def pseudonym_key_id(pseudonym: str) -> str:
    """The key id recorded in a stored pseudonym ("" for one stored before key ids)."""
    key_id, _, _ = pseudonym.rpartition(SEPARATOR)
    return key_id


def estimated_key_bits(text: str) -> float:
    """A conservative strength estimate: length x log2(alphabet of the classes it uses).

    The alphabet is 16 when every character is a hex digit, otherwise the sum of the classes
    present: lower case 26, upper case 26, digits 10, anything else 33. This is what a random
    key of that length and alphabet carries; `key_strength_problem` also refuses keys that are
    clearly not random, which this number alone cannot see.
    """
    if not text:
        return 0.0
    symbols = set(text)
    if symbols <= _HEX:
        alphabet = 16
    else:
        alphabet = sum(size for chars, size in _CLASSES if symbols & chars)
        if symbols - set().union(*(chars for chars, _ in _CLASSES)):
            alphabet += _OTHER_CLASS_SIZE
    return len(text) * math.log2(alphabet)


def key_strength_problem(text: str) -> str | None:
    """Why `text` is too weak a pseudonymisation key, or None when it is acceptable.

    Accepted: an estimated 128 bits or more (`estimated_key_bits`: 32 hex digits, 22 base64
    characters, 20 of mixed case, digits and punctuation), with no sign of a pattern: at least
    half as many distinct characters as a random key of that length and alphabet shows on
    average, and steps between neighbouring characters that vary (which refuses `aaaa…`,
    `abab…`, `0123…0123…`, `Password1!Password1!…`). Random keys pass (`openssl rand -hex 32`,
    `openssl rand -base64 32`). It cannot recognise words: a long phrase of dictionary words
    passes while carrying far less than its length suggests. The message never holds the key.
    """
    bits = estimated_key_bits(text)
    advice = "use a random key, e.g. from `openssl rand -hex 32`"
    if bits < MIN_KEY_BITS:
        return (
            f"too weak: about {bits:.0f} bits estimated ({len(text)} characters); at least "
            f"{MIN_KEY_BITS} are needed: {advice}"
        )
    alphabet = 2 ** (bits / len(text))
    distinct = len(set(text))
    # what a random key of this length and alphabet would show, on average
    expected = alphabet * (1 - (1 - 1 / alphabet) ** len(text))
    steps = {ord(b) - ord(a) for a, b in pairwise(text)}
    if distinct < expected / 2 or len(steps) < (len(text) - 1) / 4:
        return (
            f"too weak: it repeats a few characters or follows a pattern ({distinct} distinct "
            f"characters in {len(text)}): {advice}"
        )
    return None
