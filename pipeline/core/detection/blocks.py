"""Blocks of a fold's history, shared by every saved state that holds them (`resume`).

A unit's history grows one window at a time, and every state a fold saves (`resume.
Checkpoints`) holds the inputs it folded and the outputs it wrote up to its window. Held whole,
that is entries x history. Held as chains of `BLOCK`-window blocks, a state shares the blocks of
the history before it with every other state of the same fold, and adds only its short rest:
`block_chain` interns the inputs' blocks (equal inputs, the very same chain, compared by
identity and still exact), and `Written` copies output lists sharing the blocks of the copy it
grew from.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any
from weakref import WeakValueDictionary

BLOCK = 16
"""Windows in one shared block of a saved state's key (`Checkpoints`)."""


class Block:
    """One `BLOCK` of every input column after the prefix `before`: a link of a chain that is
    a fold's inputs up to the block's end. Blocks are interned (`_INTERNED`): equal inputs give
    the very same chain, so keys compare and hash a chain by identity, which is exact."""

    __slots__ = ("__weakref__", "link")

    def __init__(self, link: tuple[Block | None, tuple[Any, ...]]) -> None:
        self.link = link


# Live blocks by (the chain before, the block's inputs): a block lives while a key holds it.
_INTERNED: WeakValueDictionary[tuple[Block | None, tuple[Any, ...]], Block] = WeakValueDictionary()


def block_chain(columns: Sequence[Sequence[Any] | None], size: int) -> list[Block | None]:
    """The interned chains of `columns`' prefixes: item i covers windows 0..i*BLOCK-1."""
    links: list[Block | None] = [None]
    block: Block | None = None
    for end in range(BLOCK, size + 1, BLOCK):
        link = (block, tuple(None if c is None else tuple(c[end - BLOCK : end]) for c in columns))
        block = _INTERNED.get(link)
        if block is None:
            block = _INTERNED[link] = Block(link)
        links.append(block)
    return links


class Written:
    """A copy of the first `length` entries of a fold's output lists, held as whole `BLOCK`s
    linked to the copy it grew from (shared, not copied again) and the short rest. For lists a
    fold writes only at their own window (or appends to): their entries before a saved window
    do not change after it, so a state saved later shares the earlier one's blocks, and what a
    state adds does not grow with the history."""

    __slots__ = ("blocks", "end", "length", "rest")
    blocks: tuple[Any, ...] | None  # (the blocks before, this block: a tuple per list)
    end: int  # where the blocks end
    length: int
    rest: tuple[tuple[Any, ...], ...]  # each list's entries from `end` to `length`

    def __init__(
        self,
        lists: Sequence[Sequence[Any]],
        length: int,
        since: Written | None,
        changing: bool = False,
    ) -> None:
        """Copy `lists[i][:length]`; `since` (or None) a copy of the same lists at most
        `length` long, whose entries before its `length` are unchanged since it was taken, or,
        if `changing` (a later window may have changed an earlier one), shared only as far as
        its blocks still hold what the lists do (compared)."""
        blocks: tuple[Any, ...] | None = None
        end = 0
        if since is not None and since.length <= length:
            blocks, end = since.blocks, since.end
            if changing:
                blocks, end = _still_held(blocks, lists)
        while end + BLOCK <= length:
            blocks = (blocks, tuple(tuple(c[end : end + BLOCK]) for c in lists))
            end += BLOCK
        self.blocks, self.end, self.length = blocks, end, length
        self.rest = tuple(tuple(c[end:length]) for c in lists)

    def restore(self, lists: Sequence[list[Any]]) -> None:
        """Put the copy back: `lists[i][:length]` becomes what it was when copied."""
        parts = [self.rest]
        blocks = self.blocks
        while blocks is not None:
            blocks, block = blocks
            parts.append(block)
        parts.reverse()
        for i, column in enumerate(lists):
            column[: self.length] = chain.from_iterable(part[i] for part in parts)


def _still_held(
    blocks: tuple[Any, ...] | None, lists: Sequence[Sequence[Any]]
) -> tuple[tuple[Any, ...] | None, int]:
    """The longest leading part of the chain `blocks` (as `Written.blocks`) whose every block
    holds what `lists` do there, and where it ends."""
    links = []
    while blocks is not None:
        links.append(blocks)
        blocks = blocks[0]
    links.reverse()  # links[i] ends with block i
    held: tuple[Any, ...] | None = None
    for i, link in enumerate(links):
        start = i * BLOCK
        if any(
            list(part) != c[start : start + BLOCK] for part, c in zip(link[1], lists, strict=True)
        ):
            return held, start
        held = link
    return held, len(links) * BLOCK
