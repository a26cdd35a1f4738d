"""A catch-up profile split per thread into the step's parts (bench/thread_breakdown.py)."""

from __future__ import annotations

from bench.thread_breakdown import breakdown, report

ENGINE = "thread (1): pipeline-step_0;Thread.run (threading.py:1);_WorkItem.run (thread.py:5)"
STORE = "thread (2): pipeline-store_0;Thread.run (threading.py:1);_WorkItem.run (thread.py:5)"
INSERT = "thread (4): pipeline-insert_0;Thread.run (threading.py:1);_WorkItem.run (thread.py:5)"
LOOP = "thread (3): MainThread;BaseEventLoop._run_once (base_events.py:1)"


def test_samples_go_to_the_first_part_their_stack_matches_per_thread() -> None:
    lines = [
        "thread (1): pipeline-step_0;Thread.run (threading.py:1);_worker (thread.py:81) 300\n",
        f"{ENGINE};Step.prepare (step.py:1);Step._known (step.py:2);"
        "Step._retrying (step.py:3) 40\n",
        f"{ENGINE};Step.prepare (step.py:1);Engine.process (engine.py:1);"
        "Judging.judge (judging.py:1) 25\n",
        f"{STORE};Step.complete (step.py:1);Step._write (step.py:2);"
        "ClickHouseSink.write_events (c.py:1);Connection.query (chdb.py:1) 70\n",
        f"{STORE};Step.complete (step.py:1);BatchWrites._write_events (bw.py:1);"
        "ClickHouseSink.write_events_each (c.py:1);ClickHouseSink._apart (c.py:2);"
        "wait (_base.py:1);Condition.wait (threading.py:1) 15\n",
        f"{INSERT};ClickHouseSink._insert_apart (c.py:1);ClickHouseSink.write_events (c.py:2);"
        "Connection.query (chdb.py:1) 20\n",
        f"{INSERT};ClickHouseSink._insert_apart (c.py:1);ClickHouseSink.insert_rows (c.py:2);"
        "arrow_batch (arrow.py:1) 5\n",
        f"{LOOP};EpollSelector.select (selectors.py:468) 90\n",
        f"{LOOP};WorkerRuntime._consume (worker.py:1);BatchSource.fetch (cb.py:1) 10\n",
        "thread (9): metrics-http;BaseServer.serve_forever (socketserver.py:1) 500\n",
        "not a sample line\n",
    ]
    parts = breakdown(lines)
    engine = parts["engine thread (pipeline-step)"]
    assert engine["idle: no batch to run"] == 300
    assert engine["look-up of ids: waits for the store lock"] == 40
    assert engine["engine: judging"] == 25
    store = parts["store thread (pipeline-store)"]
    assert store["events: chDB"] == 70
    assert store["events: waits for their inserts (insert threads)"] == 15
    inserts = parts["insert threads (pipeline-insert, the sink's inserts made together)"]
    assert (inserts["events: chDB"], inserts["other tables: rows and Arrow (Python)"]) == (20, 5)
    loop = parts["event loop (MainThread: faust)"]
    assert (loop["idle: epoll"], loop["fetch and arrival order"]) == (90, 10)
    assert sum(sum(c.values()) for c in parts.values()) == 575  # the metrics thread is not ours
    text = report(parts)
    assert "engine thread (pipeline-step): 3.6 s" in text
    assert "0.40 s  11.0%  look-up of ids: waits for the store lock" in text
