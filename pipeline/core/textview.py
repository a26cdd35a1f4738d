"""Text as a person reads it, with the way back to the text as written.

Personal data is looked for in a *view* of the text: JSON escapes replaced by the characters
they stand for (`Reading` stacks views for text escaped more than once), each character in its
Unicode NFKC form (full-width or circled digits become ASCII ones, a no-break space a space) and
invisible characters removed (zero-width spaces and joiners, soft hyphens, direction marks,
combining marks, control characters such as the NUL bytes between the digits of UTF-16 text).
What is found in the view is replaced in the original, so nothing else in it changes.

Building a view costs one pass over the text; plain printable ASCII (most text) is copied in
runs, not character by character.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache

# What may need more than copying: anything outside printable ASCII and the ASCII spacing
# characters, and (in JSON source) a backslash escape.
_SPECIAL_TEXT = re.compile(r"[^\t\n\x0b\x0c\r\x20-\x7e]++")
_SPECIAL_JSON = re.compile(
    # a surrogate pair written as two escapes is one character (e.g. a mathematical digit)
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|\\(?:u[0-9A-Fa-f]{4}|[\x22\\/bfnrt])|[^\t\n\x0b\x0c\r\x20-\x5b\x5d-\x7e\\]++",
    re.DOTALL,
)
# (a backslash before anything else is no JSON escape: it is read as itself)
_JSON_SHORT_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Mn", "Me"})
_SPACING_CONTROLS = frozenset("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85")


@lru_cache(maxsize=8192)
def readable(char: str) -> str:
    """What one character reads as: its NFKC form, or nothing if it is invisible."""
    if char in _SPACING_CONTROLS:
        return " "
    if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
        return ""
    return unicodedata.normalize("NFKC", char)


class TextView:
    """The readable view of `source`, and the map from spans of the view back to `source`.

    `json=True` reads `source` as JSON text (any bytes decoded losslessly), so characters
    written as escapes are read as the characters they stand for.
    """

    def __init__(self, source: str, *, json: bool = False) -> None:
        special = _SPECIAL_JSON if json else _SPECIAL_TEXT
        parts: list[str] = []
        # Each piece of the view: where it starts in the view and in the source, and whether
        # it is copied verbatim (positions map one to one) or stands for a whole source piece.
        self._view_starts: list[int] = []
        self._source_starts: list[int] = []
        self._verbatim: list[bool] = []
        length = cursor = 0
        for found in special.finditer(source):
            if found.start() > cursor:
                self._piece(length, cursor, True)
                parts.append(source[cursor : found.start()])
                length += found.start() - cursor
            piece = found.group()
            if json and piece[0] == "\\" and len(piece) > 1:
                char = _unescape(piece[1:])
                read = char if char.isascii() and char.isprintable() else readable(char)
                if read:
                    self._piece(length, found.start(), False)
                    parts.append(read)
                    length += len(read)
            else:  # a run of characters other than printable ASCII: each read on its own
                for offset, char in enumerate(piece, found.start()):
                    read = readable(char)
                    if read:
                        self._piece(length, offset, read == char)
                        parts.append(read)
                        length += len(read)
            cursor = found.end()
        if cursor < len(source):
            self._piece(length, cursor, True)
            parts.append(source[cursor:])
            length += len(source) - cursor
        self._piece(length, len(source), True)
        self._source_ends = [*self._source_starts[1:], len(source)]
        self.text = "".join(parts)

    def _piece(self, view_start: int, source_start: int, verbatim: bool) -> None:
        if (
            verbatim
            and self._verbatim
            and self._verbatim[-1]
            and view_start - self._view_starts[-1] == source_start - self._source_starts[-1]
        ):
            return  # continues the previous one-to-one piece
        self._view_starts.append(view_start)
        self._source_starts.append(source_start)
        self._verbatim.append(verbatim)

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of `source` that the view's `[start, end)` was read from (`end > start`)."""
        first = bisect_right(self._view_starts, start) - 1
        last = bisect_right(self._view_starts, end - 1) - 1
        source_start = self._source_starts[first]
        if self._verbatim[first]:
            source_start += start - self._view_starts[first]
        if self._verbatim[last]:
            source_end = self._source_starts[last] + end - self._view_starts[last]
        else:
            source_end = self._source_ends[last]
        return source_start, source_end


def _unescape(escape: str) -> str:
    if escape[0] == "u" and len(escape) == 11:
        high, low = int(escape[1:5], 16), int(escape[7:], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    if escape[0] == "u" and len(escape) == 5:
        return chr(int(escape[1:], 16))
    return _JSON_SHORT_ESCAPES.get(escape, escape)


class Reading:
    """`source` read through `levels` levels of JSON escapes, as `TextView`s one on another.

    Raw input is read with two: a string escaped once more than its container
    (`"\\\\u0039434765919"`, which a person who knows JSON still reads as digits) is read too.
    Free text, already unescaped once, is read with one.
    """

    def __init__(self, source: str, levels: int) -> None:
        self._views: list[TextView] = []
        text = source
        for _ in range(levels):
            view = TextView(text, json=True)
            self._views.append(view)
            text = view.text
        self.text = text

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of `source` that `[start, end)` of `text` was read from (`end > start`)."""
        for view in reversed(self._views):
            start, end = view.source_span(start, end)
        return start, end
