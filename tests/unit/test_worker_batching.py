"""The worker's transport-neutral step: engine -> sink (retried) -> routes, and its restore."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.adapters.alert_topic import KafkaRoute, Record
from pipeline.adapters.metrics import PipelineMetrics
from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import Alert, AlertKind, AlertStatus, Severity
from pipeline.core.decode import RawMessage
from pipeline.core.detection import Finding
from pipeline.core.engine import BatchResult, Engine, EngineConfig
from pipeline.errors import SinkError, SinkUnavailable, TransportError
from pipeline.runtime.batching import (
    Abandoned,
    BatchStep,
    OpenWindows,
    RetryPolicy,
    org_of_payload,
)
from tests.support.events import feedback, raw

NOW = datetime(2024, 6, 1, tzinfo=UTC)
KEY = b"unit-test-key-0123456789"
FAST = RetryPolicy(initial=0.001, maximum=0.004)


class EveryUnitDetector:
    """A finding for every unit with closed windows: its evidence counts them."""

    def unit_findings(self, series: Sequence[UnitWindowAggregate]) -> list[Finding]:
        if not series:
            return []
        first, last = series[0], series[-1]
        return [
            Finding(
                kind=AlertKind.TARGET_EXPERIENCE_DIVERGENCE,
                org_id=first.org_id,
                unit_id=first.unit_id,
                first_window=first.window,
                last_window=last.window,
                ongoing=True,
                severity=Severity.LOW,
                summary="s",
                evidence={"windows": len(series)},
                detected_in=first.window,
            )
        ]

    def org_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        return []


class FakeSink:
    """In memory, with the WorkerSink interface; fails the next `failures` writes."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.alerts: dict[str, Alert] = {}
        self.history: list[Alert] = []
        self.delivered: dict[str, set[tuple[str, datetime]]] = {}
        self.writes: list[str] = []
        self.failures = 0
        self.error: type[SinkError] = SinkUnavailable

    def write(self, result: BatchResult, received_at: datetime, token: str = "") -> None:
        if self.failures:
            self.failures -= 1
            raise self.error("ClickHouse down")
        self.writes.append(token)
        self.payloads.extend(s.payload.encode() for s in result.accepted)
        for alert in result.alerts:
            self.alerts[alert.alert_id] = alert
            self.history.append(alert)

    def stored_payloads(self) -> Iterator[bytes]:
        yield from self.payloads

    def latest_alerts(self) -> list[Alert]:
        return list(self.alerts.values())

    def mark_delivered(self, versions: Sequence[tuple[str, datetime]], route: str) -> None:
        if self.failures:
            self.failures -= 1
            raise self.error("ClickHouse down")
        self.delivered.setdefault(route, set()).update(versions)

    def undelivered(self, route: str) -> list[Alert]:
        done = self.delivered.get(route, set())
        return [a for a in self.history if (a.alert_id, a.detected_at) not in done]

    def delivered_versions(self, route: str) -> set[tuple[str, datetime]]:
        return set(self.delivered.get(route, set()))

    def first_detected(self) -> dict[str, datetime]:
        first: dict[str, datetime] = {}
        for alert in self.history:
            first.setdefault(alert.alert_id, alert.detected_at)
        return first

    def window_ends(self, after: datetime | None) -> list[tuple[str, str, datetime, datetime]]:
        return []


class FakeTopic:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.failures = 0

    def send(self, records: Sequence[Record]) -> None:
        if self.failures:
            self.failures -= 1
            raise TransportError("broker away")
        self.records.extend(records)


def step(
    sink: FakeSink, topic: FakeTopic | None = None, **kwargs: Any
) -> tuple[BatchStep, PipelineMetrics]:
    metrics = PipelineMetrics()
    kafka = KafkaRoute(
        (topic or FakeTopic()).send, alerts_topic="q.alerts", dead_letter_topic="q.dead_letter"
    )
    built = BatchStep(
        lambda: Engine(EngineConfig(), KEY, detector=EveryUnitDetector()),
        sink,  # type: ignore[arg-type]
        metrics=metrics,
        kafka=kafka,
        retry=FAST,
        clock=lambda: NOW,
        **kwargs,
    )
    return built, metrics


def weeks_of_feedback(org: str, weeks: int = 4) -> list[dict[str, Any]]:
    start = datetime(2024, 3, 4, tzinfo=UTC)
    return [
        feedback(org_id=org, occurred_at=(start + timedelta(weeks=w, hours=1)).isoformat())
        for w in range(weeks)
    ] + [feedback(org_id=org, occurred_at=(start + timedelta(weeks=weeks + 2)).isoformat())]


def value(metrics: PipelineMetrics, name: str, labels: dict[str, str] | None = None) -> float:
    sample = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if sample is None else sample


def test_a_batch_is_stored_routed_and_counted() -> None:
    sink, topic = FakeSink(), FakeTopic()
    s, metrics = step(sink, topic)
    events = weeks_of_feedback("RXA")
    messages = [*raw(*events, events[0]), RawMessage(b"nope", "q.patient_feedback/0@9")]
    result = s.process(messages, {"q.patient_feedback": len(messages)}, "t1")

    assert sink.writes == ["t1"]
    assert len(result.accepted) == len(events) and result.duplicates == 1
    assert result.alerts, "closed windows raise the scripted finding"
    topics = [r.topic for r in topic.records]
    assert topics == ["q.dead_letter"] + ["q.alerts"] * len(result.alerts)
    assert sink.delivered["kafka"] == {(a.alert_id, a.detected_at) for a in result.alerts}

    consumed = value(metrics, "pipeline_messages_consumed_total", {"topic": "q.patient_feedback"})
    accepted = value(metrics, "pipeline_events_accepted_total", {"event_type": "patient_feedback"})
    rejected = value(metrics, "pipeline_events_rejected_total", {"reason": "not_json"})
    duplicates = value(metrics, "pipeline_events_duplicate_total")
    assert consumed == accepted + rejected + duplicates == len(messages)
    assert value(metrics, "pipeline_batch_size_sum") == len(messages)
    assert value(metrics, "pipeline_sink_up") == 1
    assert value(metrics, "pipeline_last_batch_timestamp_seconds") > 0
    alerts = value(
        metrics,
        "pipeline_alerts_total",
        {"kind": "target_experience_divergence", "severity": "low", "status": "open"},
    )
    assert alerts == len(result.alerts)


def test_sink_failures_are_retried_with_backoff_and_reported() -> None:
    sink = FakeSink()
    sink.failures = 3
    outages: list[bool] = []
    s, metrics = step(sink, on_outage=outages.append)
    result = s.process(raw(feedback()), {"t": 1}, "t1")
    assert len(result.accepted) == 1 and sink.writes == ["t1"]
    assert value(metrics, "pipeline_sink_retries_total") == 3
    assert value(metrics, "pipeline_sink_up") == 1
    assert outages == [True, False], "consumption paused once, resumed once"
    assert value(metrics, "pipeline_messages_consumed_total", {"topic": "t"}) == 1


def test_non_transient_sink_errors_are_retried_too() -> None:
    sink = FakeSink()
    sink.failures, sink.error = 2, SinkError
    s, metrics = step(sink)
    s.process(raw(feedback()), {"t": 1}, "t1")
    assert sink.writes == ["t1"] and value(metrics, "pipeline_sink_retries_total") == 2


def test_a_stop_while_waiting_for_clickhouse_abandons_the_batch_uncounted() -> None:
    sink = FakeSink()
    sink.failures = 10**9
    stop = threading.Event()
    s, metrics = step(sink, stop=stop)
    threading.Timer(0.05, stop.set).start()
    with pytest.raises(Abandoned):
        s.process(raw(feedback()), {"t": 1}, "t1")
    assert sink.writes == []
    assert value(metrics, "pipeline_messages_consumed_total", {"topic": "t"}) == 0
    assert value(metrics, "pipeline_sink_up") == 0


def test_kafka_route_failures_are_retried_and_counted() -> None:
    sink, topic = FakeSink(), FakeTopic()
    topic.failures = 2
    s, metrics = step(sink, topic)
    s.process([RawMessage(b"nope", "x")], {"x": 1}, "t")
    assert [r.topic for r in topic.records] == ["q.dead_letter"]
    assert value(metrics, "pipeline_alert_routing_failures_total", {"route": "kafka"}) == 2
    assert value(metrics, "pipeline_sink_retries_total") == 0


def test_restore_rebuilds_only_the_organisations_owned() -> None:
    sink = FakeSink()
    first, _ = step(sink)
    mine, theirs = weeks_of_feedback("AAA"), weeks_of_feedback("BBB")
    first.process(raw(*mine, *theirs), {"t": 10}, "t1")

    again, metrics = step(sink)
    again.restore(lambda org: org == "AAA")
    result = again.process(raw(*mine, *theirs), {"t": 10}, "t2")
    assert result.duplicates == len(mine), "owned organisation's events are known"
    assert {s.event.org_id for s in result.accepted} == {"BBB"}
    assert value(metrics, "pipeline_events_duplicate_total") == len(mine)


def test_restore_raises_nothing_again_and_publishes_what_was_not_routed() -> None:
    sink, topic = FakeSink(), FakeTopic()
    first, _ = step(sink, topic)
    first.process(raw(*weeks_of_feedback("AAA")), {"t": 5}, "t1")
    raised = len(sink.history)
    assert raised and len(topic.records) == raised
    # A version stored but never published: the worker died between the two.
    sink.delivered["kafka"].discard((sink.history[-1].alert_id, sink.history[-1].detected_at))

    topic_after = FakeTopic()
    restarted, _ = step(sink, topic_after)
    restarted.restore()
    assert len(sink.history) == raised, "no alert version raised again"
    assert [r.key.decode() for r in topic_after.records] == [sink.history[-1].alert_id]
    assert len(sink.delivered["kafka"]) == raised


def test_open_windows_follow_the_watermark() -> None:
    tracker = OpenWindows()
    engine = Engine(EngineConfig(), KEY, detector=EveryUnitDetector())
    result = engine.process(raw(*weeks_of_feedback("AAA", weeks=3)), NOW)
    count = tracker.update(result.windows, engine.watermark)
    assert count == 1  # only the last event's week is later than the watermark
    assert tracker.update((), datetime(2030, 1, 1, tzinfo=UTC)) == 0


def test_org_of_payload_reads_the_organisation_without_decoding() -> None:
    assert org_of_payload(b'{"schema_version":1,"org_id":"RXA","unit_id":"ED"}') == "RXA"
    assert org_of_payload(b'{"description":"\\"org_id\\":\\"NOPE\\"","org_id":"R1"}') == "R1"
    assert org_of_payload(b'{"org_id": "R2", "unit_id": "ED"}') == "R2"
    assert org_of_payload(b'{"unit_id":"ED",\n "org_id"\t:\t"R3"}') == "R3"
    assert org_of_payload(b"{}") is None
    assert org_of_payload(b"[]") is None


def test_retry_delays_double_up_to_the_cap() -> None:
    delays = RetryPolicy(initial=0.5, maximum=3).delays()
    assert [next(delays) for _ in range(6)] == [0.5, 1, 2, 3, 3, 3]


def test_an_alert_routed_to_alertmanager_is_recorded_as_delivered() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.submitted: list[Alert] = []

        def submit(self, alerts: Sequence[Alert]) -> None:
            self.submitted.extend(alerts)

        def delivered(self) -> list[tuple[str, datetime]]:
            return [(a.alert_id, a.detected_at) for a in self.submitted]

        def seed(self, alerts: Sequence[Alert], first: dict[str, datetime]) -> None:
            self.submitted.extend(alerts)

        def retain(self, keep: Callable[[Alert], bool]) -> None:
            self.submitted = [a for a in self.submitted if keep(a)]

    sink, recorder = FakeSink(), Recorder()
    s, _ = step(sink, alertmanager=recorder)
    result = s.process(raw(*weeks_of_feedback("AAA")), {"t": 5}, "t1")
    assert recorder.submitted == result.alerts
    assert sink.delivered["alertmanager"] == {(a.alert_id, a.detected_at) for a in result.alerts}
    assert all(a.status is AlertStatus.OPEN for a in result.alerts)
