"""Where the worker's threads spent a catch-up: py-spy's samples (`bench.worker_throughput
--py-spy FILE`, collapsed stacks of every thread, idle ones included) put into the parts of the
step, per thread, in seconds of wall clock (100 samples a second).

Run: `python -m bench.thread_breakdown FILE`. Each sample goes to the first part whose test its
stack passes, in the order listed; "waits" are samples blocked on a lock or a queue.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Callable

RATE = 100  # samples a second (bench.worker_throughput's py-spy --rate)

Test = Callable[[str, str], bool]


def _idle(stack: str, leaf: str) -> bool:
    return leaf.startswith(("_worker ", "Thread.run ")) or "select" in leaf.lower()


PARTS: dict[str, list[tuple[str, Test]]] = {
    "engine thread (pipeline-step)": [
        ("idle: no batch to run", _idle),
        (
            "look-up of ids: waits for the store lock",
            lambda s, leaf: "Step._known" in s and leaf.startswith("Step._retrying"),
        ),
        ("look-up of ids: the query", lambda s, leaf: "Step._known" in s),
        (
            "restore of new organisations (waits for the store first)",
            lambda s, leaf: "Step._hold" in s,
        ),
        (
            "cycle collector, after a pause",
            lambda s, leaf: leaf.startswith("_GeneratorContextManager.__exit__"),
        ),
        ("engine: decode", lambda s, leaf: "decode_batch" in s),
        ("engine: admission (windows, watermark)", lambda s, leaf: "admit_all" in s),
        ("engine: judging", lambda s, leaf: "Judging.judge" in s or "newly_closed" in s),
        ("engine: rest", lambda s, leaf: "Engine.process" in s or "Step.prepare" in s),
        ("other", lambda s, leaf: True),
    ],
    "store thread (pipeline-store)": [
        ("idle: nothing to store", _idle),
        (
            "cycle collector, after a pause",
            lambda s, leaf: leaf.startswith("_GeneratorContextManager.__exit__"),
        ),
        (
            "waits for the store lock (a look-up)",
            lambda s, leaf: "Step._write" in s and leaf.startswith("Step._retrying"),
        ),
        (
            "events: waits for their inserts (insert threads)",
            lambda s, leaf: "write_events_each" in s and "_apart" in s,
        ),
        ("events: chDB", lambda s, leaf: "write_events" in s and "Connection.query" in s),
        ("events: columns and Arrow (Python)", lambda s, leaf: "write_events" in s),
        ("windows: chDB", lambda s, leaf: "write_windows" in s and "Connection.query" in s),
        ("windows: rows (Python)", lambda s, leaf: "write_windows" in s),
        ("progress", lambda s, leaf: "write_progress" in s),
        (
            "rejections, alerts, board, bright spots, verdicts",
            lambda s, leaf: "write_outcomes" in s,
        ),
        ("judgement marks, ledger", lambda s, leaf: "write_judged" in s or "side_state" in s),
        ("alert routes (Kafka, outbox)", lambda s, leaf: "Routes" in s),
        ("other", lambda s, leaf: True),
    ],
    "insert threads (pipeline-insert, the sink's inserts made together)": [
        ("idle: nothing to insert", _idle),
        ("events: chDB", lambda s, leaf: "write_events" in s and "Connection.query" in s),
        ("events: columns and Arrow (Python)", lambda s, leaf: "write_events" in s),
        ("other tables: chDB", lambda s, leaf: "Connection.query" in s),
        ("other tables: rows and Arrow (Python)", lambda s, leaf: True),
    ],
    "event loop (MainThread: faust)": [
        ("idle: epoll", _idle),
        ("fetch and arrival order", lambda s, leaf: "BatchSource.fetch" in s),
        ("batch origins and token", lambda s, leaf: "Batch." in s),
        ("batch hand-off and commit", lambda s, leaf: "BatchFlow" in s or "commit" in s),
        ("other", lambda s, leaf: True),
    ],
    "Kafka consumer thread (aiokafka, faust's)": [
        ("idle: epoll", _idle),
        ("record decoding", lambda s, leaf: "fetched_records" in s or "PartitionRecords" in s),
        ("network and other", lambda s, leaf: True),
    ],
}


def _thread(head: str, stack: str) -> str | None:
    # py-spy may keep a finished thread's name for a new thread with the same id: the
    # executors' work items say which thread it is
    if "_insert_apart" in stack or "pipeline-insert" in head:
        return "insert threads (pipeline-insert, the sink's inserts made together)"
    if "_WorkItem.run" in stack:
        engine = "Step.prepare" in stack or "Step.reset" in stack
        return "engine thread (pipeline-step)" if engine else "store thread (pipeline-store)"
    if "pipeline-step" in head:
        return "engine thread (pipeline-step)"
    if "pipeline-store" in head:
        return "store thread (pipeline-store)"
    if "MainThread" in head:
        return "event loop (MainThread: faust)"
    if "ServiceThread._start_thread" in stack:  # mode's thread: faust's consumer thread
        return "Kafka consumer thread (aiokafka, faust's)"
    return None


def breakdown(lines: list[str]) -> dict[str, Counter[str]]:
    parts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not count.isdigit():
            continue
        head, _, rest = stack.partition(";")
        thread = _thread(head, rest)
        if thread is None:
            continue
        leaf = rest.rsplit(";", 1)[-1]
        for name, test in PARTS[thread]:
            if test(rest, leaf):
                parts[thread][name] += int(count)
                break
    return parts


def report(parts: dict[str, Counter[str]]) -> str:
    out: list[str] = []
    for thread in PARTS:
        counts = parts.get(thread)
        if not counts:
            continue
        total = sum(counts.values())
        out.append(f"{thread}: {total / RATE:.1f} s")
        for name, _ in PARTS[thread]:
            if counts[name]:
                share = 100 * counts[name] / total
                out.append(f"  {counts[name] / RATE:7.2f} s {share:5.1f}%  {name}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.thread_breakdown PY_SPY_RAW_FILE", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as file:
        print(report(breakdown(file.readlines())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
