"""The Kafka clients' repeated lines, once a minute (pipeline/cli/log_repeats.py)."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.cli.log_repeats import RepeatsFilter
from pipeline.cli.main import main


def _record(name: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_kafka_client_line_repeated_while_a_broker_is_down_passes_once_a_minute() -> None:
    """Found by the black-box check: a worker whose broker stopped logged about 40 such lines
    a second."""
    now = [0.0]
    repeats = RepeatsFilter(every=60.0, clock=lambda: now[0])
    template = "Unable connect to node with id %s: %s"
    passed = []
    for tick in range(600):  # a minute at ten a second
        now[0] = tick / 10
        record = _record("aiokafka", template, 1, "[Errno 111] Connect call failed")
        if repeats.filter(record):
            passed.append(record.getMessage())
    now[0] = 60.0
    later = _record("aiokafka", template, 1, "[Errno 111] Connect call failed")
    assert repeats.filter(later)
    assert passed == ["Unable connect to node with id 1: [Errno 111] Connect call failed"]
    assert later.getMessage() == (
        "Unable connect to node with id 1: [Errno 111] Connect call failed "
        "[599 more like this in the last 60 s]"
    )


def test_other_lines_and_other_kinds_pass() -> None:
    repeats = RepeatsFilter(clock=lambda: 0.0)
    for _ in range(3):
        assert repeats.filter(_record("pipeline.worker", "batch stored"))
        assert repeats.filter(_record("faust.worker", "Starting..."))
    assert repeats.filter(_record("aiokafka.consumer.fetcher", "Failed fetch messages from %s", 1))
    assert repeats.filter(_record("aiokafka.cluster", "Failed fetch messages from %s", 1))
    assert repeats.filter(_record("aiokafka.cluster", "Failed fetch messages from %s", 1, level=20))
    assert not repeats.filter(_record("aiokafka.cluster", "Failed fetch messages from %s", 2))
    assert repeats.filter(_record("kafkaesque", "not a Kafka client"))
    assert repeats.filter(_record("kafkaesque", "not a Kafka client"))


def test_the_command_leaves_log_handlers_it_did_not_install_alone(tmp_path: Path) -> None:
    """`pipeline` run in-process (tests, a host program): a filter it put on a handler it did
    not install outlived the call; pytest's log capture then dropped aiokafka's repeated lines
    in later tests (tests/unit/test_kafka_metadata_pacing.py failed after test_cli_outputs.py)."""
    host = logging.Handler()
    root = logging.getLogger()
    root.addHandler(host)
    try:
        assert main(["report", "--out", str(tmp_path)]) == 1
    finally:
        root.removeHandler(host)
    assert not host.filters
