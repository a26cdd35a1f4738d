"""The worker's raw batches (pipeline/runtime/consumer_batches.py) against a fake consumer:
which batches may be processed, what is committed, and what a dropped batch does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest

from pipeline.core.decode import RawMessage
from pipeline.kafka_origin import input_partition
from pipeline.runtime.batch_consumer import FETCH_MAX_WAIT_MS, BatchApp, BatchConsumerThread
from pipeline.runtime.consumer_batches import Batch, BatchSource
from pipeline.runtime.worker_app import faust_app
from pipeline.settings import Settings


class TP(NamedTuple):
    topic: str
    partition: int


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp: int = 0


@dataclass
class FakeConsumer:
    assigned: set[TP]
    flow_active: bool = True
    fail_commit: bool = False
    hang_commit: bool = False  # Kafka away: aiokafka retries until the coordinator is back
    fetched: dict[TP, list[Record]] = field(default_factory=dict)
    commits: list[dict[TP, int]] = field(default_factory=list)
    seeks: int = 0
    behind: set[TP] = field(default_factory=set)  # more on the broker than fetched
    asked: list[set[TP]] = field(default_factory=list)
    on_broker: dict[TP, int] = field(default_factory=dict)  # beyond what was fetched
    ends: dict[TP, int] = field(default_factory=dict)  # each partition's end offset
    positions: dict[TP, int] = field(default_factory=dict)  # after what _getmany returned

    def assignment(self) -> set[TP]:
        return set(self.assigned)

    def _get_active_partitions(self) -> set[TP]:
        return set(self.assigned)

    def _new_topicpartition(self, topic: str, partition: int) -> TP:
        return TP(topic, partition)

    async def _getmany(self, active_partitions: set[TP], timeout: float) -> dict[TP, list[Record]]:
        self.asked.append(set(active_partitions))
        taken = {tp: self.fetched.pop(tp) for tp in list(self.fetched) if tp in active_partitions}
        for tp, got in taken.items():
            self.positions[tp] = got[-1].offset + 1
        if not taken:
            await asyncio.sleep(min(timeout, 0.01))  # as if waiting for the broker
        return taken

    def lagging(self, partitions: set[TP]) -> set[TP]:
        return {tp for tp in partitions if tp in self.behind}

    def waiting(self, partitions: set[TP]) -> int:
        return sum(self.on_broker.get(tp, 0) for tp in partitions)

    async def _commit(self, offsets: dict[TP, int]) -> bool:
        if self.fail_commit:
            raise RuntimeError("coordinator not available")
        if self.hang_commit:
            await asyncio.Event().wait()
        self.commits.append(dict(offsets))
        return True

    async def perform_seek(self) -> None:
        self.seeks += 1

    async def highwaters(self, *partitions: TP) -> dict[TP, int]:
        return {tp: self.ends[tp] for tp in partitions if tp in self.ends}

    async def position(self, tp: TP) -> int:
        return self.positions.get(tp, 0)


@dataclass
class FakeApp:
    consumer: FakeConsumer
    consumer_generation_id: int = 1
    should_stop: bool = False

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def source(*tps: TP, limit: int = 100) -> tuple[BatchSource, FakeApp]:
    app = FakeApp(FakeConsumer(set(tps)))
    return BatchSource(app, ["t.a", "t.b"], limit), app


def records(topic: str, partition: int, *offsets: int) -> list[Record]:
    return [Record(topic, partition, o, f"v{o}".encode()) for o in offsets]


def stamped(topic: str, partition: int, first: int, *stamps: int) -> list[Record]:
    """Records from offset `first` on, appended to Kafka at `stamps` (ms)."""
    return [
        Record(topic, partition, first + i, f"{topic}{partition}@{first + i}".encode(), ts)
        for i, ts in enumerate(stamps)
    ]


def origins(batch: Batch | None) -> list[str]:
    assert batch is not None
    return [m.origin for m in batch.messages()[0]]


def test_a_batch_names_its_messages_offsets_and_token() -> None:
    batch = Batch(records("t.a", 0, 5, 6, 7) + records("t.b", 1, 3), generation=1, epoch=0)
    messages, consumed, token = batch.messages()
    assert [m.origin for m in messages] == ["t.a/0@5", "t.a/0@6", "t.a/0@7", "t.b/1@3"]
    assert [m.value for m in messages] == [b"v5", b"v6", b"v7", b"v3"]
    assert consumed == {"t.a": 3, "t.b": 1}
    assert token == "t.a/0@5-7,t.b/1@3-3"
    assert batch.next_offsets() == {("t.a", 0): 8, ("t.b", 1): 4}
    # what the store records as an organisation's input partition (kafka_origin.py)
    assert [input_partition(m.origin) for m in messages] == [("t.a", 0)] * 3 + [("t.b", 1)]
    assert input_partition("events/day-1.jsonl:12") is None  # a file's line: no partition


def test_a_batch_in_any_order_has_the_same_offsets_and_counts() -> None:
    grouped = records("t.a", 0, 5, 6, 7) + records("t.a", 1, 2) + records("t.b", 0, 9, 10)
    interleaved = [grouped[i] for i in (3, 5, 0, 4, 2, 1)]  # partitions mixed, offsets unsorted
    for batch in (Batch(grouped, 1, 0), Batch(interleaved, 1, 0)):
        messages, consumed, token = batch.messages()
        assert sorted(m.origin for m in messages) == sorted(
            f"{r.topic}/{r.partition}@{r.offset}" for r in grouped
        )
        assert all(type(m) is RawMessage and m.size is None for m in messages)
        assert consumed == {"t.a": 4, "t.b": 2}
        assert token == "t.a/0@5-7,t.a/1@2-2,t.b/0@9-10"
        assert batch.next_offsets() == {("t.a", 0): 8, ("t.a", 1): 3, ("t.b", 0): 11}


def test_fetch_takes_only_the_input_topics_and_nothing_while_the_flow_is_stopped() -> None:
    src, app = source(TP("t.a", 0), TP("other", 0))
    app.consumer.fetched = {TP("t.a", 0): records("t.a", 0, 1, 2)}
    batch = run(src.fetch(0.1))
    assert batch is not None and [r.offset for r in batch.records] == [1, 2]
    app.consumer.fetched = {TP("t.a", 0): records("t.a", 0, 3)}
    app.consumer.flow_active = False
    assert run(src.fetch(0.1)) is None
    assert app.consumer.fetched  # not taken from the consumer


def test_a_batch_fetched_before_a_revocation_or_generation_change_is_not_current() -> None:
    src, app = source(TP("t.a", 0), TP("t.a", 1))
    fresh = Batch(records("t.a", 0, 1), generation=1, epoch=0)
    assert src.current(fresh)
    src.revoked()
    assert not src.current(fresh)
    assert src.current(Batch(records("t.a", 0, 1), generation=1, epoch=1))
    app.consumer_generation_id = 2
    assert not src.current(Batch(records("t.a", 0, 1), generation=1, epoch=1))
    unassigned = Batch(records("t.a", 2, 1), generation=2, epoch=1)
    assert not src.current(unassigned)
    app.consumer.flow_active = False
    assert not src.current(Batch(records("t.a", 0, 1), generation=2, epoch=1))


def test_dropping_seeks_back_to_committed_unless_a_rebalance_will() -> None:
    src, app = source(TP("t.a", 0))
    batch = Batch(records("t.a", 0, 1), generation=1, epoch=0)
    app.consumer.flow_active = False  # a rebalance is under way: its recovery seeks
    run(src.drop(batch))
    assert app.consumer.seeks == 0
    app.consumer.flow_active = True  # it is over: the records came after its seek
    run(src.drop(batch))
    assert app.consumer.seeks == 1


def test_commit_only_after_processing_keeps_failures_pending_and_forgets_revoked() -> None:
    src, app = source(TP("t.a", 0), TP("t.b", 1))
    assert run(src.commit())  # nothing processed: nothing to commit
    assert app.consumer.commits == []
    src.processed(Batch(records("t.a", 0, 4, 5), generation=1, epoch=0))
    app.consumer.fail_commit = True
    assert not run(src.commit())
    app.consumer.fail_commit = False
    src.processed(Batch(records("t.b", 1, 9), generation=1, epoch=0))
    assert run(src.commit())
    assert app.consumer.commits == [{TP("t.a", 0): 6, TP("t.b", 1): 10}]
    assert run(src.commit())  # committed: not again
    assert len(app.consumer.commits) == 1
    src.processed(Batch(records("t.a", 0, 6), generation=1, epoch=0))
    app.consumer.assigned = {TP("t.b", 1)}  # revoked before the commit: the new owner reads it
    run(src.commit())
    assert len(app.consumer.commits) == 1
    app.consumer.assigned = {TP("t.a", 0), TP("t.b", 1)}
    assert run(src.commit())
    assert len(app.consumer.commits) == 1


def test_a_commit_kafka_never_answers_is_given_up_and_stays_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With Kafka down aiokafka's commit waits for the coordinator for ever; its caller holds
    the flow's lock, which a stop waits for (a stop in an outage hung until killed). Once one
    went unanswered the next wait briefly: a stop commits up to three times."""
    monkeypatch.setattr("pipeline.runtime.consumer_batches.COMMIT_TIMEOUT_SECONDS", 3600.0)
    monkeypatch.setattr("pipeline.runtime.consumer_batches.UNANSWERED_COMMIT_TIMEOUT_SECONDS", 0.05)
    src, app = source(TP("t.a", 0))
    src.processed(Batch(records("t.a", 0, 4), generation=1, epoch=0))
    app.consumer.hang_commit = True
    assert not run(src.commit(timeout=0.05))
    assert not run(asyncio.wait_for(src.commit(), 30))  # not an hour: one went unanswered
    app.consumer.hang_commit = False
    assert run(src.commit())
    assert app.consumer.commits == [{TP("t.a", 0): 5}]


def test_a_backlog_is_handed_out_in_arrival_order_across_topics() -> None:
    a, b = TP("t.a", 0), TP("t.b", 3)
    src, app = source(a, b)
    app.consumer.behind = {a, b}
    app.consumer.fetched = {a: stamped("t.a", 0, 0, 1, 2, 3, 10, 11), b: stamped("t.b", 3, 7, 4, 5)}
    # t.a's records after 5 wait: t.b has more on the broker, which may be earlier
    assert origins(run(src.fetch(1.0))) == [
        "t.a/0@0", "t.a/0@1", "t.a/0@2", "t.b/3@7", "t.b/3@8"
    ]  # fmt: skip
    app.consumer.fetched = {b: stamped("t.b", 3, 9, 6, 12)}
    app.consumer.behind = {a}  # t.b caught up: it holds nothing back any more
    batch = run(src.fetch(0.05))  # t.b's 12 waits for what t.a may still bring
    assert origins(batch) == ["t.b/3@9", "t.a/0@3", "t.a/0@4"]
    assert batch is not None and batch.next_offsets() == {("t.a", 0): 5, ("t.b", 3): 10}
    assert batch.messages()[2] == "t.a/0@3-4,t.b/3@9-9"
    app.consumer.behind = set()
    assert origins(run(src.fetch(1.0))) == ["t.b/3@10"]


def test_a_partition_behind_with_nothing_fetched_holds_back_only_until_the_timeout() -> None:
    a, b = TP("t.a", 0), TP("t.a", 1)
    src, app = source(a, b)
    app.consumer.behind = {a, b}
    app.consumer.fetched = {a: stamped("t.a", 0, 0, 5, 6)}
    batch = run(src.fetch(0.05))  # t.a/1's records were asked for, and waited for
    assert origins(batch) == ["t.a/0@0", "t.a/0@1"]
    assert any(asked == {b} for asked in app.consumer.asked)
    app.consumer.behind = set()
    app.consumer.fetched = {a: stamped("t.a", 0, 2, 7)}
    assert origins(run(src.fetch(0.05))) == ["t.a/0@2"]


def test_batches_stop_at_the_limit_and_continue_each_partition_in_offset_order() -> None:
    a, b = TP("t.a", 0), TP("t.b", 0)
    src, app = source(a, b, limit=3)
    app.consumer.fetched = {a: stamped("t.a", 0, 0, 1, 9, 2), b: stamped("t.b", 0, 0, 3, 4)}
    first, second = run(src.fetch(0.05)), run(src.fetch(0.05))
    assert origins(first) == ["t.a/0@0", "t.b/0@0", "t.b/0@1"]
    assert origins(second) == ["t.a/0@1", "t.a/0@2"]  # 9 before 2: offsets never reorder
    assert first is not None and second is not None
    assert {**first.next_offsets(), **second.next_offsets()} == {("t.a", 0): 3, ("t.b", 0): 2}


def test_what_is_held_is_forgotten_on_a_revocation_or_a_drop() -> None:
    a, b = TP("t.a", 0), TP("t.b", 0)
    for forget in ("revoked", "drop"):
        src, app = source(a, b, limit=1)
        app.consumer.fetched = {a: stamped("t.a", 0, 0, 1, 2)}
        batch = run(src.fetch(0.05))
        assert origins(batch) == ["t.a/0@0"]
        if forget == "revoked":
            src.revoked()
        else:
            assert batch is not None
            run(src.drop(batch))
        assert run(src.fetch(0.05)) is None  # read again from the committed offsets instead


def test_the_broker_holds_an_empty_fetch_briefly_not_faust_s_one_and_a_half_seconds(
    tmp_path: Any,
) -> None:
    """A fetch of caught-up partitions held at the broker blocks the next fetch of a backlog
    partition: the worker's consumer asks for a short hold (made, not started: no broker)."""

    async def made() -> tuple[Any, int]:
        app = BatchApp(
            "fetch-wait-test",
            broker="kafka://127.0.0.1:1",
            loop=asyncio.get_running_loop(),
            web_enabled=False,
            autodiscover=False,
            datadir=str(tmp_path),
        )
        faust_consumer: Any = app.consumer  # a BatchConsumer (faust types it ConsumerT)
        thread = faust_consumer._thread
        consumer = thread._create_worker_consumer(app.transport)
        try:
            return thread, consumer._fetch_max_wait_ms
        finally:
            await consumer.stop()

    thread, wait_ms = run(made())
    thread.thread_loop.close()  # made for the thread, which never started
    assert isinstance(thread, BatchConsumerThread)
    assert wait_ms == FETCH_MAX_WAIT_MS <= 100


def test_one_fetch_of_a_partition_has_room_for_a_batch_of_events(tmp_path: Any) -> None:
    """A batch ends where the first partition with a backlog runs out of fetched records: with
    aiokafka's 1 MiB per partition, batches stayed near 7,000 events whatever the limit."""
    feedback = (
        b'{"schema_version":1,"event_type":"patient_feedback","event_id":"1acf2f13-88c0-40d2-'
        b'a740-54660f721348","org_id":"RJ1","unit_id":"AMU","occurred_at":"2023-04-03T02:12:42'
        b'+01:00","source":"fft-sms","rating":2,"channel":"sms","themes":["staff_attitude"]}'
    )
    stored = len(feedback) + 70  # with its record header, key and share of the batch header

    async def fetch_sizes() -> list[int]:
        sizes = []
        for batch_max in (100, 20_000):
            settings = Settings(batch_max_events=batch_max)
            app = faust_app(settings, asyncio.get_running_loop(), tmp_path, ["quality.t"])
            sizes.append(app.conf.consumer_max_fetch_size)
        return sizes

    small, large = run(fetch_sizes())
    assert small == 1024**2, "never below aiokafka's own"
    assert large >= 20_000 * stored


def test_no_stream_stall_is_reported_where_no_message_goes_through_a_stream(
    tmp_path: Any, caplog: Any
) -> None:
    """faust reports a partition with records to fetch whose *stream* took no event five
    minutes after the start as stalled, at ERROR, every few seconds; here no message goes
    through a stream, so every catch-up after five minutes' uptime said so (found by the
    black-box check). Only its check of the fetch path is kept."""

    async def made() -> Any:
        app = BatchApp(
            "stall-test",
            broker="kafka://127.0.0.1:1",
            loop=asyncio.get_running_loop(),
            web_enabled=False,
            autodiscover=False,
            datadir=str(tmp_path),
        )
        topics: Any = app.topics
        topics.add(app.topic("quality.patient_feedback"))
        await topics._update_indices()  # as on a subscription: acknowledged topics known
        return app

    app = run(made())
    thread: Any = app.consumer._thread
    state = SimpleNamespace(highwater=5_000, position=1_000)  # records left to fetch
    assignment = SimpleNamespace(state_value=lambda tp: state)
    subscriptions = SimpleNamespace(subscription=SimpleNamespace(assignment=assignment))
    aiokafka = SimpleNamespace(_fetcher=SimpleNamespace(_subscriptions=subscriptions))
    fetch_path_checked: list[Any] = []

    def fetch_path_fine(now: float, tp: Any) -> bool:
        fetch_path_checked.append(tp)
        return False

    thread._ensure_consumer = lambda: aiokafka
    thread._verify_aiokafka_event_path = fetch_path_fine
    thread.time_started = 0.0
    tp = TP("quality.patient_feedback", 0)
    with caplog.at_level("ERROR"):
        thread.verify_event_path(10_000.0, tp)  # long after the start
    thread.thread_loop.close()
    assert fetch_path_checked == [tp]
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


def test_a_batch_with_a_batch_s_worth_waiting_behind_it_says_so() -> None:
    """What the judging cadence reads (pipeline/runtime/cadence.py): records held beyond the
    batch and records on the broker beyond what was fetched, together at least a batch's
    worth, are a backlog; fewer are not (at a steady rate a few always may be waiting)."""
    a, b = TP("t.a", 0), TP("t.b", 0)
    src, app = source(a, b, limit=3)
    app.consumer.fetched = {a: stamped("t.a", 0, 0, 1, 2, 3, 4, 5, 6)}
    first = run(src.fetch(0.05))
    assert first.behind, "three records held beyond the limit"
    app.consumer.on_broker = {b: 1}
    second = run(src.fetch(0.05))
    assert not second.behind, "one on the broker: not a batch's worth"
    assert first.behind, "a batch keeps what was behind it when it was fetched"
    app.consumer.on_broker = {a: 1, b: 2}
    app.consumer.fetched = {a: stamped("t.a", 0, 6, 7)}
    third = run(src.fetch(0.05))
    assert third.behind, "three on the broker"


def test_lag_counts_what_was_fetched_but_not_yet_processed() -> None:
    """`pipeline_consumer_lag` is the end offset minus the next offset to process. Records
    fetched and held (or handed out, not yet stored) are not processed: a worker catching up
    after a restart reported its backlog short by what it had fetched ahead (278,250 of
    398,250 on the local broker), and the figure then rose while it drained."""
    a, b, c = TP("t.a", 0), TP("t.b", 0), TP("t.b", 1)
    src, app = source(a, b, c, limit=3)
    app.consumer.ends = {a: 110, b: 50, c: 7}
    app.consumer.positions = {c: 7}  # nothing fetched of it: it has caught up
    app.consumer.fetched = {a: stamped("t.a", 0, 100, 1, 2, 3, 4, 5), b: stamped("t.b", 0, 40, 6)}
    first = run(src.fetch(0.05))
    assert first is not None and first.next_offsets() == {("t.a", 0): 103}
    assert run(src.lag({})) == {("t.a", 0): 10, ("t.b", 0): 10, ("t.b", 1): 0}
    assert run(src.lag(first.next_offsets())) == {("t.a", 0): 7, ("t.b", 0): 10, ("t.b", 1): 0}
    src.revoked()  # sought back to the committed offsets: the consumer's position again
    app.consumer.positions = {a: 100, b: 40, c: 7}
    assert run(src.lag({})) == {("t.a", 0): 10, ("t.b", 0): 10, ("t.b", 1): 0}
