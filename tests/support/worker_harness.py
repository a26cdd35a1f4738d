"""Helpers for the worker's integration tests and benchmark: data, publishing, processes.

`pipeline worker` always runs as a subprocess: it owns its chDB directory while it runs, so
ClickHouse is read (through `query`, itself a subprocess) only after the worker has exited.
Run as `python -m tests.support.worker_harness query DSN SQL...` it prints the rows of each
query as JSON, which is how the tests read a chDB directory without opening it themselves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.kafka_fixture import load_localkafka
from tests.support.worker_data import EVENT_TYPES

with warnings.catch_warnings():
    # kafka-python loads its protocol schemas with importlib.resources.read_text, deprecated
    # since Python 3.11; the project runs its tests with warnings as errors.
    warnings.filterwarnings("ignore", r"(read|open)_text is deprecated", DeprecationWarning)
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic
    from kafka.structs import TopicPartition

    from pipeline.core.partitioning import partition_for
    from pipeline.errors import EventRejected
    from pipeline.publishing import Publisher
    from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[2]
KEY = "5f0c3e9a7b21d84c6e13a9f2b07d45e8c19a3b6f2d8e704a"  # a random 192-bit test key
PARTITIONS = 4


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# -- Kafka -----------------------------------------------------------------------------------


def org_partition(org: str, partitions: int = PARTITIONS) -> int:
    """`pipeline publish`'s rule: one organisation, one partition."""
    return partition_for(org, partitions)


def create_topics(bootstrap: str, prefix: str, partitions: int = PARTITIONS) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=unique("test-admin"))
    try:
        names = [f"{prefix}.{t}" for t in EVENT_TYPES]
        admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        )
    finally:
        admin.close()


def publish(
    bootstrap: str,
    prefix: str,
    messages: Iterable[tuple[str, str, bytes]],
    partitions: int = PARTITIONS,
    pause_every: int = 0,
    pause: float = 0.0,
) -> int:
    """Valid events through the pipeline's own Publisher (what `pipeline publish` uses: keyed
    `org_id/unit_id`, partitioned by organisation); the bad messages, which it refuses, with a
    bare producer on the same partition, as a careless service would send them."""
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, topic_partitions=partitions)
    careless = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    sent = 0
    try:
        with Publisher(settings) as publisher:
            for event_type, org, value in messages:
                try:
                    publisher.publish(value)
                except EventRejected:
                    careless.send(
                        f"{prefix}.{event_type}",
                        key=f"{org}/x".encode(),
                        value=value,
                        partition=org_partition(org, partitions),
                    )
                sent += 1
                if pause_every and sent % pause_every == 0:
                    publisher.flush()
                    time.sleep(pause)
        careless.flush(timeout=60)
    finally:
        careless.close()
    return sent


def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id=unique("test-offsets"))
    try:
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        return dict(consumer.end_offsets(tps))
    finally:
        consumer.close()


def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=unique("test-admin"))
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        admin.close()


def all_committed(bootstrap: str, group: str, prefix: str) -> bool:
    ends = end_offsets(bootstrap, [f"{prefix}.{t}" for t in EVENT_TYPES])
    done = committed(bootstrap, group)
    return all(done.get(tp, 0) >= end for tp, end in ends.items())


def read_topic(bootstrap: str, topic: str, timeout: float = 10.0) -> list[tuple[bytes, bytes]]:
    """Every (key, value) on `topic`, in offset order per partition."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=unique("test-reader"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout * 1000),
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        records: list[tuple[bytes, bytes]] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=500).items():
                for record in batch:
                    records.append((record.key, record.value))
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return records
    finally:
        consumer.close()


# -- the worker process ----------------------------------------------------------------------


def pipeline_command() -> list[str]:
    return [sys.executable, "-m", "pipeline.cli"]


def worker_command() -> list[str]:
    """`pipeline worker`, as a user runs it."""
    return [*pipeline_command(), "worker"]


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    metrics_port: int
    log_path: Path
    group: str
    terminated: bool = False

    def metrics(self) -> dict[str, float]:
        """Samples by name (labels summed over) plus `name{k=v,...}` per labelled sample."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as response:
            text = response.read().decode()
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
                if sample.labels:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    samples[f"{sample.name}{{{labels}}}"] = sample.value
        return samples

    def health(self) -> int:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=5
            ) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def wait_for(
        self, condition: Callable[[dict[str, float]], bool], timeout: float, what: str
    ) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        last: dict[str, float] = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited ({self.process.returncode}): {self.log()}")
            try:
                last = self.metrics()
                if last and condition(last):  # the condition may read other workers too
                    return last
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; metrics {last}\n{self.log()}")

    def terminate(self) -> None:
        """Send SIGTERM once (a second one would abandon the batch in flight)."""
        if self.process.poll() is None and not self.terminated:
            self.process.send_signal(signal.SIGTERM)
            self.terminated = True

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM, and the exit status."""
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"worker did not stop on SIGTERM: {self.log()}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)

    def log(self, tail: int = 60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])


def start_worker(
    bootstrap: str,
    dsn: str,
    prefix: str,
    group: str,
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    command: Sequence[str] | None = None,
) -> Worker:
    port = int(load_localkafka().free_port())
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"worker-{port}.log"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env = {
        **inherited,
        "PIPELINE_KAFKA_BOOTSTRAP": bootstrap,
        "PIPELINE_CLICKHOUSE_DSN": dsn,
        "PIPELINE_PSEUDONYMISATION_KEY": KEY,
        "PIPELINE_TOPIC_PREFIX": prefix,
        "PIPELINE_TOPIC_PARTITIONS": str(PARTITIONS),
        "PIPELINE_WORKER_ID": group,
        "PIPELINE_METRICS_PORT": str(port),
        "PIPELINE_WORKER_SESSION_TIMEOUT_SECONDS": "6",
        "PIPELINE_BATCH_WITHIN_SECONDS": "0.3",
        "PIPELINE_SINK_RETRY_MAX_SECONDS": "1",
        "PIPELINE_WORKER_SINK_RETRY_INITIAL_SECONDS": "0.2",
        **(extra_env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command or worker_command()),
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Worker(process, port, log_path, group)


# -- reading ClickHouse after the worker exited ---------------------------------------------


def query(dsn: str, *sql: str) -> list[list[dict[str, Any]]]:
    """Rows of each query, read in a subprocess (a chDB directory belongs to one process)."""
    (result,) = query_each([(dsn, sql)])
    return result


def query_each(
    requests: Sequence[tuple[str, Sequence[str]]],
) -> list[list[list[dict[str, Any]]]]:
    """`query` on several chDB directories at once, one subprocess each, side by side."""
    command = [sys.executable, "-m", "tests.support.worker_harness", "query"]
    running = [
        subprocess.Popen(
            [*command, dsn, *sql], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for dsn, sql in requests
    ]
    results: list[list[list[dict[str, Any]]]] = []
    for process in running:
        out, err = process.communicate(timeout=120)
        if process.returncode != 0:
            raise AssertionError(f"query failed: {err.decode()[-3000:]}")
        results.append(json.loads(out))
    return results


def stats(dsn: str) -> dict[str, Any]:
    """`pipeline stats --clickhouse DSN`, parsed."""
    done = subprocess.run(
        [*pipeline_command(), "stats", "--clickhouse", dsn],
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"pipeline stats failed: {done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "query":
        from pipeline.adapters.clickhouse import ClickHouseSink

        sink = ClickHouseSink(argv[1], "quality", "week")
        try:
            out = [sink.query_dicts(sql) for sql in argv[2:]]
        finally:
            sink.close()
        print(json.dumps(out, default=str))
        return 0
    print("usage: python -m tests.support.worker_harness query DSN SQL...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
