"""Clean stops under load: SIGTERM mid catch-up and mid ClickHouse outage exit 0 within 30 s,
with offsets committed for what was stored; the restart stores every event exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.test_worker import assert_accounting, consumed, stored_exactly_once
from tests.integration.worker_harness import (
    Worker,
    committed,
    create_topics,
    publish,
    start_worker,
    synthetic,
    unique,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
STOP_WITHIN_SECONDS = 30.0


def stop_timed(worker: Worker) -> tuple[int, float]:
    started = time.monotonic()
    status = worker.stop(timeout=STOP_WITHIN_SECONDS + 10)
    return status, time.monotonic() - started


def test_sigterm_mid_catch_up_and_mid_outage_then_every_event_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix, group = unique("stop"), unique("stop-group")
    data = synthetic(weeks=30, feedback_per_week=25)
    create_topics(kafka_bootstrap, prefix)
    publish(kafka_bootstrap, prefix, data.messages)  # the backlog, before any worker runs
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    outage = tmp_path / "clickhouse-is-down"
    env = {
        "PIPELINE_WORKER_FAULT_SINK_OUTAGE_FILE": str(outage),
        "PIPELINE_BATCH_MAX_EVENTS": "200",
    }
    total = len(data.messages)

    # 1. SIGTERM while catching up with the backlog.
    first = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / "1", env)
    try:
        mid = first.wait_for(lambda m: consumed(m) >= 1000, 120, "catch-up under way")
        assert consumed(mid) < total, "stopped mid catch-up"
    finally:
        status, took = stop_timed(first)
    assert status == 0 and took < STOP_WITHIN_SECONDS, (status, took, first.log())
    after_first = sum(committed(kafka_bootstrap, group).values())
    assert 0 < after_first < total, "what was stored is committed, the rest is not"

    # 2. SIGTERM while ClickHouse is down and the batch in flight waits for it.
    second = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / "2", env)
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
    third = start_worker(kafka_bootstrap, dsn, prefix, group, tmp_path / "3", env)
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
