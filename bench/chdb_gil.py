"""Does chDB hold Python's lock (the GIL) while it runs a query or an insert?

A pure-Python thread counts in a loop while the main thread makes chDB calls through
clickhouse-connect, as the sink does. The kernel's accounting of that thread
(`/proc/self/task/ID/schedstat`, Linux) splits each call's wall time into: on a CPU (counting),
runnable but waiting for a CPU (the machine's other work, chDB's own threads included), and
asleep, which for a thread that only counts can only be waiting for the GIL. A call that held
the GIL throughout would leave the counter asleep all along; one that releases it leaves it
counting or waiting for a core, however loaded the machine. The main thread's own CPU time
shows where chDB does the work: on the calling thread or on its own threads.

Run: `python -m bench.chdb_gil [--rows 20000000]`.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import clickhouse_connect
import pyarrow as pa

from pipeline.adapters.clickhouse.arrow import arrow_body

EVENTS = (
    "CREATE TABLE b.events (org_id LowCardinality(String), event_id UUID, "
    "occurred_at DateTime64(6, 'UTC'), payload String) ENGINE = ReplacingMergeTree "
    "PARTITION BY toYYYYMM(occurred_at) ORDER BY (org_id, event_id) "
    "SETTINGS non_replicated_deduplication_window = 10000"
)


class Counter:
    """A thread adding one in a Python loop until stopped; `count` is read from outside."""

    def __init__(self) -> None:
        self.count = 0
        self.native_id = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def times(self) -> tuple[float, float]:
        """Seconds on a CPU and seconds runnable waiting for one, so far."""
        with open(f"/proc/self/task/{self.native_id}/schedstat") as stat:
            on_cpu, waiting, _ = stat.read().split()
        return int(on_cpu) / 1e9, int(waiting) / 1e9

    def _run(self) -> None:
        self.native_id = threading.get_native_id()
        n = 0
        while not self._stop.is_set():
            for _ in range(1000):
                n += 1
            self.count = n

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def python_for_a_second() -> None:
    """Pure Python on the main thread: the two threads take turns with the GIL (the control:
    the counting thread should be asleep about half the time)."""
    end = time.perf_counter() + 1.0
    while time.perf_counter() < end:
        sum(range(100))


def events_body(rows: int) -> tuple[list[str], bytes]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([f"R{i % 3}" for i in range(rows)]),
            pa.array([uuid4().hex for _ in range(rows)]),
            pa.array(
                [start + timedelta(seconds=i) for i in range(rows)],
                type=pa.timestamp("us", tz="UTC"),
            ),
            pa.array(['{"type": "patient_feedback", "rating": 4}' * 6] * rows),
        ],
        names=["org_id", "event_id", "occurred_at", "payload"],
    )
    return batch.schema.names, arrow_body(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000, help="rows of the big insert")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-gil-")
    client = clickhouse_connect.get_client(interface="chdb", path=folder)
    try:
        client.command("CREATE DATABASE b")
        client.command("CREATE TABLE b.numbers (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
        client.command(EVENTS)
        names, big = events_body(20_000)
        _, small = events_body(10)

        def inserts(body: bytes, times: int, tag: str) -> Callable[[], None]:
            def run() -> None:
                for i in range(times):
                    client.raw_insert(
                        "b.events",
                        column_names=names,
                        insert_block=body,
                        fmt="ArrowStream",
                        settings={
                            "optimize_on_insert": 0,
                            "insert_deduplication_token": f"{tag}{i}",
                        },
                    )

            return run

        calls: list[tuple[str, Callable[[], object]]] = [
            ("idle (main thread sleeps 1 s)", lambda: time.sleep(1.0)),
            (
                f"INSERT ... SELECT of {args.rows:,} rows",
                lambda: client.command(
                    f"INSERT INTO b.numbers SELECT number, toString(number) "
                    f"FROM numbers({args.rows})"
                ),
            ),
            (
                "SELECT over them",
                lambda: client.command("SELECT sum(cityHash64(s)) FROM b.numbers"),
            ),
            ("20 Arrow inserts of 20,000 events", inserts(big, 20, "big")),
            ("100 Arrow inserts of 10 events", inserts(small, 100, "small")),
            ("control: main thread runs Python 1 s", python_for_a_second),
            ("idle again", lambda: time.sleep(1.0)),
        ]
        counter = Counter()
        time.sleep(0.3)
        results = []
        for name, call in calls:
            (on_cpu, waiting), wall, cpu = counter.times(), time.perf_counter(), time.thread_time()
            call()
            wall = time.perf_counter() - wall
            on_cpu_after, waiting_after = counter.times()
            on_cpu, waiting = on_cpu_after - on_cpu, waiting_after - waiting
            asleep = max(0.0, wall - on_cpu - waiting)
            results.append((name, wall, time.thread_time() - cpu, on_cpu, waiting, asleep))
        counter.stop()
    finally:
        client.close()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{'during':<38}{'wall s':>7}{'main CPU s':>11}   counting thread, % of the wall time:")
    print(f"{'':<56}{'on a CPU':>10}{'waiting for a CPU':>19}{'asleep (GIL)':>14}")
    for name, wall, cpu, on_cpu, waiting, asleep in results:
        shares = (100 * on_cpu / wall, 100 * waiting / wall, 100 * asleep / wall)
        print(
            f"{name:<38}{wall:>7.2f}{cpu:>11.2f}{shares[0]:>19.0f}%{shares[1]:>18.0f}%{shares[2]:>13.0f}%"
        )


if __name__ == "__main__":
    main()
