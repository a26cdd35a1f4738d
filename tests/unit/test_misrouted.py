"""Events on the wrong Kafka key or topic (pipeline/runtime/misrouted.py): counted by reason,
told at most once per interval without anything of the event, and processed as usual."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from pipeline.adapters.metrics import PipelineMetrics
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.events import EVENT_MODELS, EventType
from pipeline.runtime.consumer_batches import Batch, BatchSource
from pipeline.runtime.misrouted import MisroutedEvents
from tests.support.events import feedback, incident

NOW = datetime(2024, 6, 1, tzinfo=UTC)
TOPIC_OF = {EVENT_MODELS[t]: f"q.{t.value}" for t in EventType}


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None
    timestamp: int = 0


def batch_of(*sent: tuple[str, bytes | None, dict[str, Any]]) -> Batch:
    """Records (topic, key, event) at offsets 0, 1, … of partition 0 of their topic."""
    records = [
        Record(topic, 0, offset, json.dumps(event).encode(), key)
        for offset, (topic, key, event) in enumerate(sent)
    ]
    return Batch(records, generation=1, epoch=0)


def processed(batch: Batch) -> Any:
    messages, _, _ = batch.messages()
    return Engine(EngineConfig(), b"k" * 32).process(messages, NOW)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_events_on_a_wrong_or_missing_key_or_another_topic_are_counted_and_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    batch = batch_of(
        ("q.patient_feedback", b"RXA", feedback(org_id="RXA")),  # right
        ("q.patient_feedback", b"RXA/ED", feedback(org_id="RXA")),  # the v1 key: right
        ("q.patient_feedback", b"RXB", feedback(org_id="RXA")),
        ("q.patient_feedback", None, feedback(org_id="RXA")),
        ("q.patient_feedback", b"", feedback(org_id="RXA")),
        ("q.patient_feedback", b"RXA", incident(org_id="RXA")),  # another kind's topic
        ("q.incident_report", b"RXAB", incident(org_id="RXA")),  # both wrong
    )
    result = processed(batch)
    assert len(result.accepted) == 7, "every one is valid, so stored"
    metrics = PipelineMetrics()
    check = MisroutedEvents(TOPIC_OF, metrics.misrouted)
    with caplog.at_level(logging.WARNING, "pipeline.worker"):
        found = check.check(batch.keys_by_origin(), result.accepted)

    assert found == {"key_not_org_id": 2, "key_missing": 2, "other_topic": 1}
    for reason, n in found.items():
        sample = metrics.registry.get_sample_value(
            "pipeline_events_misrouted_total", {"reason": reason}
        )
        assert sample == n
    (line,) = caplog.messages
    assert "2 key_not_org_id (e.g. q.patient_feedback/0@2)" in line
    assert "2 key_missing (e.g. q.patient_feedback/0@3)" in line
    assert "1 other_topic (e.g. q.patient_feedback/0@5)" in line
    for shown in ("RXB", "RXAB", "RXA "):
        assert shown not in line, "no key, organisation or event content"


def test_a_warning_at_most_once_per_interval_with_what_came_since() -> None:
    clock = Clock()
    told: list[str] = []
    check = MisroutedEvents(TOPIC_OF, lambda reason, n: None, every=60.0, clock=clock)
    handler = logging.Handler()
    handler.emit = lambda record: told.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("pipeline.worker")
    logger.addHandler(handler)
    try:
        wrong = batch_of(("q.patient_feedback", b"NOT", feedback(org_id="RXA")))
        accepted = processed(wrong).accepted
        check.check(wrong.keys_by_origin(), accepted)
        clock.now = 30.0
        check.check(wrong.keys_by_origin(), accepted)
        check.check(wrong.keys_by_origin(), accepted)
        assert len(told) == 1
        clock.now = 61.0
        check.check(wrong.keys_by_origin(), accepted)
        clock.now = 90.0
        check.check(wrong.keys_by_origin(), accepted)  # none follows: told when due
        check.tell()
        assert len(told) == 2
        clock.now = 122.0
        check.tell()
        check.tell()
    finally:
        logger.removeHandler(handler)
    assert len(told) == 3
    assert "1 key_not_org_id" in told[0] and "3 key_not_org_id" in told[1]
    assert "1 key_not_org_id" in told[2]


def test_the_source_checks_each_processed_batch() -> None:
    metrics = PipelineMetrics()
    source = BatchSource(
        object(), ["q.patient_feedback"], 10, MisroutedEvents(TOPIC_OF, metrics.misrouted)
    )
    batch = batch_of(("q.patient_feedback", None, feedback(org_id="RXA")))
    source.processed(batch, processed(batch))
    sample = metrics.registry.get_sample_value(
        "pipeline_events_misrouted_total", {"reason": "key_missing"}
    )
    assert sample == 1


def test_every_reason_is_exported_at_zero_before_any_event() -> None:
    """PipelineEventsMisrouted is `increase(pipeline_events_misrouted_total[1h]) > 0`, with no
    `for`: one misrouted batch is worth telling. A series Prometheus first sees at 42 has no
    increase, so a one-off burst never fired it (a real worker and Prometheus: 42 misrouted
    events, the rule's expression 0, no alert). Each reason starts at 0 instead."""
    metrics = PipelineMetrics()
    MisroutedEvents(TOPIC_OF, metrics.misrouted)
    get = metrics.registry.get_sample_value
    for reason in ("key_missing", "key_not_org_id", "other_topic"):
        assert get("pipeline_events_misrouted_total", {"reason": reason}) == 0.0, reason


def test_an_organisation_split_across_partitions_is_counted_whatever_its_keys() -> None:
    """Seen from outside (twenty-fourth session): kcat on the v1 key `org_id/unit_id` put one
    unit of an organisation on partition 3 and the rest on partition 4; the key looks right, so
    nothing was counted, though with several workers the organisation would be split."""
    sent = [("q.patient_feedback", 4, b"RQA1/ward-a", "RQA1"),
            ("q.patient_feedback", 3, b"RQA1/ward-div", "RQA1"),  # another unit's partition
            ("q.patient_feedback", 3, b"RXB", "RXB"),  # another organisation: its own
            ("q.incident_report", 3, b"RQA1/ward-div", "RQA1")]  # first of its topic  # fmt: skip
    records = [
        Record(topic, partition, offset, json.dumps(feedback(org_id=org)).encode(), key)
        if topic == "q.patient_feedback"
        else Record(topic, partition, offset, json.dumps(incident(org_id=org)).encode(), key)
        for offset, (topic, partition, key, org) in enumerate(sent)
    ]
    batch = Batch(records, generation=1, epoch=0)
    metrics = PipelineMetrics()
    check = MisroutedEvents(TOPIC_OF, metrics.misrouted)
    accepted = processed(batch).accepted  # before the keys: it gives the records' origins
    assert check.check(batch.keys_by_origin(), accepted) == {"organisation_split": 1}
    sample = metrics.registry.get_sample_value(
        "pipeline_events_misrouted_total", {"reason": "organisation_split"}
    )
    assert sample == 1
