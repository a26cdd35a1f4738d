"""`pipeline worker` on a real Kafka broker, as a subprocess, writing to embedded ClickHouse.

Each test has its own topic prefix, consumer group and chDB directory; the broker is the
session's. ClickHouse is read only after the worker exited (one chDB directory, one process).
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.alerts import Alert
from pipeline.core.stored import EVENT_TABLES
from tests.support.alerts import FakeAlertmanager
from tests.support.kcat_publisher import publish_kcat
from tests.support.tools import tool
from tests.support.worker_data import EVENT_TYPES, Dataset, synthetic
from tests.support.worker_harness import (
    REPO,
    Worker,
    all_committed,
    committed,
    create_topics,
    publish,
    query,
    query_each,
    read_topic,
    start_worker,
    stats,
    unique,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
Publish = Callable[..., int]


@pytest.fixture(params=["pipeline-publish", "kcat"])
def send(request: pytest.FixtureRequest) -> Publish:
    """How events reach the topics: the pipeline's own publisher (murmur2 of org_id), or kcat
    with librdkafka's default partitioner (CRC32 of the key): results must not differ."""
    if request.param == "kcat":
        tool("kcat")  # skipped without it, failed under CI (make test installs it)
        return publish_kcat
    return publish


def consumed(metrics: dict[str, float]) -> float:
    return metrics.get("pipeline_messages_consumed_total", 0.0)


def assert_accounting(metrics: dict[str, float]) -> None:
    assert consumed(metrics) == (
        metrics.get("pipeline_events_accepted_total", 0.0)
        + metrics.get("pipeline_events_rejected_total", 0.0)
        + metrics.get("pipeline_events_duplicate_total", 0.0)
    )


def wait_committed(bootstrap: str, worker: Worker, prefix: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise AssertionError(f"worker exited: {worker.log()}")
        if all_committed(bootstrap, worker.group, prefix):
            return
        time.sleep(0.5)
    raise AssertionError(f"offsets not all committed in {timeout}s\n{worker.log()}")


def stored_exactly_once(dsn: str, data: Dataset) -> tuple[dict[str, Any], list[Alert]]:
    """Every event stored once: the distinct ids are the ids sent, and no event has two rows,
    not even before merges (no FINAL). Returns `pipeline stats` and the stored alert versions."""
    from pipeline.adapters.clickhouse.rows import alert_from_row

    sqls = ["SELECT * FROM quality.alert_history FINAL ORDER BY detected_at"]
    for table in EVENT_TABLES.values():
        sqls.append(f"SELECT toString(event_id) AS id FROM quality.{table} FINAL")
        sqls.append(f"SELECT count() AS rows, uniqExact(event_id) AS ids FROM quality.{table}")
    history, *results = query(dsn, *sqls)
    for n, (table, event_type) in enumerate(zip(EVENT_TABLES.values(), EVENT_TYPES, strict=True)):
        ids = {row["id"] for row in results[2 * n]}
        assert ids == data.event_ids.get(event_type, set()), table
        (counts,) = results[2 * n + 1]
        assert int(counts["rows"]) == int(counts["ids"]) == len(ids), f"{table}: a row twice"
    return stats(dsn), [alert_from_row(row) for row in history]


def topic_alerts(bootstrap: str, prefix: str) -> list[Alert]:
    return [Alert.model_validate_json(v) for _, v in read_topic(bootstrap, f"{prefix}.alerts")]


def assert_no_alert_raised_twice(versions: list[Alert]) -> None:
    """Per alert, each version says something new: none repeats its predecessor."""
    by_id: dict[str, list[Alert]] = {}
    for alert in sorted(versions, key=lambda a: a.detected_at.timestamp()):
        by_id.setdefault(alert.alert_id, []).append(alert)
    for alert_id, history in by_id.items():
        for before, after in itertools.pairwise(history):
            assert not before.same_finding(after), f"{alert_id} raised twice: {after}"


def key(alert: Alert) -> tuple[str, float]:
    return alert.alert_id, alert.detected_at.timestamp()


def test_walking_skeleton_publish_process_stop(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Published events end up in ClickHouse exactly; SIGTERM stops the worker cleanly (0)."""
    prefix, group = unique("wsk"), unique("wsk-group")
    data = synthetic(weeks=16)
    create_topics(kafka_bootstrap, prefix)
    publish(kafka_bootstrap, prefix, data.messages)
    dsn = f"chdb://{tmp_path / 'clickhouse'}"

    alertmanager = FakeAlertmanager()
    env = {
        "PIPELINE_ALERTMANAGER_URL": alertmanager.url,
        "PIPELINE_ALERTMANAGER_RESEND_SECONDS": "1",
    }
    worker = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path, env)
    try:
        metrics = worker.wait_for(
            lambda m: consumed(m) >= len(data.messages), 60, "every message processed"
        )
        assert worker.health() == 200
        # Two more posts while the worker runs: every alert still open was posted by a resend,
        # not only by the last post on the stop.
        alertmanager.wait_for_posts(len(alertmanager.posts) + 2, 60)
        assert metrics["pipeline_sink_up"] == 1
        assert metrics["pipeline_assigned_partitions"] == 4 * len(EVENT_TYPES)
    finally:
        status = worker.stop()
        alertmanager.close()
    assert status == 0, worker.log()
    assert "stop requested" in worker.log_path.read_text()
    # stdout and stderr go to a file: no terminal escape (faust's spinner shows the cursor)
    assert b"\x1b" not in worker.log_path.read_bytes(), worker.log()
    assert all_committed(kafka_bootstrap, group, prefix), "offsets committed on SIGTERM"

    assert consumed(metrics) == len(data.messages)
    assert_accounting(metrics)
    assert metrics["pipeline_events_accepted_total"] == sum(data.distinct_events.values())
    assert metrics["pipeline_events_rejected_total"] == data.bad
    assert metrics["pipeline_events_duplicate_total"] == data.duplicates

    summary, stored = stored_exactly_once(dsn, data)
    assert summary["events"] == data.distinct_events
    assert summary["rejected"] == data.bad

    letters = [json.loads(v) for _, v in read_topic(kafka_bootstrap, f"{prefix}.dead_letter")]
    assert len(letters) == data.bad
    assert all(set(d) == {"reason", "field", "detail", "origin", "raw_base64"} for d in letters)
    assert all(d["origin"].startswith(f"{prefix}.") for d in letters)
    assert b"not json at all" in {base64.b64decode(d["raw_base64"]) for d in letters}
    assert Counter(d["reason"] for d in letters)["not_json"] == 1

    published = topic_alerts(kafka_bootstrap, prefix)
    assert stored, "the divergent units raise alerts"
    assert {key(a) for a in published} == {key(a) for a in stored}
    assert len(published) == len(stored)
    assert metrics["pipeline_alerts_total"] == len(stored)
    assert_no_alert_raised_twice(stored)

    # Alertmanager: every alert's latest state, labelled, starting at its first version, open
    # ones posted again and again (which keeps them firing).
    posted: dict[str, list[dict[str, Any]]] = {}
    for post in alertmanager.posts:
        for entry in post:
            posted.setdefault(entry["labels"]["alert_id"], []).append(entry)
    latest = {a.alert_id: a for a in sorted(stored, key=lambda a: a.detected_at.timestamp())}
    assert set(posted) == set(latest)
    for alert_id, entries in posted.items():
        first = min(a.detected_at for a in stored if a.alert_id == alert_id)
        assert {e["startsAt"] for e in entries} == {first.isoformat().replace("+00:00", "Z")}
        assert entries[-1]["labels"]["kind"] == latest[alert_id].kind.value
        if latest[alert_id].status.value == "open":
            assert len(entries) >= 2, "an open alert is re-posted"
    assert metrics.get("pipeline_alert_routing_failures_total", 0) == 0


def dedupe(alerts: list[Alert]) -> list[Alert]:
    """One record per version: a version re-sent after a crash (at-least-once) counts once."""
    seen: dict[tuple[str, float], Alert] = {}
    for alert in alerts:
        seen.setdefault(key(alert), alert)
    return list(seen.values())


def test_sigkill_mid_stream_and_restart_store_every_event_once(
    kafka_bootstrap: str, tmp_path: Path, send: Publish
) -> None:
    """A worker killed with SIGKILL while events stream in, then restarted: every event is stored
    exactly once (no duplicate row at all), no alert is raised twice, accounting holds."""
    prefix, group = unique("kill"), unique("kill-group")
    data = synthetic(weeks=16)
    create_topics(kafka_bootstrap, prefix)
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    small_batches = {"PIPELINE_BATCH_MAX_EVENTS": "100"}

    first = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path, small_batches)
    # The last fifth is sent only once the first worker is killed: on a busy machine the
    # worker raised its first alert after the whole stream was in, and was killed idle.
    killed = threading.Event()
    cut = len(data.messages) * 4 // 5

    def stream() -> None:  # slowly: the worker keeps up, so it is killed mid-stream
        send(kafka_bootstrap, prefix, data.messages[:cut], pause_every=150, pause=0.2)
        killed.wait(120)
        send(kafka_bootstrap, prefix, data.messages[cut:], pause_every=150, pause=0.2)

    publisher = threading.Thread(target=stream)
    second: Worker | None = None
    try:
        first.wait_for(
            lambda m: m.get("pipeline_assigned_partitions") == 4 * len(EVENT_TYPES), 60, "ready"
        )
        publisher.start()
        killed_at = first.wait_for(
            lambda m: m.get("pipeline_alerts_total", 0) >= 1, 60, "alerts raised mid-stream"
        )
        first.kill()
        killed.set()
        second = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path, small_batches)
        publisher.join(120)
        wait_committed(kafka_bootstrap, second, prefix, timeout=90)
        metrics = second.metrics()
    finally:
        first.kill()
        killed.set()
        publisher.join(120)
        status = second.stop() if second is not None else None
    assert status == 0, second.log() if second else ""

    assert_accounting(metrics)
    assert consumed(killed_at) < len(data.messages), "killed mid-stream"
    assert 0 < consumed(metrics) < len(data.messages), "the restart resumed mid-stream"
    restored = [line for line in second.log().splitlines() if "state restored" in line]
    # organisations are restored as their first events arrive: one of them had alerts
    assert any(" 0 alerts" not in line for line in restored), "alerts before the kill restored"

    summary, stored = stored_exactly_once(dsn, data)
    assert summary["events"] == data.distinct_events
    assert summary["rejected"] == data.bad
    assert stored, "the divergent units raise alerts"
    assert_no_alert_raised_twice(stored)
    published = dedupe(topic_alerts(kafka_bootstrap, prefix))
    assert {key(a) for a in published} == {key(a) for a in stored}, "every version published"
    assert_no_alert_raised_twice(published)


def test_sigterm_while_rejoining_after_a_killed_member_exits_within_the_bound(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Seen from outside (twenty-fourth session): a worker started after one was killed sits
    in a JoinGroup the broker holds until the killed member's session times out; SIGTERM then
    took 38 s (the process waited for the consumer thread after faust gave up on it), so an
    orchestrator would kill it and the next start wait again."""
    prefix, group = unique("rejoin"), unique("rejoin-group")
    create_topics(kafka_bootstrap, prefix)
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    default = {"PIPELINE_WORKER_SESSION_TIMEOUT_SECONDS": "60"}  # the harness's is 6 s
    first = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / "1", default)
    try:
        first.wait_for(
            lambda m: m.get("pipeline_assigned_partitions") == 4 * len(EVENT_TYPES), 60, "ready"
        )
    finally:
        first.kill()
    second = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / "2", default)
    try:
        deadline = time.monotonic() + 60
        while "(Re-)joining group" not in second.log(400):
            assert time.monotonic() < deadline, second.log()
            time.sleep(0.2)
        time.sleep(1)
        assert "Joined group" not in second.log(400), "still waiting for the killed member"
    finally:
        status, took = stop_timed(second)
    assert status == 0 and took < STOP_WITHIN_SECONDS, (status, took, second.log())


@pytest.mark.parametrize(
    "moment",
    [
        "kafka.net.selector: IO loop starting (client_id=pipeline-topics)",  # building
        "[^FaustWorker]: Starting...",  # faust starting, its handlers not yet installed
    ],
)
def test_sigterm_while_starting_exits_zero(
    kafka_bootstrap: str, tmp_path: Path, moment: str
) -> None:
    """Seen from outside (twenty-fourth session): SIGTERM within the worker's first two
    seconds (before faust installs its handlers) ended it with status 143."""
    prefix, group = unique("starting"), unique("starting-group")
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    worker = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / "w")
    try:
        deadline = time.monotonic() + 60
        while moment not in worker.log(400):
            assert worker.process.poll() is None and time.monotonic() < deadline, worker.log()
            time.sleep(0.02)
    finally:
        status, took = stop_timed(worker)
    assert status == 0 and took < STOP_WITHIN_SECONDS, (status, took, worker.log())
    assert "Traceback" not in worker.log(400)


def test_clickhouse_outage_pauses_consumption_and_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path, send: Publish
) -> None:
    """ClickHouse writes fail for a while (injected in the worker's sink, below the real retry
    loop): the worker retries with backoff, stops consuming (back-pressure), reports it in
    metrics and /healthz, and when ClickHouse is back stores everything exactly once."""
    prefix, group = unique("outage"), unique("outage-group")
    data = synthetic(weeks=16)
    half = len(data.messages) // 2
    create_topics(kafka_bootstrap, prefix)
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    outage = tmp_path / "clickhouse-is-down"
    # The real worker, with a fake around its sink (tests/support/faults.py).
    faulty = [sys.executable, "-m", "tests.support.faulty_worker", str(outage)]

    send(kafka_bootstrap, prefix, data.messages[:half])
    worker = start_worker(
        kafka_bootstrap, dsn, prefix, group, tmp_path, {"PYTHONPATH": str(REPO)}, faulty
    )
    try:
        worker.wait_for(lambda m: consumed(m) == half, 60, "the first half processed")
        assert worker.health() == 200
        outage.touch()
        send(kafka_bootstrap, prefix, data.messages[half:])
        during = worker.wait_for(
            lambda m: (
                m.get("pipeline_sink_retries_total", 0) >= 3
                and m["pipeline_sink_up"] == 0
                and m.get("pipeline_consumer_lag", 0) > 0
            ),
            30,
            "retries while ClickHouse is down",
        )
        assert worker.health() == 503
        still = worker.wait_for(  # two more retries: nothing was consumed meanwhile
            lambda m: m["pipeline_sink_retries_total"] > during["pipeline_sink_retries_total"] + 1,
            30,
            "more retries while ClickHouse is down",
        )
        assert consumed(still) == consumed(during) == half, "nothing consumed while down"
        assert "consumption stops" in worker.log_path.read_text()
        outage.unlink()
        after = worker.wait_for(
            lambda m: consumed(m) == len(data.messages), 60, "everything after the outage"
        )
        assert after["pipeline_sink_up"] == 1
        assert worker.health() == 200
        wait_committed(kafka_bootstrap, worker, prefix)
    finally:
        outage.unlink(missing_ok=True)
        status = worker.stop()
    assert status == 0, worker.log()
    assert_accounting(after)
    assert after["pipeline_events_duplicate_total"] == data.duplicates
    summary, _ = stored_exactly_once(dsn, data)
    assert summary["events"] == data.distinct_events
    assert summary["rejected"] == data.bad


def _rows(dsn: str, sql: str) -> list[dict[str, Any]]:
    (rows,) = query(dsn, sql)
    return rows


def _frozen(rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> set[str]:
    return {json.dumps({k: v for k, v in r.items() if k not in drop}, sort_keys=True) for r in rows}


def test_two_workers_give_the_same_results_as_one(
    kafka_bootstrap: str, tmp_path: Path, send: Publish
) -> None:
    """Two workers in one group split the partitions (an organisation stays on one) and
    together store and raise what a single worker does on the same topics. Each has its own
    chDB directory (one process per directory), so their union is compared with the store of a
    single worker, which reads the same topics at the same time in a group of its own."""
    prefix = unique("pair")
    data = synthetic(weeks=16)
    create_topics(kafka_bootstrap, prefix)
    pair_group, single_group = unique("pair-group"), unique("single-group")
    dsns = [f"chdb://{tmp_path / name}" for name in ("a", "b", "single")]
    groups = [pair_group, pair_group, single_group]
    topic_partitions = 4 * len(EVENT_TYPES)

    workers = [
        start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / f"w{n}")
        for n, (dsn, group) in enumerate(zip(dsns, groups, strict=True))
    ]
    pair, single = workers[:2], workers[2]
    try:
        # Publish only once the pair has split the partitions: no partition changes hands
        # mid-stream (each directory then holds exactly its organisations).
        shares: list[float] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                shares = [w.metrics().get("pipeline_assigned_partitions", 0) for w in workers]
            except OSError:
                shares = []
            if shares and all(shares) and sum(shares[:2]) == shares[2] == topic_partitions:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"partitions not assigned as expected: {shares}")
        send(kafka_bootstrap, prefix, data.messages)
        single.wait_for(lambda m: consumed(m) == len(data.messages), 60, "the single worker")
        pair[0].wait_for(
            lambda m: consumed(m) + consumed(pair[1].metrics()) == len(data.messages),
            60,
            "the pair processed everything",
        )
        final = [w.metrics() for w in workers]
    finally:
        for w in workers:
            w.terminate()
        statuses = [w.stop() for w in workers]
    assert statuses == [0, 0, 0]
    assert all(consumed(m) > 0 for m in final[:2]), "both workers took part"
    for m in final:
        assert_accounting(m)

    queries = {
        "events": " UNION ALL ".join(
            f"SELECT toString(event_id) AS id, org_id FROM quality.{t} FINAL"
            for t in EVENT_TABLES.values()
        ),
        "rejected": "SELECT rejection_id, reason, origin FROM quality.rejected_events FINAL",
        "windows": "SELECT * FROM quality.unit_windows FINAL",
        "alerts": "SELECT * FROM quality.alerts FINAL WHERE status != 'withdrawn'",
    }
    results = query_each([(dsn, list(queries.values())) for dsn in dsns])
    a_events, b_events = ({r["id"] for r in results[n][0]} for n in range(2))
    assert not a_events & b_events, "no event stored by both workers"
    orgs = [{r["org_id"] for r in results[n][0]} for n in range(2)]
    assert not orgs[0] & orgs[1], "an organisation lives on one worker"
    for index, name in enumerate(queries):
        drop = ("detected_at",) if name == "alerts" else ()
        union = _frozen(results[0][index], drop) | _frozen(results[1][index], drop)
        assert union == _frozen(results[2][index], drop), name
    assert results[2][3], "the single worker raised alerts"


STOP_WITHIN_SECONDS = 30.0


def stop_timed(worker: Worker) -> tuple[int, float]:
    started = time.monotonic()
    status = worker.stop(timeout=STOP_WITHIN_SECONDS + 10)
    return status, time.monotonic() - started


def test_sigterm_mid_catch_up_and_mid_outage_then_every_event_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Clean stops under load: SIGTERM mid catch-up and mid ClickHouse outage exit 0 within
    30 s, with offsets committed for what was stored; the restart stores every event once."""
    prefix, group = unique("stop"), unique("stop-group")
    data = synthetic(weeks=30, feedback_per_week=25)
    create_topics(kafka_bootstrap, prefix)
    publish(kafka_bootstrap, prefix, data.messages)  # the backlog, before any worker runs
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    outage = tmp_path / "clickhouse-is-down"
    env = {"PYTHONPATH": str(REPO), "PIPELINE_BATCH_MAX_EVENTS": "200"}
    # The real worker, with a fake around its sink (tests/support/faults.py).
    faulty = [sys.executable, "-m", "tests.support.faulty_worker", str(outage)]
    total = len(data.messages)

    # 1. SIGTERM while catching up with the backlog.
    first = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / "1", env, faulty)
    try:
        mid = first.wait_for(lambda m: consumed(m) >= 1000, 120, "catch-up under way")
        assert consumed(mid) < total, "stopped mid catch-up"
    finally:
        status, took = stop_timed(first)
    assert status == 0 and took < STOP_WITHIN_SECONDS, (status, took, first.log())
    after_first = sum(committed(kafka_bootstrap, group).values())
    assert 0 < after_first < total, "what was stored is committed, the rest is not"

    # 2. SIGTERM while ClickHouse is down and the batch in flight waits for it.
    second = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / "2", env, faulty)
    try:
        second.wait_for(lambda m: consumed(m) > 0, 120, "processing resumed")
        outage.touch()
        second.wait_for(
            lambda m: m.get("pipeline_sink_retries_total", 0) >= 2, 60, "retrying ClickHouse"
        )
    finally:
        status, took = stop_timed(second)
        outage.unlink(missing_ok=True)
    assert status == 0 and took < STOP_WITHIN_SECONDS, (status, took, second.log())
    assert "abandoning it" in second.log(200), "the batch in flight was abandoned unacknowledged"

    # 3. A clean run to the end: every event stored exactly once.
    third = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / "3", env, faulty)
    try:
        deadline = time.monotonic() + 240
        while sum(committed(kafka_bootstrap, group).values()) < total:
            assert time.monotonic() < deadline, third.log()
            time.sleep(1)
        metrics = third.metrics()
    finally:
        status, took = stop_timed(third)
    assert status == 0 and took < STOP_WITHIN_SECONDS, (status, took, third.log())
    assert_accounting(metrics)
    summary, _ = stored_exactly_once(dsn, data)
    assert summary["events"] == data.distinct_events
    assert summary["rejected"] == data.bad
