"""Resuming a causal fold from the longest prefix of its inputs already folded.

The monitors (`stats.monitor`, `silence.silence_trace`) fold a unit's windows in time order:
their state before window t is a function of the inputs of windows 0..t-1 alone (a later
window may still flag an earlier one, but only through that state). The engine judges the
same units again each time a window closes, on the same history plus the new window, or, after
a late event or a revision, on a history changed from some window on. So a fold saves its
state every `EVERY` windows in a `Checkpoints` store, keyed by exactly the inputs it had folded
by then, and a later fold whose inputs begin with the same prefix resumes from the longest
saved one: only the suffix is folded again, and since the saved state IS what folding the
prefix gives, the result is the one folding from the first window gives, to the bit.

Keys hold the prefix itself (compared for equality, not only hashed), so a hit cannot be wrong;
each store is bounded (least recently used out first), so a miss only costs time. The core
stays pure: the stores change how long a judgement takes, never what it says.
`from_scratch()` turns every store off, and the per-window memos that ask `reusing()` (the
tests compare both ways).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

EVERY = 4
"""Windows between two saved states of a fold: a resumed fold redoes fewer than this many."""
KEEP = 24
"""A fold saves its states of the latest this many windows only: new windows and late data
land there. A change further back folds the unit again from its first window."""

_stores: list[Checkpoints] = []
_enabled = [True]

Column = Sequence[Any] | None


class Checkpoints:
    """Saved fold states, keyed by (what else decides the fold, prefix length, the prefix of
    every input column). A state must not be changed once saved: `resume` hands out the
    saved object itself, and the fold copies what it goes on changing."""

    def __init__(self, capacity: int) -> None:
        self._store: OrderedDict[Hashable, Any] = OrderedDict()
        self._capacity = capacity
        _stores.append(self)

    def resume(self, head: Hashable, columns: Sequence[Column], size: int) -> tuple[int, Any]:
        """(length, state) of the longest saved prefix of `columns` (each `size` long), or
        (0, None): fold windows from `length` on, starting from `state`."""
        if not _enabled[0]:
            return 0, None
        store = self._store
        for length in range(size - size % EVERY, 0, -EVERY):
            key = _key(head, columns, length)
            state = store.get(key)
            if state is not None:
                store.move_to_end(key)
                return length, state
        return 0, None

    def save(self, head: Hashable, columns: Sequence[Column], length: int, state: Any) -> None:
        """Keep `state`, the fold's state before window `length` (after windows 0..length-1)."""
        if not _enabled[0]:
            return
        key = _key(head, columns, length)
        store = self._store
        if key in store:
            store.move_to_end(key)
            return
        store[key] = state
        if len(store) > self._capacity:
            store.popitem(last=False)

    def clear(self) -> None:
        self._store.clear()


def _key(head: Hashable, columns: Sequence[Column], length: int) -> Hashable:
    return (head, length, *(None if c is None else tuple(c[:length]) for c in columns))


def reusing() -> bool:
    """Whether results may be reused (the memos of per-window figures consult this too)."""
    return _enabled[0]


@contextmanager
def from_scratch() -> Iterator[None]:
    """Within: every fold starts from its first window, and nothing is saved or reused."""
    for store in _stores:
        store.clear()
    _enabled[0] = False
    try:
        yield
    finally:
        _enabled[0] = True
