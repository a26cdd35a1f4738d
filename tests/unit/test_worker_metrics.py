"""The worker's Prometheus metrics (names are an interface) and its /metrics, /healthz server."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.adapters.metrics import MetricsServer, PipelineMetrics
from pipeline.core.decode import RawMessage
from pipeline.core.engine import Engine, EngineConfig
from pipeline.errors import ConfigError
from tests.support.alerts import alert
from tests.support.events import feedback, incident, metric, raw, response
from tests.support.metrics import REQUIRED_METRICS

NOW = datetime(2024, 6, 1, tzinfo=UTC)

NAMES = REQUIRED_METRICS


def families(text: str) -> dict[str, set[str]]:
    """Exposed sample names by family, e.g. pipeline_batch_size -> {.._bucket, .._count}."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        found.setdefault(family.name, set()).update(s.name for s in family.samples)
    return found


def test_every_metric_is_exposed_under_its_contract_name() -> None:
    metrics = PipelineMetrics()
    batch = [*raw(feedback()), RawMessage(b"{", "q/0@1")]
    metrics.record_batch(
        {"q.patient_feedback": 2}, Engine(EngineConfig(), b"k" * 20).process(batch, NOW)
    )
    metrics.routing_failed("alertmanager")
    metrics.record_alerts([alert()])
    metrics.set_lag({("q.patient_feedback", 0): 3})
    metrics.sink_latency.observe(0.01)
    samples = set().union(*families(metrics.exposition().decode()).values())
    for name in NAMES:
        assert name in samples or f"{name}_bucket" in samples, name


def test_accounting_consumed_is_accepted_plus_rejected_plus_duplicates() -> None:
    metrics = PipelineMetrics()
    event = feedback()
    batch = [*raw(event, event, incident()), RawMessage(b"[1]", "q/0@1")]
    result = Engine(EngineConfig(), b"k" * 20).process(batch, NOW)
    metrics.record_batch({"q.patient_feedback": 3, "q.incident_report": 1}, result)
    get = metrics.registry.get_sample_value
    consumed = sum(
        get("pipeline_messages_consumed_total", {"topic": t}) or 0
        for t in ("q.patient_feedback", "q.incident_report")
    )
    accepted = sum(
        get("pipeline_events_accepted_total", {"event_type": t}) or 0
        for t in ("patient_feedback", "incident_report")
    )
    rejected = get("pipeline_events_rejected_total", {"reason": "not_an_object"}) or 0
    duplicates = get("pipeline_events_duplicate_total") or 0
    assert (consumed, accepted, rejected, duplicates) == (4, 2, 1, 1)


def test_accepted_events_are_counted_by_their_type() -> None:
    metrics = PipelineMetrics()
    engine = Engine(EngineConfig(), b"k" * 20)
    mixed = [feedback(), incident(), feedback(), metric(), feedback(), response()]
    metrics.record_batch({"q": 6}, engine.process(raw(*mixed), NOW))
    metrics.record_batch({"q": 2}, engine.process(raw(incident(), incident()), NOW))
    get = metrics.registry.get_sample_value
    counted = {
        t: get("pipeline_events_accepted_total", {"event_type": t})
        for t in ("patient_feedback", "incident_report", "target_metric", "alert_response")
    }
    assert counted == {
        "patient_feedback": 3,
        "incident_report": 3,
        "target_metric": 1,
        "alert_response": 1,
    }


def test_lag_gauges_follow_the_assignment() -> None:
    metrics = PipelineMetrics()
    metrics.set_lag({("a", 0): 5, ("a", 1): -1})
    metrics.set_lag({("a", 1): 2})
    get = metrics.registry.get_sample_value
    assert get("pipeline_consumer_lag", {"topic": "a", "partition": "0"}) is None
    assert get("pipeline_consumer_lag", {"topic": "a", "partition": "1"}) == 2


def test_server_answers_metrics_and_health() -> None:
    metrics = PipelineMetrics()
    state = {"ok": True, "alive": True}
    server = MetricsServer(
        metrics,
        lambda: (state["ok"], "detail"),
        port=0,
        host="127.0.0.1",
        alive=lambda: (state["alive"], "loop"),
    ).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert response.status == 200
            assert "pipeline_sink_up 0.0" in response.read().decode()
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
            assert response.status == 200
        # a probe's query string (Prometheus sends some) does not change the path
        with urllib.request.urlopen(f"{base}/metrics?name[]=up", timeout=5) as response:
            assert response.status == 200
        state["ok"] = False  # not ready (Kafka or ClickHouse away), still alive
        with urllib.request.urlopen(f"{base}/livez", timeout=5) as response:
            assert response.status == 200
        state["alive"] = False
        for path, status in (
            ("/healthz", 503),
            ("/readyz", 503),
            ("/livez", 503),
            ("/nothing", 404),
        ):
            try:
                urllib.request.urlopen(f"{base}{path}", timeout=5).close()
            except urllib.error.HTTPError as exc:
                exc.close()
                assert exc.code == status
            else:
                raise AssertionError(f"{path} should answer {status}")
    finally:
        server.stop()


def test_a_port_in_use_is_named_in_one_line() -> None:
    """It was an OSError traceback once the worker had started (black-box check)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as raised:
            MetricsServer(PipelineMetrics(), lambda: (True, ""), port=port, host="127.0.0.1")
    assert str(raised.value) == (
        f"cannot serve /metrics and /healthz on port {port}: Address already in use "
        "(PIPELINE_METRICS_PORT or --metrics-port; 0 turns them off)"
    )


def test_routing_failures_start_at_zero_per_route() -> None:
    """A labelled series exists from its first sample only: the alerting rule's increase()
    missed the first failures (outside check, twenty-fifth session: 8 failures read as 6.46)."""
    metrics = PipelineMetrics()
    get = metrics.registry.get_sample_value
    for route in ("kafka", "alertmanager"):
        assert get("pipeline_alert_routing_failures_total", {"route": route}) == 0.0
    metrics.routing_failed("alertmanager")
    assert get("pipeline_alert_routing_failures_total", {"route": "alertmanager"}) == 1.0
