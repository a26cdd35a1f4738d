"""The worker on a broker of its own, which the test stops and starts again: events on the
wrong key or topic are counted and stored once each; while the broker is down the worker is
not ready (/readyz and /healthz 503) but alive (/livez 200), and it resumes by itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.events import feedback, incident
from tests.support.tools import tool
from tests.support.worker_harness import REPO, Worker, query, start_worker, stats, unique

pytestmark = pytest.mark.slow
START = datetime(2024, 3, 4, tzinfo=UTC)


class OwnBroker:
    """A broker of the test's own on one port, which it may stop and start again."""

    def __init__(self, localkafka: ModuleType, state: Path) -> None:
        self._localkafka = localkafka
        self._state = state
        self.port = int(localkafka.free_port())
        self._broker: Any = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._broker = self._localkafka.start(self.port, self._state)

    def stop(self) -> None:
        if self._broker is not None:
            self._broker.stop()  # and reaped
            self._broker = None

    def kill(self) -> None:
        """SIGKILL: no controlled shutdown, so clients keep the last metadata (its leaders)."""
        if self._broker is not None:
            self._broker.process.kill()
            self._broker.process.wait(30)
            self._localkafka.stop(self._state)  # its pid file
            self._broker = None


@pytest.fixture
def own_broker(localkafka: ModuleType, tmp_path: Path) -> Iterator[OwnBroker]:
    missing: list[str] = localkafka.missing_tools()
    if missing:
        reason = f"a Kafka broker needs {' and '.join(missing)}: not found on this machine"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    broker = OwnBroker(localkafka, tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def event(kind: Any, hour: int, org: str = "RXA") -> str:
    return json.dumps(kind(org_id=org, occurred_at=(START + timedelta(hours=hour)).isoformat()))


def kcat(bootstrap: str, topic: str, lines: list[bytes], *, keyed: bool = True) -> None:
    """`KEY/EVENT` lines with kcat's -K/ (no key at all when not `keyed`)."""
    command = [tool("kcat"), "-P", "-b", bootstrap, "-t", topic, "-X", "acks=all"]
    done = subprocess.run(
        [*command, *(["-K/"] if keyed else [])],
        input=b"".join(line + b"\n" for line in lines),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]


def probe(worker: Worker, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{worker.metrics_port}{path}", timeout=5
        ) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read().decode()


def wait_until(condition: Any, timeout: float, what: str, worker: Worker) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{worker.log()}")


def test_misrouted_events_are_counted_and_stored_once_and_an_outage_is_unready_not_dead(
    own_broker: OwnBroker, tmp_path: Path
) -> None:
    bootstrap = own_broker.bootstrap
    prefix, group = unique("mis"), unique("mis-group")
    feedback_topic = f"{prefix}.patient_feedback"
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    right = [b"RXA/" + event(feedback, h).encode() for h in range(10)]
    other_key = [b"NOT-RXA/" + event(feedback, 100 + h).encode() for h in range(4)]
    no_key = [event(feedback, 200 + h).encode() for h in range(3)]
    other_topic = [b"RXA/" + event(incident, 300 + h).encode() for h in range(2)]
    later = [b"RXB-WRONG/" + event(feedback, 400 + h, "RXB").encode() for h in range(5)]

    worker = start_worker(bootstrap, dsn, prefix, group, tmp_path)
    try:
        worker.wait_for(lambda m: m.get("pipeline_assigned_partitions", 0) > 0, 90, "assigned")
        kcat(bootstrap, feedback_topic, right + other_key + other_topic)
        kcat(bootstrap, feedback_topic, no_key, keyed=False)
        sent = len(right + other_key + other_topic + no_key)
        worker.wait_for(
            lambda m: m.get("pipeline_messages_consumed_total", 0) >= sent, 60, "all processed"
        )
        assert probe(worker, "/readyz")[0] == 200

        own_broker.stop()
        wait_until(lambda: probe(worker, "/readyz")[0] == 503, 60, "not ready", worker)
        assert "Kafka unreachable" in probe(worker, "/readyz")[1]
        assert probe(worker, "/healthz")[0] == 503
        assert probe(worker, "/livez") == (200, "ok: alive\n"), "a restart would not help"

        own_broker.start()
        wait_until(lambda: probe(worker, "/readyz")[0] == 200, 90, "ready again", worker)
        kcat(bootstrap, feedback_topic, right + later)  # the first ten again: duplicates
        every_misrouted = len(other_key + later + no_key + other_topic)
        metrics = worker.wait_for(  # counted once the batch is committed, after the others
            lambda m: (
                m.get("pipeline_messages_consumed_total", 0) >= sent + len(right + later)
                and sum(
                    m.get(f"pipeline_events_misrouted_total{{reason={reason}}}", 0)
                    for reason in ("key_not_org_id", "key_missing", "other_topic")
                )
                >= every_misrouted
            ),
            90,
            "the events sent after the outage",
        )
    finally:
        code = worker.stop()
    assert code == 0, worker.log()

    misrouted = {
        reason: metrics.get(f"pipeline_events_misrouted_total{{reason={reason}}}", 0)
        for reason in ("key_not_org_id", "key_missing", "other_topic")
    }
    assert misrouted == {
        "key_not_org_id": len(other_key + later),
        "key_missing": len(no_key),
        "other_topic": len(other_topic),
    }
    # kcat's partitioner put RXA's events keyed `NOT-RXA` on another partition than those
    # keyed `RXA`: an organisation split, told whatever the key
    assert metrics.get("pipeline_events_misrouted_total{reason=organisation_split}", 0) > 0
    assert metrics["pipeline_events_duplicate_total"] == len(right)
    assert "misrouted events since the last such warning" in worker.log_path.read_text()
    stored = stats(dsn)["events"]
    assert stored["patient_feedback"] == len(right + other_key + no_key + later)
    assert stored["incident_report"] == len(other_topic)
    (rows,) = query(
        dsn, "SELECT count() AS n, uniqExact(event_id) AS u FROM quality.patient_feedback"
    )
    assert rows == [
        {"n": len(right + other_key + no_key + later), "u": len(right + other_key + no_key + later)}
    ]


def test_a_stop_while_the_broker_is_down_is_clean(own_broker: OwnBroker, tmp_path: Path) -> None:
    """aiokafka's consumer, closed while a fetch waits to retry, raised `CancelledError` out of
    faust's consumer thread (a traceback), and faust then waited a minute for the thread.
    (A CI run once found no failed fetch in 60 s: the broker's last metadata had named no
    leader, so the fetcher was retrying metadata instead, 3,100 times a second before
    `pace_metadata_retries`.)"""
    bootstrap = own_broker.bootstrap
    prefix, group = unique("stop"), unique("stop-group")
    worker = start_worker(bootstrap, f"chdb://{tmp_path / 'clickhouse'}", prefix, group, tmp_path)
    try:
        worker.wait_for(lambda m: m.get("pipeline_assigned_partitions", 0) > 0, 90, "assigned")
        kcat(bootstrap, f"{prefix}.patient_feedback", [b"RXA/" + event(feedback, 1).encode()])
        worker.wait_for(lambda m: m.get("pipeline_messages_consumed_total", 0) >= 1, 60, "one")
        own_broker.stop()
        wait_until(lambda: probe(worker, "/readyz")[0] == 503, 60, "not ready", worker)
        # Which the consumer retries depends on the broker's last answers: a fetch, or (its
        # partitions left with no leader named) the metadata.
        retrying = ("Failed fetch messages", "Unable to update metadata")
        wait_until(lambda: any(r in worker.log(400) for r in retrying), 60, "a retry", worker)
    finally:
        code = worker.stop()
    log = worker.log_path.read_text()
    assert code == 0, worker.log()
    assert "Traceback" not in log and "Error while stopping child" not in log, worker.log()


def test_a_stop_with_records_the_broker_never_took_is_clean(
    own_broker: OwnBroker, tmp_path: Path
) -> None:
    """A batch's dead letters sent with the broker down stay in aiokafka's producer, retried
    until its request timeout (20 minutes): faust's producer flush on the way out waited for
    them, and SIGTERM did not stop the worker. ClickHouse is held down (injected) until the
    broker is gone, so that the batch publishes with Kafka away."""
    bootstrap = own_broker.bootstrap
    prefix, group = unique("unsent"), unique("unsent-group")
    topic = f"{prefix}.patient_feedback"
    outage = tmp_path / "clickhouse-is-down"
    faulty = [sys.executable, "-m", "tests.support.faulty_worker", str(outage)]
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    worker = start_worker(
        bootstrap, dsn, prefix, group, tmp_path, {"PYTHONPATH": str(REPO)}, faulty
    )
    try:
        worker.wait_for(lambda m: m.get("pipeline_assigned_partitions", 0) > 0, 90, "assigned")
        kcat(bootstrap, topic, [b"RXA/not an event"])  # the producer learns the dead letters' topic
        worker.wait_for(lambda m: m.get("pipeline_events_rejected_total", 0) >= 1, 60, "rejected")
        outage.touch()
        kcat(bootstrap, topic, [b"RXA/" + event(feedback, 1).encode(), b"RXA/still not an event"])
        worker.wait_for(lambda m: m.get("pipeline_sink_up", 1) == 0, 60, "ClickHouse down")
        own_broker.kill()  # the producer keeps the dead broker as the partitions' leader
        outage.unlink()
        wait_until(
            lambda: "Got error produce response" in worker.log(400), 60, "a failed send", worker
        )
    finally:
        outage.unlink(missing_ok=True)
        code = worker.stop()
    log = worker.log_path.read_text()
    assert code == 0, worker.log()
    assert "dropped; their batch was not acknowledged" in log, worker.log()
    assert "Traceback" not in log, worker.log()
