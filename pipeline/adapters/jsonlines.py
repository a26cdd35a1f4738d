"""Reading JSON Lines input with bounded memory, whatever the input.

A line is read at most `limit + 1` bytes at a time: a line longer than the largest valid
message (a 1.5 GB line without a newline, say) is never held whole. Its head is kept for the
rejection and the rest is read through in chunks and counted, so it is rejected as
`too_large` with its true size. Replay and `pipeline publish` read their input here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from pipeline.core.decode import KEPT_BYTES_OF_OVERSIZED, MAX_MESSAGE_BYTES

READ_CHUNK_BYTES = 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"


class Line(NamedTuple):  # a tuple: one per line read, and far cheaper to make than a dataclass
    """One non-blank line: its number in the input, its bytes without surrounding whitespace
    (only the head when it is too long), its whole size when cut (else None), and the bytes
    read for it and any blank lines before it (for progress)."""

    number: int
    value: bytes
    size: int | None
    consumed: int


def read_lines(handle: BinaryIO, limit: int = MAX_MESSAGE_BYTES) -> Iterator[Line]:
    """The non-blank lines of `handle`, each held in at most `limit + 1` bytes of memory. A UTF-8
    byte order mark starting the input (as some Windows editors write) is not part of its first
    line, which would otherwise be rejected `not_json` (RFC 8259 lets a parser ignore it)."""
    number = consumed = 0
    new = tuple.__new__  # Line's own constructor is a Python call per line
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        if number == 0 and line.startswith(UTF8_BOM):
            consumed += len(UTF8_BOM)
            line = line[len(UTF8_BOM) :]
        number += 1
        consumed += len(line)
        if len(line) > limit and not line.endswith(b"\n"):
            head, size = line[:KEPT_BYTES_OF_OVERSIZED].lstrip(), len(line)
            while not line.endswith(b"\n"):
                line = handle.readline(READ_CHUNK_BYTES)
                if not line:
                    break
                size += len(line)
                consumed += len(line)
            yield new(Line, (number, head, size, consumed))
            consumed = 0
            continue
        stripped = line.strip()
        if stripped:
            yield new(Line, (number, stripped, None, consumed))
            consumed = 0
