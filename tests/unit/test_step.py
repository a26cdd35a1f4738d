"""The transport-neutral step: engine -> store (retried, refusals dead-lettered) -> routes,
and its restore from the small state it stores."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.adapters.alert_topic import KafkaRoute, Record
from pipeline.adapters.metrics import PipelineMetrics
from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import Alert, AlertKind, AlertStatus, Severity
from pipeline.core.board import BoardRow
from pipeline.core.decode import RawMessage
from pipeline.core.detection import Finding
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.stored import StoredEvent
from pipeline.errors import SinkError, SinkRejected, StateRefused, TransportError
from pipeline.runtime.legacy import org_of_payload
from pipeline.runtime.routing import Routes
from pipeline.runtime.step import Abandoned, RetryPolicy, Step, collector_paused
from tests.support.events import feedback, incident, metric, raw, response
from tests.support.memory_store import MemoryStore as FakeSink

NOW = datetime(2024, 6, 1, tzinfo=UTC)
KEY = b"unit-test-key-0123456789"
FAST = RetryPolicy(initial=0.001, maximum=0.004)


class EveryUnitDetector:
    """A finding for every unit with closed windows: its evidence counts them."""

    def units_findings(self, units: Mapping[str, Sequence[UnitWindowAggregate]]) -> list[Finding]:
        return [f for series in units.values() for f in self.unit_findings(series)]

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
    sink: FakeSink, topic: FakeTopic | None = None, alertmanager: Any = None, **kwargs: Any
) -> tuple[Step, PipelineMetrics]:
    metrics = PipelineMetrics()
    kafka = KafkaRoute(
        (topic or FakeTopic()).send, alerts_topic="q.alerts", dead_letter_topic="q.dead_letter"
    )
    built = Step(
        lambda: Engine(EngineConfig(), KEY, detector=EveryUnitDetector()),
        sink,
        metrics=metrics,
        routes=Routes(kafka, alertmanager),
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


def test_other_sink_errors_are_retried_too() -> None:
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


@pytest.mark.parametrize(
    "write",
    [
        "write_windows",
        "write_side_state",
        "write_progress",
        "write_outcomes",
        "write_judged",
        "mark_delivered",
    ],
)
def test_a_refusal_of_the_pipelines_own_rows_stops_the_step_unacknowledged(write: str) -> None:
    sink = FakeSink()
    sink.refuse_writes = {write}
    stop = threading.Event()
    guard = threading.Timer(10.0, stop.set)  # retried for ever, this would end in Abandoned
    guard.start()
    s, metrics = step(sink, stop=stop)
    events = [*weeks_of_feedback("RXA"), response(org_id="RXA")]
    try:
        with pytest.raises(StateRefused, match=f"cannot .*refused the rows of {write}"):
            s.process(raw(*events), {"t": len(events)}, "t1")
    finally:
        guard.cancel()
    assert not stop.is_set()
    assert value(metrics, "pipeline_sink_retries_total") == 0, "a refusal is not retried"
    assert value(metrics, "pipeline_messages_consumed_total", {"topic": "t"}) == 0
    assert not s.health.down, "not an outage"


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
    assert {org for org, _ in again.engine.closed_series()} == {"AAA"}
    assert again.engine.remembered_ids == 1, "only the open week's id is held in memory"
    result = again.process(raw(*mine, *theirs), {"t": 10}, "t2")
    # ids of other organisations and of closed windows are asked of the store: exact
    assert result.duplicates == len(mine) + len(theirs) and not result.accepted
    assert sink.lookups, "the store was asked"
    assert value(metrics, "pipeline_events_duplicate_total") == len(mine) + len(theirs)


def test_an_id_reused_under_another_organisation_counts_once() -> None:
    sink = FakeSink()
    first, _ = step(sink)
    first.restore(lambda org: org == "AAA")
    event = feedback(org_id="AAA")
    first.process(raw(event), {"t": 1}, "t1")
    second, _ = step(sink)
    second.restore(lambda org: org == "BBB")
    result = second.process(raw({**event, "org_id": "BBB"}), {"t": 1}, "t2")
    assert result.duplicates == 1 and not result.accepted


def test_restore_is_from_the_small_state_and_counts_stay_exact() -> None:
    sink = FakeSink()
    first, _ = step(sink)
    events = weeks_of_feedback("AAA", weeks=6)
    first.process(raw(*events), {"t": 7}, "t1")
    before = first.engine.closed_series()

    again, _ = step(sink)
    again.restore()
    assert again.engine.closed_series() == before
    late_duplicate, late_new = (
        events[0],
        feedback(org_id="AAA", occurred_at=events[0]["occurred_at"]),
    )
    result = again.process(raw(late_duplicate, late_new), {"t": 2}, "t2")
    assert result.duplicates == 1 and len(result.accepted) == 1 and result.late == 1
    assert sink.lookups == [2], "only the ids beyond the in-memory horizon were asked"


def test_a_batch_being_stored_counts_as_stored_for_the_next_batchs_look_ups() -> None:
    """The worker runs batch N+1 through the engine while batch N is stored: an id of N the
    engine no longer holds in memory (a late event: its window is closed) is a duplicate in
    N+1 although N is not in storage yet; once N is completed, storage answers."""
    sink = FakeSink()
    s, _ = step(sink)
    events = weeks_of_feedback("AAA", weeks=6)
    s.process(raw(*events), {"t": 7}, "t1")
    late = feedback(org_id="AAA", occurred_at=events[0]["occurred_at"])
    first = s.prepare(raw(late), {"t": 1}, "t2")
    assert first.result.late == 1 and len(first.result.accepted) == 1
    second = s.prepare(raw(late), {"t": 1}, "t3")
    assert second.result.duplicates == 1 and not second.result.accepted
    s.complete(first)
    s.complete(second)
    third = s.prepare(raw(late), {"t": 1}, "t4")
    assert third.result.duplicates == 1 and sink.lookups[-1] == 1, "asked of storage now"
    s.complete(third)
    assert sink.writes == ["t1", "t2", "t3", "t4"]


def test_windows_stored_before_their_events_are_not_counted_twice() -> None:
    sink = FakeSink()
    events = weeks_of_feedback("AAA", weeks=3)
    first, _ = step(sink)
    first.process(raw(*events[:2]), {"t": 2}, "t1")
    sink.crash_after_windows = True
    with pytest.raises(KeyboardInterrupt):
        first.process(raw(*events[2:]), {"t": 2}, "t2")
    sink.crash_after_windows = False
    counted = sum(r.aggregate.contributions for r in sink.windows.values())
    assert counted == len(events) and len(sink.events) == 2

    again, _ = step(sink)
    again.restore()
    result = again.process(raw(*events), {"t": 4}, "t3")
    assert len(result.accepted) == 2 and result.duplicates == 2, "stored now, not re-counted"
    assert sum(r.aggregate.contributions for r in sink.windows.values()) == len(events)
    assert sink.event_rows == len(events)


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
    sink = FakeSink()
    s, metrics = step(sink)
    s.process(raw(*weeks_of_feedback("AAA", weeks=3)), {"t": 4}, "t1")
    # only the last event's week ends later than the watermark
    assert value(metrics, "pipeline_open_windows") == 1


def test_org_of_payload_reads_the_organisation_without_decoding() -> None:
    assert org_of_payload(b'{"schema_version":1,"org_id":"RXA","unit_id":"ED"}') == "RXA"
    assert org_of_payload(b'{"description":"\\"org_id\\":\\"NOPE\\"","org_id":"R1"}') == "R1"
    assert org_of_payload(b'{"org_id": "R2", "unit_id": "ED"}') == "R2"
    assert org_of_payload(b'{"unit_id":"ED",\n "org_id"\t:\t"R3"}') == "R3"
    assert org_of_payload(b"{}") is None
    assert org_of_payload(b"[]") is None


def test_retry_delays_double_up_to_the_cap() -> None:
    delays = RetryPolicy(initial=0.5, maximum=3, jitter=0).delays()
    assert [next(delays) for _ in range(6)] == [0.5, 1, 2, 3, 3, 3]


def test_retry_delays_are_jittered_below_their_nominal_value() -> None:
    delays = RetryPolicy(initial=1, maximum=1, jitter=0.5).delays()
    drawn = [next(delays) for _ in range(200)]
    assert all(0.5 <= d <= 1 for d in drawn)
    assert len(set(drawn)) > 100, "workers that failed together do not retry together"


def test_an_alert_routed_to_alertmanager_is_recorded_as_delivered() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.submitted: list[Alert] = []

        def submit(self, alerts: Sequence[Alert]) -> None:
            self.submitted.extend(alerts)

        def delivered(self) -> list[tuple[str, datetime]]:
            return [(a.alert_id, a.detected_at) for a in self.submitted]

        def seed(
            self, alerts: Sequence[Alert], first: dict[str, datetime], heard: Iterable[str] = ()
        ) -> None:
            self.submitted.extend(alerts)

        def retain(self, keep: Callable[[Alert], bool]) -> None:
            self.submitted = [a for a in self.submitted if keep(a)]

    sink, recorder = FakeSink(), Recorder()
    s, _ = step(sink, alertmanager=recorder)
    result = s.process(raw(*weeks_of_feedback("AAA")), {"t": 5}, "t1")
    assert recorder.submitted == result.alerts
    assert sink.delivered["alertmanager"] == {(a.alert_id, a.detected_at) for a in result.alerts}
    assert all(a.status is AlertStatus.OPEN for a in result.alerts)


class SeedRecorder:
    """A background route (Alertmanager) that records what it was given to post."""

    def __init__(self) -> None:
        self.posted: list[Alert] = []

    def submit(self, alerts: Sequence[Alert]) -> None:
        self.posted.extend(alerts)

    def delivered(self) -> list[tuple[str, datetime]]:
        return []

    def seed(
        self, alerts: Sequence[Alert], first: dict[str, datetime], heard: Iterable[str] = ()
    ) -> None:
        self.posted.extend(alerts)

    def retain(self, keep: Callable[[Alert], bool]) -> None:
        self.posted = [a for a in self.posted if keep(a)]


def test_a_runtime_owning_every_partition_reposts_open_alerts_at_once() -> None:
    """After a restart, open alerts are posted to Alertmanager again, which keeps them firing
    there. Each organisation used to be restored only when its first event arrived, so one
    that sent nothing for a while had its open alert ended in Alertmanager ("ended, not
    resolved" to its safety team) until then: seen with a real worker and Alertmanager, an
    open alert absent 2 minutes after the restart, posted only once one duplicate event of
    its organisation came. A runtime with every partition owns every organisation."""
    sink = FakeSink()
    first, _ = step(sink)
    raised = first.process(raw(*weeks_of_feedback("AAA")), {"t": 5}, "t1").alerts
    assert raised and all(a.status is AlertStatus.OPEN for a in raised)
    recorder = SeedRecorder()
    restarted, _ = step(sink, alertmanager=recorder)
    restarted.reset(ask_every_new_id=False)  # every partition: no other worker holds any
    assert {a.alert_id for a in recorder.posted} == {a.alert_id for a in raised}
    shared = SeedRecorder()
    rebalanced, _ = step(sink, alertmanager=shared)
    rebalanced.reset(ask_every_new_id=True)  # part of them: restored as they arrive
    assert shared.posted == []


def from_partition(topic: str, partition: int, messages: list[RawMessage]) -> list[RawMessage]:
    """`messages` as a worker hands them over: each from `topic/partition@offset`."""
    return [m._replace(origin=f"{topic}/{partition}@{i}") for i, m in enumerate(messages)]


def test_a_runtime_owning_some_partitions_reposts_the_open_alerts_recorded_on_them() -> None:
    """With several workers, a rebalance used to leave every organisation to be restored when
    its first event came, so an organisation that sent nothing after it had its open alert
    ended by Alertmanager ("ended, not resolved"). Each organisation's stored progress records
    the partition its latest event came on: the worker now owning that partition restores it at
    once (its open alerts posted again), another worker does not; one recorded nowhere (stored
    from a file) is still restored when its first event comes."""
    sink = FakeSink()
    first, _ = step(sink)
    raised: dict[str, set[str]] = {}
    for org, partition in (("AAA", 0), ("BBB", 1), ("CCC", None)):
        messages = raw(*weeks_of_feedback(org))
        if partition is not None:
            messages = from_partition("q.feedback", partition, messages)
        alerts = first.process(messages, {"q.feedback": 5}, f"t-{org}").alerts
        assert alerts and all(a.status is AlertStatus.OPEN for a in alerts)
        raised[org] = {a.alert_id for a in alerts}
    on_0, on_1 = SeedRecorder(), SeedRecorder()
    owning_0, _ = step(sink, alertmanager=on_0)
    owning_0.reset(ask_every_new_id=True, owned={("q.feedback", 0), ("q.incidents", 1)})
    assert {a.alert_id for a in on_0.posted} == raised["AAA"], "only its partition's"
    owning_1, _ = step(sink, alertmanager=on_1)
    owning_1.reset(ask_every_new_id=True, owned={("q.feedback", 1), ("q.feedback", 2)})
    assert {a.alert_id for a in on_1.posted} == raised["BBB"]
    again = raw(*weeks_of_feedback("CCC")[:1])  # a new event of CCC
    owning_0.process(from_partition("q.feedback", 0, again), {"q.feedback": 1}, "t-again")
    assert {a.alert_id for a in on_0.posted} == raised["AAA"] | raised["CCC"], (
        "recorded nowhere: restored as its events arrive, as before"
    )


def test_a_runtime_is_told_when_an_organisation_restored_from_its_record_moved_away() -> None:
    """After a change of the partition count (or of a publisher's partitioner) an
    organisation's events go to another partition than the one recorded: the worker that
    restored it from its record would keep a copy that no longer changes, and keep posting its
    open alerts. It is told to restore again once another worker stored an event of it on a
    partition it does not own, and not once an event of it came to itself."""
    sink = FakeSink()
    first, _ = step(sink)
    for org in ("AAA", "BBB"):
        messages = from_partition("q.feedback", 0, raw(*weeks_of_feedback(org)))
        first.process(messages, {"q.feedback": 5}, f"t-{org}")
    owned = {("q.feedback", 0)}
    worker, _ = step(sink)
    worker.reset(ask_every_new_id=True, owned=owned)
    assert not worker.moved_away(owned)
    elsewhere, _ = step(sink)
    elsewhere.reset(ask_every_new_id=True, owned={("q.feedback", 3)})
    later = raw(feedback(org_id="AAA", occurred_at="2024-05-01T10:00:00+00:00"))
    elsewhere.process(from_partition("q.feedback", 3, later), {"q.feedback": 1}, "t-moved")
    assert worker.moved_away(owned), "AAA is now recorded on partition 3"
    assert not worker.moved_away(owned | {("q.feedback", 3)})
    earlier = raw(feedback(org_id="AAA", occurred_at="2024-04-30T10:00:00+00:00"))
    worker.process(from_partition("q.feedback", 0, earlier), {"q.feedback": 1}, "t-here")
    assert not worker.moved_away(owned), "its events come here too: it is this runtime's"


@pytest.mark.parametrize("make", [incident, metric], ids=["common shape", "general path"])
def test_an_event_the_engine_fails_on_is_dead_lettered_and_the_batch_goes_on(
    monkeypatch: pytest.MonkeyPatch, make: Callable[..., dict[str, Any]]
) -> None:
    from pipeline.core.stored import to_stored as real

    poison = make(source="poison")

    def failing(event: Any, *args: Any, **kwargs: Any) -> Any:
        if event.source == "poison":
            raise ZeroDivisionError("the text of this message must not be kept")
        return real(event, *args, **kwargs)

    monkeypatch.setattr("pipeline.core.admission.to_stored", failing)
    sink, topic = FakeSink(), FakeTopic()
    s, metrics = step(sink, topic)
    good = [feedback(), feedback()]
    result = s.process(raw(good[0], poison, good[1]), {"t": 3}, "t1")
    assert len(result.accepted) == 2
    (rejected,) = result.rejected
    assert rejected.rejection.reason.value == "processing_error"
    assert "ZeroDivisionError" in rejected.rejection.detail
    assert "must not be kept" not in rejected.rejection.detail
    assert [r.topic for r in topic.records] == ["q.dead_letter"]
    assert value(metrics, "pipeline_events_rejected_total", {"reason": "processing_error"}) == 1


def test_rows_clickhouse_refuses_are_found_by_halving_and_dead_lettered() -> None:
    sink, topic = FakeSink(), FakeTopic()
    sink.refuse = lambda stored: stored.event.source == "refused"
    s, metrics = step(sink, topic)
    events = [feedback() for _ in range(7)]
    events[3]["source"] = events[5]["source"] = "refused"
    result = s.process(raw(*events), {"t": 7}, "t1")
    assert len(result.accepted) == 5 and len(sink.events) == 5
    assert [r.rejection.reason.value for r in result.rejected] == ["processing_error"] * 2
    assert {r.origin for r in result.rejected} == {"test:4", "test:6"}
    assert s.health.refused_rows == 2 and not s.health.down
    assert value(metrics, "pipeline_sink_retries_total") == 0, "a refusal is not retried"
    assert value(metrics, "pipeline_messages_consumed_total", {"topic": "t"}) == 7
    assert len(sink.rejected) == 2 and [r.topic for r in topic.records] == ["q.dead_letter"] * 2


def test_tables_written_side_by_side_halve_only_the_table_that_refused() -> None:
    # the events of each table go to the store at once (write_events_each); an outage is
    # retried whole, a refused table is halved on its own while the others are stored once
    sink, topic = FakeSink(), FakeTopic()
    sink.refuse = lambda stored: stored.event.source == "refused"
    calls: list[list[str]] = []
    each = sink.write_events_each

    def recorded(groups: Sequence[Sequence[StoredEvent]], token: str) -> list[SinkRejected | None]:
        calls.append([type(g[0].event).__name__ for g in groups])
        sink.failures = 1 if len(calls) == 1 else 0  # the first attempt: ClickHouse down
        return each(groups, token)

    sink.write_events_each = recorded  # type: ignore[method-assign]
    s, metrics = step(sink, topic)
    events = [feedback(), incident(), feedback(), incident(), feedback(), incident()]
    events[3]["source"] = "refused"
    result = s.process(raw(*events), {"t": 6}, "t1")
    assert calls == [["PatientFeedback", "IncidentReport"]] * 2  # the outage, then its retry
    assert len(result.accepted) == 5 and len(sink.events) == sink.event_rows == 5
    assert [r.origin for r in result.rejected] == ["test:4"]
    assert value(metrics, "pipeline_sink_retries_total") == 1
    assert value(metrics, "pipeline_events_accepted_total", {"event_type": "incident_report"}) == 2


def _learning_loop_events() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two batches whose second needs what the small form does not carry: a later revision of
    a report counted in another window, a response to an alert, counts-form feedback with
    themes and value targets around them."""
    start = datetime(2024, 3, 4, tzinfo=UTC)

    def at(weeks: int, hours: int = 1) -> str:
        return (start + timedelta(weeks=weeks, hours=hours)).isoformat()

    batch = feedback(
        org_id="AAA", occurred_at=at(1), period_start=at(0, 0), period_end=at(2, 0),
        counts={"1": 7, "5": 3},
    )  # fmt: skip
    del batch["rating"]
    value_target = metric(
        org_id="AAA", metric="amb_c2_mean", value=27.5, unit="minutes", target=18.0,
        higher_is_better=False,
    )  # fmt: skip
    del value_target["numerator"], value_target["denominator"]
    first = [
        *weeks_of_feedback("AAA", weeks=6),
        feedback(org_id="AAA", occurred_at=at(1), themes=["waiting"]),
        incident(org_id="AAA", occurred_at=at(1), report_ref="R-1", harm="severe"),
        batch,
        value_target,
        response(org_id="AAA", unit_id="ED", alert_id="no-such-alert"),
    ]
    second = [
        incident(org_id="AAA", occurred_at=at(3), report_ref="R-1", revision=2, harm="none"),
        feedback(org_id="AAA", occurred_at=at(9)),
    ]
    return first, second


def test_a_restart_gives_what_an_uninterrupted_run_gives_learning_loop_included() -> None:
    first, second = _learning_loop_events()
    whole_sink = FakeSink()
    whole, _ = step(whole_sink)
    whole.process(raw(*first), {"t": len(first)}, "t1")
    alert = next(a for a in whole.engine.alerts if a.org_id == "AAA" and a.unit_id == "ED")
    answered = response(
        org_id="AAA", unit_id="ED", alert_id=alert.alert_id, response="false_positive"
    )
    second = [*second, answered]
    whole.process(raw(*second), {"t": len(second)}, "t2")

    sink = FakeSink()
    before, _ = step(sink)
    before.process(raw(*first), {"t": len(first)}, "t1")
    after, _ = step(sink)
    after.restore()
    after.process(raw(*second), {"t": len(second)}, "t2")

    assert after.engine.closed_series() == whole.engine.closed_series()
    assert sorted(after.engine.alerts, key=lambda a: a.alert_id) == sorted(
        whole.engine.alerts, key=lambda a: a.alert_id
    )
    assert after.engine.unmatched_responses() == whole.engine.unmatched_responses()
    assert len(after.engine.unmatched_responses()) == 1
    harm = {w.window.start: w.incidents for w in whole.engine.closed_series()[("AAA", "ED")]}
    assert sum(harm.values()) == 1, "the superseded revision no longer counts"
    themes = {t for w in after.engine.closed_series()[("AAA", "ED")] for t, _ in w.themes}
    assert themes == {"waiting"}
    assert _standing(sink.board) == _standing(whole_sink.board)
    assert _standing(sink.targets) == _standing(whole_sink.targets)


def _standing(rows: Sequence[BoardRow]) -> dict[tuple[str, str, str, str], BoardRow]:
    """The board as it stands: the latest row of each unit and measure."""
    return {(r.org_id, r.unit_id, r.measure, r.metric): r for r in rows}


def test_bright_spots_are_stored_never_routed_and_restored_from_the_windows() -> None:
    sink, topic = FakeSink(), FakeTopic()
    first, _ = step(sink, topic)
    result = first.process(raw(*weeks_of_feedback("RXA")), {"t": 5}, "t1")
    assert result.bright_spots and sink.bright == result.bright_spots
    assert {(b.org_id, b.unit_id) for b in sink.bright} == {("RXA", "ED")}
    assert [r.topic for r in topic.records] == ["q.alerts"] * len(result.alerts)
    stored = set(sink.bright)

    sink.bright.clear()  # lost with the outcomes (a crash), so the judgement mark too:
    sink.marks.clear()  # the restore judges again (with a mark it would judge nothing)

    def no_history() -> Iterator[bytes]:
        raise AssertionError("a restore from stored windows re-reads no events")

    sink.stored_payloads = no_history  # type: ignore[method-assign]
    again, _ = step(sink)
    again.restore()
    assert set(sink.bright) == stored


def test_the_step_stores_the_verdicts_the_engine_handed_out() -> None:
    """Replay and the worker both drive this step: the changed verdicts go to the store with
    the batch's rows, under the batch's token."""
    sink = FakeSink()
    s, _ = step(sink)
    result = s.process(raw(*weeks_of_feedback("RXA", weeks=14)), {}, "t1")
    assert result.verdicts, "windows past the learning period are judged"
    assert sink.verdicts == result.verdicts
    assert {row.verdict.measure for row in sink.verdicts} >= {"positive_share", "negative_share"}
    assert sink.writes == ["t1"]


def test_a_stop_begins_no_further_insert_and_the_batch_is_abandoned() -> None:
    class StoppingSink(FakeSink):
        def write_windows(self, result: Any, token: str, *, applied: bool) -> None:
            super().write_windows(result, token, applied=applied)
            stop.set()  # as a signal would, while the batch's first insert runs

    stop = threading.Event()
    sink = StoppingSink()
    s, metrics = step(sink, stop=stop)
    with pytest.raises(Abandoned, match="write events"):
        s.process(raw(*weeks_of_feedback("RXA")), {"t": 1}, "t1")
    assert sink.windows and not sink.events and sink.writes == []
    assert value(metrics, "pipeline_messages_consumed_total", {"topic": "t"}) == 0


class SlowWriteStore(FakeSink):
    """Its first write of windows under `token` waits for a look-up (at most `patience`
    seconds); what happened goes into `order`."""

    def __init__(self, token: str, patience: float, *, apart: bool) -> None:
        super().__init__()
        self.lookups_apart = apart
        self.token, self.patience = token, patience
        self.writing, self.looked_up = threading.Event(), threading.Event()
        self.order: list[str] = []

    def write_windows(self, result: Any, token: str, *, applied: bool) -> None:
        if token == self.token and applied:
            self.writing.set()
            self.looked_up.wait(self.patience)
            self.order.append("write")
        super().write_windows(result, token, applied=applied)

    def known_event_ids(self, ids: Any) -> Any:
        if self.writing.is_set():
            self.order.append("look-up")
            self.looked_up.set()
        return super().known_event_ids(ids)


@pytest.mark.parametrize("apart", [True, False])
def test_look_ups_wait_for_an_insert_only_when_the_store_shares_one_client(apart: bool) -> None:
    """A store that looks ids up on a connection of its own (`lookups_apart`) is asked while
    the previous batch is being written; otherwise the look-up waits for the write."""
    sink = SlowWriteStore("t2", 10.0 if apart else 0.3, apart=apart)
    s, _ = step(sink)
    events = weeks_of_feedback("AAA", weeks=6)
    s.process(raw(*events), {"t": 7}, "t1")
    at = events[0]["occurred_at"]  # late: the engine no longer holds its window's ids
    first = s.prepare(raw(feedback(org_id="AAA", occurred_at=at)), {"t": 1}, "t2")
    storing = threading.Thread(target=s.complete, args=(first,))
    storing.start()
    assert sink.writing.wait(10.0)
    second = s.prepare(raw(feedback(org_id="AAA", occurred_at=at)), {"t": 1}, "t3")
    storing.join()
    assert second.result.late == 1 and len(second.result.accepted) == 1
    assert sink.order == (["look-up", "write"] if apart else ["write", "look-up"])
    s.complete(second)
    assert sink.writes == ["t1", "t2", "t3"]


def test_freezing_on_resume_keeps_young_collections_small_and_still_collects_cycles() -> None:
    """`freeze_on_resume`: what a pause leaves alive is frozen when it ends (the young
    generation starts empty), and cyclic garbage is collected by the periodic full
    collection (here due at every pause's end)."""
    import gc
    import weakref

    from pipeline.runtime.retry import freeze_on_resume

    class Node:
        other: Any = None

    frozen_before = gc.get_freeze_count()
    try:
        freeze_on_resume(3600.0)
        with collector_paused():
            kept = [Node() for _ in range(5_000)]
        assert gc.get_freeze_count() >= frozen_before + len(kept)
        assert gc.get_count()[0] < 1_000, "the young generation starts over"
        freeze_on_resume(0.0)  # a full collection at every pause's end
        with collector_paused():
            a, b = Node(), Node()
            a.other, b.other = b, a
            gone = weakref.ref(a)
            del a, b
        assert gone() is None, "the cycle made during the pause was collected"
        assert gc.isenabled()
    finally:
        freeze_on_resume(None)
        gc.unfreeze()
