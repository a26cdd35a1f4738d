"""`pipeline publish` that fails midway says what it sent, what Kafka acknowledged, and where to
resume (a producer that stands in for a broker going away)."""

from __future__ import annotations

import argparse
import io
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters import publisher
from pipeline.cli.publish import add_publish_arguments, run_publish
from pipeline.errors import TransportError
from tests.support.event_examples import as_line, valid_event


class GoingAway:
    """Acknowledges the first `acknowledged` events sent; refuses the send numbered
    `refuse_at` (from 0), or else fails the flush."""

    def __init__(self, acknowledged: int, refuse_at: int | None) -> None:
        self._acknowledged = acknowledged
        self._refuse_at = refuse_at
        self.sent = 0
        self._places: list[Any] = []

    def send(self, event: Any, raw: bytes, place: object = None) -> None:
        if self.sent == self._refuse_at:
            raise TransportError("Kafka refused an event for q.patient_feedback: timed out")
        self._places.append(place)
        self.sent += 1

    def flush(self) -> None:
        if self.sent > self._acknowledged:
            raise TransportError("Kafka did not acknowledge the events within 60 s")

    @property
    def delivered(self) -> int:
        return min(self.sent, self._acknowledged)

    def acknowledged_by_topic(self) -> Counter[str]:
        return Counter({"q.patient_feedback": self.delivered}) if self.delivered else Counter()

    def first_unacknowledged(self) -> object:
        return self._places[self._acknowledged] if self.sent > self._acknowledged else None

    def close(self) -> None:
        pass


def run(monkeypatch: pytest.MonkeyPatch, producer: GoingAway, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(publisher, "EventProducer", lambda *args: producer)
    parser = argparse.ArgumentParser()
    add_publish_arguments(parser)
    stdout, stderr = io.StringIO(), io.StringIO()
    status = run_publish(parser.parse_args(list(argv)), stdout, stderr)
    return status, stdout.getvalue(), stderr.getvalue()


def lines(count: int) -> bytes:
    return b"".join(
        as_line(valid_event("patient_feedback", event_id=str(uuid.uuid4()))) + b"\n"
        for _ in range(count)
    )


def test_a_send_refused_midway_names_what_was_sent_acknowledged_and_where_to_resume(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first, second, third = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    first.write_bytes(lines(5))
    second.write_bytes(b"nope\n\n" + lines(6))  # a bad line and a blank one, then events
    third.write_bytes(lines(2))
    summary = tmp_path / "summary.json"
    # 5 + 4 sent, the 7th of b.jsonl's events refused; Kafka acknowledged the first 7
    producer = GoingAway(acknowledged=7, refuse_at=9)

    status, stdout, stderr = run(
        monkeypatch, producer, str(first), str(second), str(third), "--summary-json", str(summary)
    )

    assert status == 1 and stdout == ""
    told = stderr.splitlines()
    assert told[1] == "pipeline publish: Kafka refused an event for q.patient_feedback: timed out"
    assert told[2] == (
        "stopped after reading 11 lines: 9 events sent, 7 acknowledged by Kafka, 2 sent but "
        "not acknowledged (perhaps stored: the pipeline counts any that come again as "
        "duplicates), 1 rejected, 0 duplicates"
    )
    # b.jsonl's events are on lines 3-8: the first two acknowledged, line 5 not
    assert told[3] == f"resume from {second} line 5: every event before it was acknowledged"
    assert told[4] == f"  tail -n +5 {second} | pipeline publish -"
    assert told[5] == f"  then: pipeline publish {third}"
    written = json.loads(summary.read_text())
    assert written["failed"] == "Kafka refused an event for q.patient_feedback: timed out"
    assert (written["sent"], written["acknowledged"], written["not_acknowledged"]) == (9, 7, 2)
    assert written["published"] == 7 and written["read"] == 11
    assert written["resume_from"] == {"path": str(second), "line": 5}
    assert written["then"] == [str(third)]


def test_a_flush_that_fails_resumes_from_the_first_event_not_acknowledged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(lines(4))
    status, _, stderr = run(monkeypatch, GoingAway(acknowledged=4 - 1, refuse_at=None), str(source))
    assert status == 1
    assert "4 events sent, 3 acknowledged by Kafka, 1 sent but not acknowledged" in stderr
    assert f"resume from {source} line 4: every event before it was acknowledged" in stderr
    assert "then:" not in stderr


def test_a_refused_send_with_everything_before_it_acknowledged_resumes_at_that_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(lines(4))
    status, _, stderr = run(monkeypatch, GoingAway(acknowledged=2, refuse_at=2), str(source))
    assert status == 1
    assert "2 events sent, 2 acknowledged by Kafka, 0 sent but not acknowledged" in stderr
    assert f"resume from {source} line 3" in stderr


class Interrupted(GoingAway):
    def send(self, event: Any, raw: bytes, place: object = None) -> None:
        if self.sent == 3:
            raise KeyboardInterrupt
        super().send(event, raw, place)


def test_ctrl_c_midway_says_the_same_and_is_still_an_interruption(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(lines(5))
    stderr = io.StringIO()
    monkeypatch.setattr(publisher, "EventProducer", lambda *args: Interrupted(2, None))
    parser = argparse.ArgumentParser()
    add_publish_arguments(parser)
    with pytest.raises(KeyboardInterrupt):
        run_publish(parser.parse_args([str(source)]), io.StringIO(), stderr)
    told = stderr.getvalue()
    assert "3 events sent, 2 acknowledged by Kafka, 1 sent but not acknowledged" in told
    assert f"resume from {source} line 3: every event before it was acknowledged" in told
