"""Worker throughput and event-to-alert latency, against a bare consumer in the same run.

Publishes a simulated trust (default 50,000 events, plus one organisation whose emergency
department diverges at the end) to fresh topics on a real broker, then measures in one run:

1. a bare aiokafka consumer reading every message of the same topics (the floor: any Kafka
   consumer must at least fetch the bytes), the median of five reads;
2. `pipeline worker` (a subprocess, as deployed) from its start until every message is stored in
   ClickHouse (its `pipeline_messages_consumed_total` counts a batch once it is stored), both
   wall-clock and steady state (from its first stored batch);
3. event-to-alert latency: with the worker caught up, each "tick" publishes one more week of
   the diverging department's data, whose closing of the previous week updates its open alert;
   the latency is from the publish to the alert version arriving on `<prefix>.alerts` (the
   ticks' publisher is warmed with one event first: a cold one waits for its metadata).

The figure that matters is the worker's steady-state rate as a share of the bare consumer's.
Run: `python -m bench.worker_throughput [--events 50000] [--bootstrap HOST:PORT] [--ticks 5]`.
Without --bootstrap, a local broker (deploy/kafka/localkafka.py) is started on a free port and
stopped at the end. `--history N` first grows the worker's store to N events of older history
(bench/startup_state.py's own steps, settled), for the worker's memory against history.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.faust_floor import PARTITIONS, faust_floor
from bench.worker_events import _event, bench_week, latest_monday, trust_events

REPO = Path(__file__).resolve().parents[1]
EVENT_TYPES = ("incident_report", "target_metric", "patient_feedback", "alert_response")
KEY = "benchmark-pseudonymisation-key-0123"
BARE_READS = 5  # the bare consumer's time is the median of this many reads


def _localkafka() -> ModuleType:
    path = REPO / "deploy" / "kafka" / "localkafka.py"
    spec = importlib.util.spec_from_file_location("localkafka", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["localkafka"] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    localkafka = _localkafka()
    state = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
    running = localkafka.start(localkafka.free_port(), state)
    try:
        yield str(running.bootstrap)
    finally:
        running.stop()
        shutil.rmtree(state, ignore_errors=True)


# -- Kafka -----------------------------------------------------------------------------------


def publish(bootstrap: str, prefix: str, events: list[dict[str, Any]]) -> float:
    """Publish through the pipeline's Publisher (validated, partitioned by organisation)."""
    from pipeline.publishing import Publisher
    from pipeline.settings import Settings

    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, topic_partitions=PARTITIONS)
    started = time.perf_counter()
    with Publisher(settings) as publisher:
        for event in events:
            publisher.publish(json.dumps(event, separators=(",", ":")).encode())
    return time.perf_counter() - started


async def bare_consumer(bootstrap: str, topics: list[str], expected: int) -> float:
    """Seconds for a plain aiokafka consumer to fetch `expected` messages from `topics`."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
    )
    await consumer.start()
    try:
        seen = 0
        started: float | None = None
        deadline = time.perf_counter() + 300
        while seen < expected and time.perf_counter() < deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for records in batches.values():
                if records and started is None:
                    started = time.perf_counter()
                for record in records:
                    _ = len(record.value or b"")
                seen += len(records)
        if seen < expected:
            raise RuntimeError(f"bare consumer saw {seen} of {expected} messages")
        assert started is not None
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def alert_watcher(bootstrap: str, topic: str) -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"(read|open)_text is deprecated", DeprecationWarning)
        from kafka import KafkaConsumer
        from kafka.structs import TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = consumer.partitions_for_topic(topic) or set()
    consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
    consumer.seek_to_end()
    for tp in consumer.assignment():
        consumer.position(tp)
    return consumer


# -- the worker ------------------------------------------------------------------------------


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system, every thread) the process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far per thread name (Linux `comm`, summed over threads of one name)."""
    per: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name, rest = (task / "stat").read_text().split("(", 1)[1].rsplit(")", 1)
        except OSError:  # the thread ended meanwhile
            continue
        fields = rest.split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        per[name] = per.get(name, 0.0) + cpu
    return per


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far, MB (Linux `VmHWM`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    """The process's resident memory now, MB (Linux `VmRSS`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def grow_history(directory: Path, total: int) -> int:
    """The store grown to `total` events of older history, settled as bench.startup_state
    grows its own (each step in a fresh process); the events held."""
    from bench.startup_settling import settle
    from bench.startup_state import in_process

    held = int(in_process("--grow", str(directory), str(total)))
    settle(directory)
    return held


def consumed(port: int) -> float:
    try:
        return metrics(port).get("pipeline_messages_consumed_total", 0.0)
    except OSError:
        return -1.0


def start_worker(
    bootstrap: str, prefix: str, workdir: Path, args: argparse.Namespace
) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = int(_localkafka().free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env.update(
        {
            "PIPELINE_KAFKA_BOOTSTRAP": bootstrap,
            "PIPELINE_CLICKHOUSE_DSN": f"chdb://{workdir / 'clickhouse'}",
            "PIPELINE_PSEUDONYMISATION_KEY": KEY,
            "PIPELINE_TOPIC_PREFIX": prefix,
            "PIPELINE_TOPIC_PARTITIONS": str(PARTITIONS),
            "PIPELINE_WORKER_ID": f"{prefix}-worker",
            "PIPELINE_METRICS_PORT": str(port),
            "PIPELINE_BATCH_MAX_EVENTS": str(args.batch_max),
            "PIPELINE_BATCH_WITHIN_SECONDS": str(args.within),
        }
    )
    if args.judge_every is not None:
        env["PIPELINE_JUDGE_EVERY_EVENTS"] = str(args.judge_every)
    # The worker runs in its own directory: without this, a relative PYTHONPATH (".") finds
    # nothing there, and the venv's editable install runs another tree's code than this one.
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *paths])
    log = workdir / "worker.log"
    profile = ["-m", "cProfile", "-o", str(Path(args.profile).resolve())] if args.profile else []
    with log.open("ab") as out:  # a restarted worker (bench.worker_years) appends
        process = subprocess.Popen(
            [sys.executable, *profile, "-m", "pipeline.cli", "worker"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, port, log


def spy_on(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy (not a project dependency: install it into the venv to use this) sampling every
    thread of the worker, idle ones too, from now until `stop_spy`; collapsed stacks to `out`."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("--py-spy needs py-spy on PATH or beside this Python")
    command = [spy, "record", "--pid", str(pid), "--threads", "--idle", "--nonblocking"]
    command += ["--rate", "100", "--format", "raw", "--output", str(Path(out).resolve())]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_spy(spy: subprocess.Popen[bytes], out: str) -> str:
    """Stop sampling (py-spy writes its file on SIGINT); the file's path."""
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(60)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait(10)
    return str(Path(out).resolve())


def stop_worker(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(10)


def stored_events(workdir: Path) -> int:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "stats",
            "--clickhouse",
            f"chdb://{workdir / 'clickhouse'}",
        ],
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    return int(sum(json.loads(done.stdout)["events"].values()))


# -- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(5)
    main = trust_events(args.events)
    monday = latest_monday(main)
    history = [
        event
        for week in range(16)
        for event in bench_week(rng, monday - timedelta(weeks=15 - week), bad=week >= 12)
    ]
    events = main + history
    figures: dict[str, Any] = {"events": len(events)}
    workdir = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    with broker(args.bootstrap) as bootstrap:
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        topics = [f"{prefix}.{t}" for t in EVENT_TYPES]
        figures["publish_seconds"] = publish(bootstrap, prefix, events)

        # Reading 50,000 messages takes a tenth of a second or two, so one read swings with
        # the machine's load by 2-3x: the median of several, each a fresh consumer group.
        bare = statistics.median(
            asyncio.run(bare_consumer(bootstrap, topics, len(events))) for _ in range(BARE_READS)
        )
        figures["bare_consumer_seconds"] = bare
        figures["bare_consumer_per_second"] = len(events) / bare
        floor = faust_floor(bootstrap, prefix, len(events), args)
        figures["faust_floor_seconds"] = floor
        figures["faust_floor_per_second"] = len(events) / floor

        if args.history is not None:
            figures["history"] = grow_history(workdir / "clickhouse", args.history)
        process, port, log = start_worker(bootstrap, prefix, workdir, args)
        spy: subprocess.Popen[bytes] | None = None  # from the first stored batch: steady state
        # Polled gently (every 0.5 s: the worker serves /metrics from its own process); the
        # end is the worker's own timestamp of its last stored batch.
        started = time.time()
        first: tuple[float, float] | None = None
        try:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"worker exited: {log.read_text()[-3000:]}")
                done = consumed(port)
                now = time.time()
                if first is None and done > 0:
                    first = (now, done)
                    cpu_first = process_cpu(process.pid)
                    threads_first = thread_cpu(process.pid)
                    if args.py_spy:
                        spy = spy_on(process.pid, args.py_spy)
                if done >= len(events):
                    cpu_done = process_cpu(process.pid)
                    threads_done = thread_cpu(process.pid)
                    break
                if now - started > args.timeout:
                    raise RuntimeError(f"worker stored {done} of {len(events)} in time")
                time.sleep(0.5)
            finished = metrics(port)["pipeline_last_batch_timestamp_seconds"]
            if spy is not None:
                figures["py_spy"] = stop_spy(spy, args.py_spy)
                spy = None
            assert first is not None
            figures["worker_wall_seconds"] = finished - started
            steady = max(finished - first[0], 1e-9)
            figures["worker_steady_per_second"] = (len(events) - first[1]) / steady
            figures["worker_wall_per_second"] = len(events) / (finished - started)
            # by CPU, steady state: less swayed by other processes' load than the rates
            figures["worker_steady_cpu_seconds"] = cpu_done - cpu_first
            figures["worker_events_per_cpu_second"] = (len(events) - first[1]) / max(
                cpu_done - cpu_first, 1e-9
            )
            spent = {n: c - threads_first.get(n, 0.0) for n, c in threads_done.items()}
            figures["worker_steady_thread_cpu"] = {
                n: round(c, 2) for n, c in sorted(spent.items(), key=lambda nc: -nc[1]) if c > 0
            }
            figures["throughput_ratio"] = (
                figures["worker_steady_per_second"] / figures["bare_consumer_per_second"]
            )
            figures["faust_share"] = (
                figures["worker_steady_per_second"] / figures["faust_floor_per_second"]
            )
            figures["latencies_seconds"] = ticks(
                bootstrap, prefix, monday, rng, args.ticks, args.load_rate
            )
            figures["load_rate"] = args.load_rate
            final = metrics(port)
            figures["worker_peak_rss_mb"] = peak_rss_mb(process.pid)
            figures["worker_rss_mb"] = rss_mb(process.pid)
        finally:
            if spy is not None:
                stop_spy(spy, args.py_spy)
            status = stop_worker(process)
        figures["worker_exit_status"] = status
        figures["stored_events"] = stored_events(workdir)
        figures["accepted"] = final.get("pipeline_events_accepted_total", 0.0)
        figures["duplicates"] = final.get("pipeline_events_duplicate_total", 0.0)
        figures["alerts"] = final.get("pipeline_alerts_total", 0.0)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        figures["workdir"] = str(workdir)
    return figures


def ticks(
    bootstrap: str,
    prefix: str,
    monday: datetime,
    rng: random.Random,
    count: int,
    rate: float = 0.0,
) -> list[float | None]:
    """Publish one more bad week of the benchmark department `count` times, while other
    organisations publish `rate` events/s; the time from each publish to the next alert
    version on the alerts topic (None: none in 20 s)."""
    from pipeline.publishing import Publisher
    from pipeline.settings import Settings

    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, topic_partitions=PARTITIONS)
    watcher = alert_watcher(bootstrap, f"{prefix}.alerts")
    latencies: list[float | None] = []
    stop = threading.Event()
    current = [monday]  # the load's events fall in the week the ticks have reached
    load = threading.Thread(
        target=background_load, args=(settings, current, rate, stop), daemon=True
    )
    if rate:
        load.start()
        time.sleep(2.0)  # the worker is taking the load before the first tick
    try:
        with Publisher(settings) as publisher:
            # A publisher's first send waits for its producer id and the topic's metadata
            # (about 0.2 s here): warmed with one event of the background's kind, as a
            # long-lived publisher is, so that tick 1 measures the pipeline, not the publisher.
            warm = background_event(random.Random(7), current[0])
            publisher.publish(json.dumps(warm, separators=(",", ":")).encode())
            publisher.flush()
            time.sleep(0.5)
            for tick in range(1, count + 1):
                current[0] = monday + timedelta(weeks=tick)
                week = bench_week(rng, current[0], bad=True)
                sent = time.perf_counter()
                for event in week:
                    publisher.publish(json.dumps(event, separators=(",", ":")).encode())
                publisher.flush()
                latency: float | None = None
                while time.perf_counter() - sent < 20:
                    if any(watcher.poll(timeout_ms=50).values()):
                        latency = time.perf_counter() - sent
                        break
                latencies.append(latency)
                time.sleep(0.5)
                watcher.poll(timeout_ms=200)  # drain the rest of this tick's versions
    finally:
        stop.set()
        if rate:
            load.join(30)
        watcher.close()
    return latencies


def background_load(
    settings: Any, current: list[datetime], rate: float, stop: threading.Event
) -> None:
    """Feedback of other organisations at `rate` events/s (in steps of 50 ms) until `stop`."""
    from pipeline.publishing import Publisher

    rng = random.Random(99)
    step = 0.05
    per_step = max(1, round(rate * step))
    with Publisher(settings) as publisher:
        next_at = time.perf_counter()
        while not stop.is_set():
            for _ in range(per_step):
                event = background_event(rng, current[0])
                publisher.publish(json.dumps(event, separators=(",", ":")).encode())
            publisher.flush()
            next_at += step
            time.sleep(max(0.0, next_at - time.perf_counter()))


def background_event(rng: random.Random, week: datetime) -> dict[str, Any]:
    """Good feedback of one of 8 other organisations (6 units each), in `week`."""
    at = week + timedelta(minutes=rng.randrange(6 * 24 * 60))
    event = _event(rng, "patient_feedback", at, rating=rng.choice((1, 2, 3)))
    event["org_id"] = f"BG{rng.randrange(8)}"
    event["unit_id"] = f"u{rng.randrange(6)}"
    return event


def report(figures: dict[str, Any]) -> str:
    measured = [x for x in figures["latencies_seconds"] if x is not None]
    lines = [
        f"events published:            {figures['events']:,} in {figures['publish_seconds']:.1f} s",
        f"bare aiokafka consumer:      {figures['bare_consumer_per_second']:,.0f} messages/s "
        f"({figures['bare_consumer_seconds']:.2f} s)",
        f"empty faust agent, same shape: {figures['faust_floor_per_second']:,.0f} messages/s "
        f"({figures['faust_floor_seconds']:.2f} s)",
        f"pipeline worker, steady:     {figures['worker_steady_per_second']:,.0f} messages/s "
        "(stored in ClickHouse, alerts routed)",
        f"pipeline worker, wall clock: {figures['worker_wall_per_second']:,.0f} messages/s "
        f"({figures['worker_wall_seconds']:.1f} s from process start, restore included)",
        f"pipeline worker, steady, by CPU: {figures['worker_events_per_cpu_second']:,.0f} "
        f"messages per CPU second ({figures['worker_steady_cpu_seconds']:.1f} s of CPU)",
        "  by thread: "
        + ", ".join(f"{n} {c:.2f}" for n, c in figures["worker_steady_thread_cpu"].items()),
        f"worker peak RSS: {figures['worker_peak_rss_mb']:,.0f} MB, at the end "
        f"{figures['worker_rss_mb']:,.0f} MB (history: {figures.get('history', 0):,} events)",
        f"throughput ratio worker/bare aiokafka consumer: {figures['throughput_ratio']:.3f}",
        f"throughput ratio worker/empty faust agent: {figures['faust_share']:.3f}",
        f"stored events (pipeline stats): {figures['stored_events']:,} "
        f"(accepted {figures['accepted']:,.0f}, duplicates {figures['duplicates']:,.0f})",
        f"alert versions raised: {figures['alerts']:,.0f}",
    ]
    if len(measured) >= 2:
        ordered = sorted(measured)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        lines.append(
            f"event-to-alert at {figures.get('load_rate', 0):,.0f} events/s of other load: "
            f"p50 {statistics.median(ordered):.2f} s, p99 {p99:.2f} s over {len(ordered)} ticks"
        )
    if measured:
        lines.append(
            "event-to-alert latency: "
            + ", ".join(f"{x:.2f}" for x in measured)
            + f" s (median {statistics.median(measured):.2f} s"
            + f", {len(figures['latencies_seconds']) - len(measured)} ticks without an alert)"
        )
    else:
        lines.append("event-to-alert latency: no alert version arrived after any tick")
    lines.append(f"worker exit status after SIGTERM: {figures['worker_exit_status']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_throughput")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of a local one")
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument(
        "--load-rate", type=float, default=1000.0, help="events/s of other organisations"
    )
    parser.add_argument(
        "--batch-max", type=int, default=None, help="BATCH_MAX_EVENTS (default: the setting's)"
    )
    parser.add_argument(
        "--judge-every", type=int, default=None, help="JUDGE_EVERY_EVENTS (default: the setting's)"
    )
    parser.add_argument("--within", type=float, default=1.0)
    parser.add_argument(
        "--history", type=int, default=None, help="grow the store to this many older events first"
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--keep", action="store_true", help="keep the worker's directory")
    parser.add_argument(
        "--profile", default=None, help="run the worker under cProfile, its stats to this file"
    )
    parser.add_argument(
        "--py-spy",
        default=None,
        metavar="FILE",
        help="sample the worker's threads with py-spy during catch-up, collapsed stacks to FILE",
    )
    args = parser.parse_args(argv)
    if args.batch_max is None:  # the empty faust agent takes batches of the same size
        from pipeline.settings import Settings

        args.batch_max = Settings.model_fields["batch_max_events"].default
    figures = run(args)
    print(report(figures))
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
