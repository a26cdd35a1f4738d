"""Records held per partition, handed out in arrival order (pipeline/runtime/arrival_order.py)."""

from __future__ import annotations

from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from pipeline.runtime.arrival_order import ArrivalOrder


class Rec(NamedTuple):
    tp: str
    offset: int
    timestamp: int


def recs(tp: str, *stamps: int, first: int = 0) -> list[Rec]:
    return [Rec(tp, first + i, ts) for i, ts in enumerate(stamps)]


def test_merged_by_timestamp_up_to_the_last_record_held_of_a_partition_behind() -> None:
    order = ArrivalOrder()
    order.add({"a": recs("a", 1, 4, 9), "b": recs("b", 2, 3, 5)})
    taken = order.take(10, {"a", "b"}, lagging={"b"})
    assert [r.timestamp for r in taken] == [1, 2, 3, 4, 5]
    assert [r.tp for r in taken] == ["a", "b", "b", "a", "b"]
    assert order.held() == 1 and order.holds("a") and not order.holds("b")
    assert order.take(10, {"a", "b"}, lagging={"b"}) == []  # b may bring something before 9
    assert order.take(10, {"a", "b"}, lagging={"b"}, force=True) == [Rec("a", 2, 9)]


def test_nothing_held_back_once_caught_up_and_only_active_partitions_handed_out() -> None:
    order = ArrivalOrder()
    order.add({"a": recs("a", 7, 8), "b": recs("b", 1)})
    assert order.take(10, {"a"}, lagging=set()) == recs("a", 7, 8)
    assert order.held(["a"]) == 0 and order.held(["b"]) == 1
    order.clear()
    assert order.held() == 0


def test_ties_go_in_partition_order_and_falling_timestamps_never_stall() -> None:
    order = ArrivalOrder()
    order.add({"a": recs("a", 5, 5), "b": recs("b", 5)})
    assert [r.tp for r in order.take(10, {"a", "b"}, lagging=set())] == ["a", "a", "b"]
    order.add({"a": recs("a", 10, 3, first=2)})  # a producer's clock went back
    assert [r.offset for r in order.take(10, {"a"}, lagging={"a"})] == [2, 3]


@given(
    st.dictionaries(
        st.sampled_from("abcd"),
        st.lists(st.integers(0, 50), min_size=1, max_size=20),
        min_size=1,
    ),
    st.integers(1, 7),
    st.sets(st.sampled_from("abcd")),
)
def test_every_record_comes_out_once_each_partition_in_offset_order(
    stamps: dict[str, list[int]], limit: int, lagging: set[str]
) -> None:
    order = ArrivalOrder()
    order.add({tp: recs(tp, *ts) for tp, ts in stamps.items()})
    out: list[Rec] = []
    for _ in range(200):
        taken = order.take(limit, set(stamps), lagging)
        assert len(taken) <= limit
        if not taken:
            lagging = set()  # caught up: the rest goes
            taken = order.take(limit, set(stamps), lagging)
        if not taken:
            break
        out.extend(taken)
    assert order.held() == 0
    for tp, ts in stamps.items():
        assert [r for r in out if r.tp == tp] == recs(tp, *ts)
    if all(ts == sorted(ts) for ts in stamps.values()):
        assert [r.timestamp for r in out] == sorted(r.timestamp for r in out)
