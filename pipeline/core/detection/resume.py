"""Reusing what judging computed before: one bounded memo, and two ways of resuming from it.

The engine judges the same units again each time a window closes, on the same history plus the
new window, or, after a late event or a revision, on a history changed from some window on.
Everything judging keeps between judgements to avoid redoing that work lives in `Memo` stores
made here (their capacities are `CAPACITY`: memory is bounded in this one place), and
`from_scratch()` turns every one of them off: the tests compare judging both ways.

- `Checkpoints`: the monitors (`stats.monitor`, `silence.silence_trace`, `mirrored.
  mirrored_rules`) fold a unit's windows in time order: their state before window t is a
  function of the inputs of windows 0..t-1 alone (a later window may still flag an earlier one,
  but only through that state). So a fold saves its state every `EVERY` windows and at its end,
  keyed by exactly the inputs it had folded by then, and a later fold whose inputs begin with
  the same prefix resumes from the longest saved one: only the suffix is folded again (a window
  closed since the last judgement: that window alone), and since the saved state IS what
  folding the prefix gives, the result is the one folding from the first window gives, to the
  bit. What an entry adds does not grow with the unit's history: its key holds the prefix's
  whole `BLOCK`s as one interned chain, shared by every state of the fold, plus the short rest,
  and a state's output lists share the blocks of the state they grew from (`blocks.Written`).
- `Suffixes`: a per-window result that reads only its own window's inputs (a verdict, a
  window's weight among its peers) is kept per slot (a unit and measure) with the input
  columns it was computed from; the next call computes only from the first window whose inputs
  differ (C-speed list comparisons find it), and copies the rest.
- `Memo` itself: a result keyed by exactly its inputs (a window's peers' level).

Keys and columns hold the inputs themselves (compared for equality, not only hashed), so a hit
cannot be wrong; every store is bounded (least recently used out first), so a miss only costs
time. The core stays pure: the stores change how long a judgement takes, never what it says.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any, Generic, TypeVar

from pipeline.core.detection.blocks import BLOCK, Block, block_chain

EVERY = 4
"""Windows between two saved states of a fold: a resumed fold redoes fewer than this many."""
KEEP = 24
"""A fold saves its states of the latest this many windows only: new windows and late data
land there. A change further back folds the unit again from its first window."""
CAPACITY = {
    "monitor": 4096,  # fold states (`stats.monitor`): about 7 per unit and measure (6 + end)
    "silence": 2048,  # fold states (`silence.silence_trace`)
    "mirrored": 2048,  # fold states (`mirrored.mirrored_rules`, the bright spots' rules)
    "verdicts": 8192,  # per unit and measure: a verdict per window (`detection.verdicts`)
    "peers": 8192,  # per unit and measure: a window's z and precision (`common_levels`)
    "levels": 1 << 15,  # per measure and window: the others' level for each unit
    "offsets": 64,  # per organisation and measure: its units' common offsets, by window
    "pooled": 64,  # per organisation and measure: the same, pooled over `common_windows`
    "sums": 1 << 15,  # per measure and window: the others' weighted sums for each unit
    "figures": 16,  # organisations: figures and offsets shared by one judgement's readers
    "traces": 256,  # units: the monitors shared by one judgement's readers
    "silences": 256,  # units: the silence traces shared by one judgement's readers
    "unit_figures": 256,  # units: the figures shared by one judgement's readers
    "unit_grown": 4096,  # per unit: its latest figures, read again from where they changed
    "bright": 16,  # organisations: their bright spots, while their windows are unchanged
    "board": 256,  # units: their board rows, while their windows are unchanged
    "board_windows": 1024,  # units: what the board reads of each window
    "digests": 4096,  # per unit: each window's part of the judgement mark's digest
}
"""Entries each store keeps at most (the only bound on what judging remembers)."""

_stores: list[Memo] = []
_enabled = [True]
_MISSING: Any = object()

Column = Sequence[Any] | None
T = TypeVar("T")


class _Hashed:
    """A key with its hash worked out once: a store finds, touches and adds an entry with one
    hash of a long key (a fold's prefix over a unit's whole history: tuples do not keep their
    hash), not one per step. Small keys go to a `Memo` as they are."""

    __slots__ = ("_hash", "key")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Hashed) and self._hash == other._hash and self.key == other.key


class Memo:
    """A bounded map of results by their exact inputs; empty and unused within
    `from_scratch()`. Values are shared, never changed once stored."""

    def __init__(self, name: str) -> None:
        self._store: OrderedDict[Hashable, Any] = OrderedDict()
        self._capacity = CAPACITY[name]
        # slot -> the key last put for it, and back: one key per slot, held while it is stored
        self._latest: dict[Hashable, Hashable] = {}
        self._slot_of: dict[Hashable, Hashable] = {}
        _stores.append(self)

    def get(self, key: Hashable) -> Any:
        """The value stored under `key`, else `MISSING` (always, within `from_scratch()`)."""
        if not _enabled[0]:
            return _MISSING
        value = self._store.get(key, _MISSING)
        if value is not _MISSING:
            self._store.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any, slot: Hashable = None) -> None:
        """Store `value` under `key`. With a `slot` (a unit, say: what the key is a version
        of), the slot's entry put before under another key is dropped: a store of results
        keyed by inputs that only move on (a unit's windows, replaced as they change) then
        holds the latest version per slot, not a capacity's worth of stale ones. A key is
        one slot's at a time, and a slot is forgotten with its entry (evicted, or replaced)."""
        if not _enabled[0]:
            return
        store = self._store
        if slot is not None:
            before = self._latest.get(slot, _MISSING)
            if before is not _MISSING and before != key:
                store.pop(before, None)
                self._forget(before)
            owner = self._slot_of.get(key, _MISSING)
            if owner is not _MISSING and owner != slot:
                del self._latest[owner]  # the key is this slot's now: owner's next put keeps it
            self._latest[slot] = key
            self._slot_of[key] = slot
        store[key] = value
        store.move_to_end(key)
        if len(store) > self._capacity:
            self._forget(store.popitem(last=False)[0])

    def _forget(self, key: Hashable) -> None:
        """Drop the slot pointing at `key`, an entry gone from the store."""
        slot = self._slot_of.pop(key, _MISSING)
        if slot is not _MISSING:
            del self._latest[slot]

    def keep(self, key: Hashable, value: Any) -> None:
        """`put`, unless `key` is held already: then that value is kept (and touched)."""
        if not _enabled[0]:
            return
        if key in self._store:
            self._store.move_to_end(key)
        else:
            self.put(key, value)

    def __contains__(self, key: Hashable) -> bool:
        return _enabled[0] and key in self._store

    def clear(self) -> None:
        self._store.clear()
        self._latest.clear()
        self._slot_of.clear()


MISSING = _MISSING
"""What `Memo.get` returns for a key it does not hold."""


class Checkpoints:
    """Saved fold states, keyed by (what else decides the fold, prefix length, the prefix of
    every input column). A state must not be changed once saved: `resume` hands out the
    saved object itself, and the fold copies what it goes on changing.

    A key holds its prefix as a shared `Block` chain up to the last whole `BLOCK` plus the
    short rest: the chain of a unit's history is held once, by all its states (and by those of
    any fold with the same inputs), so what an entry adds does not grow with the history."""

    def __init__(self, name: str) -> None:
        self._memo = Memo(name)
        # The chain of the latest `resume`'s columns, for the `save`s of the same fold.
        self._latest: tuple[Sequence[Column], list[Block | None]] | None = None

    def resume(self, head: Hashable, columns: Sequence[Column], size: int) -> tuple[int, Any]:
        """(length, state) of the longest saved prefix of `columns` (each `size` long), or
        (0, None): fold windows from `length` on, starting from `state`. The fold's `save`s
        pass this very `columns` object, its lists unchanged since."""
        if not _enabled[0]:
            return 0, None
        links = block_chain(columns, size)
        self._latest = (columns, links)
        # The fold's final state is saved too: the same inputs, or the previous call's with
        # one window since, resume with nothing (or that window) to fold again.
        top = size - size % EVERY
        if top >= size - 1:
            top -= EVERY
        for length in chain((size, size - 1), range(top, 0, -EVERY)):
            if length <= 0:
                break
            state = self._memo.get(_key(head, columns, length, links))
            if state is not _MISSING:
                return length, state
        return 0, None

    def save(self, head: Hashable, columns: Sequence[Column], length: int, state: Any) -> None:
        """Keep `state`, the fold's state before window `length` (after windows 0..length-1)."""
        if not _enabled[0]:
            return
        latest = self._latest
        links = (
            latest[1]
            if latest is not None and latest[0] is columns
            else block_chain(columns, length)
        )
        self._memo.keep(_key(head, columns, length, links), state)  # a state saved before is kept


def _key(
    head: Hashable, columns: Sequence[Column], length: int, links: list[Block | None]
) -> _Hashed:
    whole = length // BLOCK
    rest = (None if c is None else tuple(c[whole * BLOCK : length]) for c in columns)
    return _Hashed((head, length, links[whole], *rest))


class Suffixes(Generic[T]):
    """Per-window results, each a function of its own window's inputs only (the entries of
    `columns` at that index, and what the slot's key fixes)."""

    def __init__(self, name: str) -> None:
        self._memo = Memo(name)

    def pointwise(
        self, slot: Hashable, columns: Sequence[Sequence[Any]], compute: Callable[[int], T]
    ) -> list[T]:
        """`[compute(t) for t in range(size)]` (`size`: the columns' common length), computed
        only from the first window whose inputs differ from those of the slot's last call.
        `slot` must hold everything besides the columns that `compute` reads."""
        size = len(columns[0])
        if not _enabled[0]:
            return [compute(t) for t in range(size)]
        held = self._memo.get(slot)
        start = 0
        out: list[T]
        if held is not _MISSING:
            start = _common_prefix(held[0], columns, min(size, len(held[1])))
            out = held[1][:start]
            out.extend(compute(t) for t in range(start, size))
        else:
            out = [compute(t) for t in range(size)]
        self._memo.put(slot, (tuple(tuple(c) for c in columns), out))
        return out[:]


def _common_prefix(
    before: Sequence[tuple[Any, ...]], columns: Sequence[Sequence[Any]], length: int
) -> int:
    """How many leading windows hold the same inputs in `before` and `columns` (elements
    compared as tuples and dict keys compare them: identical or equal, so a NaN equals only
    itself, and 0.0 equals -0.0, which no input here turns into a different result)."""
    if len(before) != len(columns):
        return 0
    for old, new in zip(before, columns, strict=True):
        if length == 0:
            return 0
        head = tuple(new[:length])
        if old[:length] == head:
            continue
        length = next(
            t for t, (a, b) in enumerate(zip(old, head, strict=False)) if not (a is b or a == b)
        )
    return length


def common_length(before: Sequence[Any], after: Sequence[Any]) -> int:
    """How many leading entries `before` and `after` share (identical or equal, as lists
    compare them), found by C-speed slice comparisons (bisection once they differ)."""
    size = min(len(before), len(after))
    if before[:size] == after[:size]:
        return size
    low, high = 0, size  # before[:low] == after[:low], before[:high] != after[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if before[low:middle] == after[low:middle]:
            low = middle
        else:
            high = middle
    return low


def reusing() -> bool:
    """Whether results may be reused."""
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
