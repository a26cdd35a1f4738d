"""What the fold stores of `detection.resume` hold per saved state does not grow with a unit's
history: keys share one chain of the inputs' whole blocks, saved output lists share the blocks
of the state they grew from, and either still gives back exactly what was saved."""

from __future__ import annotations

import gc
import math
import tracemalloc
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.blocks import BLOCK, Written
from pipeline.core.detection.resume import KEEP, Checkpoints, from_scratch
from pipeline.core.detection.stats import monitor

STATES = 24  # saved states of one fold: one per window over the latest `KEEP` windows


def held_bytes(make: Callable[[], object]) -> int:
    """Bytes still allocated once `make` has returned (what it left in a store or returned)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = make()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


def fold_states(history: int) -> int:
    """Bytes a store holds for `STATES` states of one fold over `history` windows, saved as a
    fold grown window by window saves them (each call resumes, then saves its end)."""
    columns = (
        [t % 7 for t in range(history + STATES)],
        [float(t % 5) for t in range(history + STATES)],
    )

    def save_all() -> Checkpoints:
        store = Checkpoints("monitor")
        for size in range(history + 1, history + STATES + 1):
            grown = (columns[0][:size], columns[1][:size])
            store.resume("head", grown, size)
            store.save("head", grown, size, "state")
        return store

    return held_bytes(save_all)


def test_a_saved_states_key_does_not_grow_with_the_history_of_its_fold() -> None:
    """Keys holding their whole prefix take 8 bytes per window per column per state (16 per
    window per state here); the shared chain is held once for all the fold's states."""
    assert STATES <= KEEP
    short, long = fold_states(400), fold_states(2_000)
    per_window_per_state = (long - short) / 1_600 / STATES
    assert per_window_per_state < 4


def test_written_lists_share_the_blocks_of_the_state_they_grew_from() -> None:
    history = 2_000
    lists = (
        [float(t) for t in range(history + 2 * BLOCK)],
        [t % 3 for t in range(history + 2 * BLOCK)],
    )
    first = Written(lists, history, None)

    def grown() -> list[Written]:
        states, since = [], first
        for length in range(history + 1, history + 2 * BLOCK):
            since = Written(lists, length, since)
            states.append(since)
        return states

    # Each later state adds at most a block per list, not a copy of the whole history.
    assert held_bytes(grown) < 2 * BLOCK * 400


def monitor_states(history: int) -> int:
    """Bytes `stats.monitor`'s store holds after a unit's `history` windows and `STATES` more,
    judged one window at a time as they close (the results themselves not kept)."""
    rules = DetectionConfig().rules
    counts = [(t * 7) % 11 + 3 for t in range(history + STATES)]

    def grow() -> None:
        for size in range(history, history + STATES):
            trials = [count * 4 + 5 for count in counts[:size]]
            scales = [float(n) for n in trials]
            monitor(counts[:size], scales, trials, None, rules, [0.0] * size, [False] * size)

    with from_scratch():  # empties every store
        pass
    return held_bytes(grow)


def test_a_monitors_saved_states_share_its_history() -> None:
    """About 30 states of one fold are held (a saved end per call, and every 4th window). Each
    holding its own copy of the history took 143 bytes per window per state; held once, the
    outputs' values and the shared chains come to about 19."""
    short, long = monitor_states(200), monitor_states(800)
    per_window_per_state = (long - short) / 600 / 30
    assert per_window_per_state < 40  # a copy of the 7 input columns alone would take 56


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.sampled_from([0, 1, 2, -1, math.nan]), min_size=1, max_size=80),
    lengths=st.lists(st.integers(0, 80), min_size=1, max_size=6),
    edits=st.lists(st.tuples(st.integers(0, 79), st.sampled_from([5, 6])), max_size=4),
)
def test_written_gives_back_exactly_what_the_lists_held(
    values: list[float], lengths: list[int], edits: list[tuple[int, int]]
) -> None:
    """Copies grown one from another, with earlier entries changed between them (`changing`),
    restore the entries each copy was taken of, whatever the copy it grew from held."""
    lists = (list(values), [repr(v) for v in values])
    since: Written | None = None
    for step, length in enumerate(sorted(min(n, len(values)) for n in lengths)):
        for at, value in edits[step : step + 1]:
            if at < len(values):
                lists[0][at], lists[1][at] = value, repr(value)
        copy = Written(lists, length, since, changing=True)
        expected = ([*lists[0][:length]], lists[1][:length])
        restored: tuple[list[object], list[object]] = ([None] * length, ["x"] * (length + 2))
        copy.restore(restored)
        assert restored[0] == expected[0] or repr(restored[0]) == repr(expected[0])
        assert restored[1] == [*expected[1], "x", "x"]
        since = copy


def test_saved_states_of_long_folds_are_told_apart_when_an_early_window_differs() -> None:
    """Keys compare the shared chain's blocks, not only their hashes: (-1,) and (-2,) hash
    alike in CPython, here in a fold's first window, many blocks before the saved length."""
    size = 5 * BLOCK + 3
    ones, twos = [-1] + [0] * (size - 1), [-2] + [0] * (size - 1)
    store = Checkpoints("monitor")
    store.resume("head", (ones,), size)
    store.save("head", (ones,), size, "folded -1")
    assert store.resume("head", (twos,), size) == (0, None)
    store.save("head", (twos,), size, "folded -2")
    assert store.resume("head", (list(ones),), size) == (size, "folded -1")
    assert store.resume("head", (list(twos),), size) == (size, "folded -2")
    assert store.resume("other head", (ones,), size) == (0, None)
