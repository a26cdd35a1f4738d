"""A backlog handed out in the order it arrived in Kafka, across partitions and topics.

Kafka's consumer returns what it fetched partition by partition: under a backlog a batch of
5,000 is the first partitions' next megabyte (one topic, say incident reports, weeks or months
of them), the other partitions' records coming batches later. The engine's watermark is the
latest event time seen, so it would jump to the end of the first topic, and every event of
the others arriving afterwards would be late: asked of ClickHouse one by one (its window was
forgotten), its window reopened and judged again, batch after batch. Measured on the worker
benchmark, 47,000 of 50,272 events were late that way (docs/worker.md, "Catch-up in arrival
order").

So the records fetched ahead are held per partition here and handed out merged by their Kafka
timestamp (when they were appended, or produced): a backlog is processed in the order it was
published, as a worker that had kept up would have seen it. A record is only handed out once
no partition that still has records on the broker could hold an earlier one: each such
partition must have something held, and nothing later than the last record held of any of them
is handed out (`take`). A partition that has caught up (nothing more on the broker when last
fetched) does not hold anything back, so once caught up nothing waits: each batch is whatever
arrived.

Each partition's records stay in offset order (a merge only interleaves partitions), so a batch
still covers, for each partition, the offsets after the last batch's: committing a batch's
highest offsets commits exactly what was processed. Timestamps only choose the interleaving;
nothing depends on them for correctness (a late event is still handled exactly, only slower).
Pure: no Kafka here (pipeline/runtime/consumer_batches.py feeds it).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any


class ArrivalOrder:
    """Records fetched but not yet handed out, per partition (each in offset order)."""

    def __init__(self) -> None:
        self._held: dict[Hashable, deque[Any]] = {}

    def add(self, fetched: Mapping[Hashable, Sequence[Any]]) -> None:
        """Records just fetched, per partition, each list in offset order and following what
        is held of that partition."""
        for tp, records in fetched.items():
            if records:
                held = self._held.get(tp)
                if held is None:
                    self._held[tp] = deque(records)
                else:
                    held.extend(records)

    def holds(self, tp: Hashable) -> bool:
        return bool(self._held.get(tp))

    def held(self, partitions: Iterable[Hashable] | None = None) -> int:
        """How many records are held (of `partitions`, or of all)."""
        if partitions is None:
            return sum(len(q) for q in self._held.values())
        return sum(len(self._held.get(tp, ())) for tp in partitions)

    def clear(self) -> None:
        """Forget everything held (a revocation, or the partitions were sought back)."""
        self._held.clear()

    def take(
        self,
        limit: int,
        active: Collection[Hashable],
        lagging: Collection[Hashable],
        *,
        force: bool = False,
    ) -> list[Any]:
        """Up to `limit` held records of the `active` partitions, oldest timestamp first (ties
        in partition order), none later than the last record held of any `lagging` partition
        (one with more records on the broker than fetched), so something is handed out
        whenever anything is held and nothing is held back. A lagging partition that holds
        nothing holds everything back, unless `force` (waited long enough: hand out what
        there is)."""
        bound: int | None = None
        for tp in lagging:
            if tp not in active:
                continue
            held = self._held.get(tp)
            if not held:
                if not force:
                    return []
                continue
            # its own first record never waits (timestamps need not rise within a partition)
            last = max(held[0].timestamp, held[-1].timestamp)
            if bound is None or last < bound:
                bound = last
        queues = [(tp, q) for tp, q in self._held.items() if q and tp in active]
        heap = [(q[0].timestamp, i) for i, (_, q) in enumerate(queues)]
        heapq.heapify(heap)
        out: list[Any] = []
        append = out.append
        while heap and len(out) < limit:
            stamp, i = heap[0]
            if bound is not None and stamp > bound:
                break
            queue = queues[i][1]
            append(queue.popleft())
            if queue:
                heapq.heapreplace(heap, (queue[0].timestamp, i))
            else:
                heapq.heappop(heap)
        return out
