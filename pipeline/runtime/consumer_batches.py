"""Raw batches from faust's own Kafka consumer, bypassing its per-message stream path.

faust stays the worker's framework: the app, its consumer group membership and rebalances, its
timers and its producer. What it no longer does is hand every message, one by one, through its
conductor and stream queues to an agent (`Consumer._drain_messages` awaits a task race per
message, then the agent acknowledges each): measured, that path alone capped an empty agent at a
few thousand messages/s (docs/worker.md, "Measured"). Instead:

- `BatchConsumer` is faust's aiokafka consumer with an idle drainer, so faust's fetcher never
  takes records; `BatchApp` is a faust app that uses it (pipeline/runtime/batch_consumer.py).
- `BatchSource.fetch` takes what the aiokafka consumer faust manages has fetched (its
  `getmany`) and hands it out in arrival order across partitions (`ArrivalOrder`,
  pipeline/runtime/arrival_order.py): up to `broker_max_poll_records`, waiting up to `timeout`
  for the first. The caller processes the batch and `commit`s its offsets explicitly, only
  after everything it produced is stored.

Rebalancing (eager, as aiokafka does it): faust's revoke stops the flow, then signals
`on_partitions_revoked`; the worker's handler waits for the batch in flight (stored and
committed, or abandoned unacknowledged) and calls `revoked()`. A batch fetched before that
point is no longer `current` and is `drop`ped: its records are not processed, and the
partitions are put back to their committed offsets (faust's recovery does that after every
assignment; `drop` does it itself when the records came after the recovery had already sought).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from typing import Any

from pipeline.core.engine import BatchResult, RawMessage
from pipeline.kafka_origin import kafka_origin
from pipeline.runtime.arrival_order import ArrivalOrder
from pipeline.runtime.misrouted import MisroutedEvents

log = logging.getLogger("pipeline.worker")

TopicPartition = tuple[str, int]
_TOPIC_PARTITION = attrgetter("topic", "partition")
_KEY = attrgetter("key")
_ORIGIN = attrgetter("origin")

COMMIT_TIMEOUT_SECONDS = 5.0
"""How long a commit may wait. With Kafka away aiokafka retries a commit until the group's
coordinator is back, however long that is; its caller holds the flow's lock meanwhile, and a
stop waits for that lock (a stop during an outage hung until killed)."""
UNANSWERED_COMMIT_TIMEOUT_SECONDS = 1.0
"""How long a commit waits while the one before went unanswered: a stop commits up to three
times (the batch's, the drain's, the revocation's), 5 s each would crowd its 30 s."""


@dataclass(slots=True)
class Batch:
    """Records fetched in one call, with the group generation and revocation epoch they were
    fetched in (a batch is only processed if both are unchanged), and whether a backlog was
    waiting behind them."""

    records: list[Any]
    generation: int
    epoch: int
    behind: bool = False
    """Whether at least another batch's worth of records was waiting (fetched and held, or on
    the broker beyond what was fetched) when it was fetched: a backlog, even in a batch not
    full."""
    ranges: dict[TopicPartition, tuple[int, int]] = field(default_factory=dict)
    by_topic: dict[str, int] = field(default_factory=dict)
    _origins: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A fetch's records come partition by partition: one pass over each run of them.
        ranges, by_topic = self.ranges, self.by_topic
        for tp, run in groupby(self.records, _TOPIC_PARTITION):
            offsets = [r.offset for r in run]
            low, high = min(offsets), max(offsets)
            known = ranges.get(tp)
            ranges[tp] = (low, high) if known is None else (min(low, known[0]), max(high, known[1]))
            by_topic[tp[0]] = by_topic.get(tp[0], 0) + len(offsets)

    def messages(self) -> tuple[list[RawMessage], dict[str, int], str]:
        """The step's input: raw messages with origins `topic/partition@offset`, the count per
        topic, and a deduplication token naming the exact offsets."""
        new = tuple.__new__  # RawMessage's own constructor is a Python call per message
        messages = [
            new(RawMessage, (r.value or b"", kafka_origin(r.topic, r.partition, r.offset), None))
            for r in self.records
        ]
        token = ",".join(f"{t}/{p}@{lo}-{hi}" for (t, p), (lo, hi) in sorted(self.ranges.items()))
        self._origins = list(map(_ORIGIN, messages))
        return messages, dict(self.by_topic), token

    def keys_by_origin(self) -> dict[str, bytes | None]:
        """Each record's Kafka key by the origin `messages` (called first) gave it."""
        return dict(zip(self._origins, map(_KEY, self.records), strict=True))

    def next_offsets(self) -> dict[TopicPartition, int]:
        """What to commit once the batch is stored: the offset after each partition's last."""
        return {tp: high + 1 for tp, (_, high) in self.ranges.items()}


class BatchSource:
    """Batches from `app.consumer` (a `BatchConsumer`) for the partitions of `topics`."""

    def __init__(
        self,
        app: Any,
        topics: Sequence[str],
        limit: int,
        misrouted: MisroutedEvents | None = None,
    ) -> None:
        """`limit`: the most records in one batch (the app's `broker_max_poll_records`);
        `misrouted` checks each processed batch's accepted events against their keys and
        topics."""
        self._app = app
        self._misrouted = misrouted
        self._limit = max(1, limit)
        self._topics = frozenset(topics)
        self._epoch = 0
        self._order = ArrivalOrder()
        self._first_fetched: dict[TopicPartition, int] = {}  # since the last seek (`lag`)
        self._uncommitted: dict[TopicPartition, int] = {}
        self._unanswered = False  # the last commit timed out

    @property
    def _consumer(self) -> Any:
        return self._app.consumer

    def assigned(self) -> frozenset[TopicPartition]:
        try:
            assignment = self._consumer.assignment()
        except Exception:  # not started yet
            return frozenset()
        return frozenset((tp.topic, tp.partition) for tp in assignment if tp.topic in self._topics)

    async def fetch(self, timeout: float) -> Batch | None:
        """The next records in arrival order (`ArrivalOrder`): at most the app's
        `broker_max_poll_records`, waiting up to `timeout` seconds for a first one, and for a
        partition with a backlog whose next records are not fetched yet (after `timeout`,
        what there is goes). None when there were none or the flow is stopped (a rebalance)."""
        consumer = self._consumer
        active = {tp for tp in consumer._get_active_partitions() if tp.topic in self._topics}
        if not consumer.flow_active or not active:
            await self._app.sleep(min(timeout, 0.2))
            return None
        generation, epoch = self._app.consumer_generation_id, self._epoch
        limit = self._limit
        order = self._order
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        out: list[Any] = []
        while True:
            remaining = deadline - loop.time()
            empty = {tp for tp in active if not order.holds(tp)}
            if empty:  # wait only while there is nothing at all to hand out
                idle = not out and not order.held(active)
                wait = max(0.0, remaining) if idle else 0.0
                self._hold(await consumer._getmany(active_partitions=empty, timeout=wait))
            lagging = consumer.lagging(active)
            taken = order.take(limit - len(out), active, lagging, force=remaining <= 0)
            out.extend(taken)
            if len(out) >= limit or (not taken and (out or remaining <= 0)):
                break
            if not taken:  # a partition with a backlog has nothing fetched yet: wait for it
                blocked = {tp for tp in lagging if tp in active and not order.holds(tp)}
                if blocked:
                    self._hold(
                        await consumer._getmany(active_partitions=blocked, timeout=remaining)
                    )
                elif remaining > 0 and not order.held(active):
                    self._hold(await consumer._getmany(active_partitions=active, timeout=remaining))
                    if not order.held(active):
                        break
        if not out:
            return None
        # another batch's worth waiting (a few records always may be, at any rate)
        behind = order.held(active) + consumer.waiting(active) >= limit
        return Batch(out, generation, epoch, behind)

    def _hold(self, fetched: dict[Any, list[Any]]) -> None:
        for tp, records in fetched.items():
            if records:
                self._first_fetched.setdefault((tp.topic, tp.partition), records[0].offset)
        self._order.add(fetched)

    def _forget_fetched(self) -> None:
        self._order.clear()
        self._first_fetched.clear()

    def current(self, batch: Batch) -> bool:
        """Whether `batch` may still be processed: no revocation since it was fetched, and
        every partition in it still assigned."""
        return (
            batch.epoch == self._epoch
            and batch.generation == self._app.consumer_generation_id
            and self._consumer.flow_active
            and set(batch.ranges) <= self.assigned()
        )

    async def drop(self, batch: Batch) -> None:
        """Leave `batch` unprocessed: its partitions go back to their committed offsets (now,
        unless a rebalance is under way, whose recovery seeks every partition itself)."""
        log.info(
            "%d messages fetched before a rebalance left unprocessed (read again from the "
            "committed offsets)",
            len(batch.records),
        )
        self._forget_fetched()  # fetched after it: read again from the committed offsets too
        if self._consumer.flow_active and not self._app.should_stop:
            await self._consumer.perform_seek()

    def revoked(self) -> None:
        """Called once the batch in flight is finished: whatever was fetched before is stale."""
        self._epoch += 1
        self._forget_fetched()

    def processed(self, batch: Batch, result: BatchResult | None = None) -> None:
        """`batch` is stored; `result` is what the step made of it."""
        self._uncommitted.update(batch.next_offsets())
        if self._misrouted is not None and result is not None and result.accepted:
            self._misrouted.check(batch.keys_by_origin(), result.accepted)

    async def commit(self, timeout: float | None = None) -> bool:
        """Commit the offsets after the processed batches (True when committed or nothing to
        commit), waiting `timeout` seconds at most (`COMMIT_TIMEOUT_SECONDS`). A failure
        leaves them pending: retried with the next commit, or the messages are delivered again
        (at least once; the sink is idempotent). A commit given up on may still land later: it
        commits only what was stored. After one went unanswered the next wait only
        `UNANSWERED_COMMIT_TIMEOUT_SECONDS`, until one is answered."""
        pending = dict(self._uncommitted)
        if not pending:
            return True
        timeout = COMMIT_TIMEOUT_SECONDS if timeout is None else timeout
        if self._unanswered:
            timeout = min(timeout, UNANSWERED_COMMIT_TIMEOUT_SECONDS)
        assigned = self.assigned()
        offsets = {
            self._consumer._new_topicpartition(t, p): offset
            for (t, p), offset in pending.items()
            if (t, p) in assigned
        }
        try:
            done = bool(offsets) and bool(
                await asyncio.wait_for(self._consumer._commit(offsets), timeout)
            )
        except TimeoutError:
            self._unanswered = True
            log.warning(
                "offset commit not acknowledged in %.0fs (Kafka unreachable?): retried with "
                "the next",
                timeout,
            )
            return False
        except Exception as exc:
            log.warning("offset commit failed (retried with the next): %s", exc)
            return False
        self._unanswered = False
        for tp, offset in pending.items():
            if tp not in assigned or (done and self._uncommitted.get(tp) == offset):
                del self._uncommitted[tp]
        return done

    async def lag(self, next_offset: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Lag per assigned partition: the broker's end offset minus the next offset to
        process (`next_offset`; for a partition not processed since start-up, its first record
        fetched since the last seek, else its fetch position: the position is past what was
        fetched ahead and held, which is not processed yet)."""
        consumer = self._consumer
        assignment = [tp for tp in consumer.assignment() if tp.topic in self._topics]
        if not assignment:
            return {}
        highs = await consumer.highwaters(*assignment)
        next_offset = {**self._first_fetched, **next_offset}
        unknown = [tp for tp in assignment if (tp.topic, tp.partition) not in next_offset]
        fetched = await asyncio.gather(*(consumer.position(tp) for tp in unknown))
        positions = dict(zip(unknown, fetched, strict=True))
        lag: dict[TopicPartition, int] = {}
        for tp in assignment:
            high = highs.get(tp)
            key = (tp.topic, tp.partition)
            position = next_offset.get(key, positions.get(tp))
            if high is not None and position is not None:
                lag[key] = int(high) - int(position)
        return lag
