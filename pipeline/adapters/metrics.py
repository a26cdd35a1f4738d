"""Prometheus metrics of the worker, and the HTTP server for /metrics and /healthz.

The metric names are an interface: dashboards and alert rules (deploy/grafana, deploy/prometheus)
are built on them. Accounting holds exactly:
`pipeline_messages_consumed_total = accepted + rejected + duplicate` (summed over labels),
because all four are counted together, once a batch is stored.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from operator import attrgetter
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from pipeline.core.alerts import Alert
from pipeline.core.engine import BatchResult
from pipeline.core.events import EVENT_MODELS
from pipeline.errors import ConfigError

log = logging.getLogger("pipeline.metrics")

BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
_EVENT = attrgetter("event")
_EVENT_TYPE_OF = {model: event_type.value for event_type, model in EVENT_MODELS.items()}
ROUTES = ("kafka", "alertmanager")  # the alert routes (runtime/routing.py)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class PipelineMetrics:
    """Every metric the worker exports, on its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages_consumed = Counter(
            "pipeline_messages_consumed", "Kafka messages processed", ["topic"], registry=r
        )
        self.events_accepted = Counter(
            "pipeline_events_accepted", "Events accepted and stored", ["event_type"], registry=r
        )
        self.events_rejected = Counter(
            "pipeline_events_rejected", "Messages rejected as bad input", ["reason"], registry=r
        )
        self.events_duplicate = Counter(
            "pipeline_events_duplicate", "Events already seen (same event_id)", registry=r
        )
        self.events_late = Counter(
            "pipeline_events_late", "Accepted events for windows already closed", registry=r
        )
        self.alerts = Counter(
            "pipeline_alerts",
            "Alert versions raised (new, updated, resolved, withdrawn)",
            ["kind", "severity", "status"],
            registry=r,
        )
        self.batch_size = Histogram(
            "pipeline_batch_size",
            "Messages per processed batch",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.sink_latency = Histogram(
            "pipeline_sink_latency_seconds",
            "Time to store one batch in ClickHouse, retries included",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sink_retries = Counter(
            "pipeline_sink_retries", "Failed ClickHouse writes that were retried", registry=r
        )
        self.sink_up = Gauge(
            "pipeline_sink_up",
            "0 from a failed ClickHouse call until a batch is stored whole (when only reads "
            "failed: until a call succeeds)",
            registry=r,
        )
        self.open_windows = Gauge(
            "pipeline_open_windows", "Unit windows not yet closed by the watermark", registry=r
        )
        self.consumer_lag = Gauge(
            "pipeline_consumer_lag",
            "Messages in the partition not yet processed",
            ["topic", "partition"],
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "pipeline_assigned_partitions",
            "Input topic partitions assigned to this worker",
            registry=r,
        )
        self.last_batch_timestamp = Gauge(
            "pipeline_last_batch_timestamp_seconds",
            "Unix time the last batch was stored (until the first: when the worker started)",
            registry=r,
        )
        self.last_batch_timestamp.set_to_current_time()
        self.alert_routing_failures = Counter(
            "pipeline_alert_routing_failures",
            "Failed attempts to deliver alerts (and dead letters) to a route",
            ["route"],
            registry=r,
        )
        # A labelled series exists only from its first sample: at zero from the start, the
        # rules' increase() counts the first failures too (it missed them: outside check,
        # twenty-fifth session, 8 failures read as 6.46).
        for route in ROUTES:
            self.alert_routing_failures.labels(route=route)
        # No organisation label: the log line names it, and a label would keep a series per
        # organisation that ever failed for the life of the process.
        self.judging_failures = Counter(
            "pipeline_judging_failures",
            "Organisations whose judgement raised (their alerts held back, the batch stored)",
            registry=r,
        )
        self.restore_set_aside = Counter(
            "pipeline_restore_set_aside",
            "Stored target reports beyond the processable range, left out at a restore",
            registry=r,
        )
        self.events_misrouted = Counter(
            "pipeline_events_misrouted",
            "Accepted events whose Kafka key was not their org_id, or that came on another "
            "event type's topic (processed as usual)",
            ["reason"],
            registry=r,
        )
        self.sink_up.set(0)

    def record_batch(self, consumed_by_topic: Mapping[str, int], result: BatchResult) -> None:
        """Count one stored batch: its messages, and what became of them."""
        for topic, count in consumed_by_topic.items():
            self.messages_consumed.labels(topic=topic).inc(count)
        # by class, in C: `event_type.value` would be a Python call per event on the store thread
        for model, count in Tally(map(type, map(_EVENT, result.accepted))).items():
            self.events_accepted.labels(event_type=_EVENT_TYPE_OF[model]).inc(count)
        for reason, count in Tally(r.rejection.reason.value for r in result.rejected).items():
            self.events_rejected.labels(reason=reason).inc(count)
        if result.duplicates:
            self.events_duplicate.inc(result.duplicates)
        if result.late:
            self.events_late.inc(result.late)
        self.batch_size.observe(result.read)
        self.record_alerts(result.alerts)

    def record_alerts(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self.alerts.labels(
                kind=alert.kind.value, severity=alert.severity.value, status=alert.status.value
            ).inc()

    def routing_failed(self, route: str) -> None:
        self.alert_routing_failures.labels(route=route).inc()

    def sink_retried(self) -> None:
        self.sink_retries.inc()

    def sink_state(self, up: bool) -> None:
        self.sink_up.set(1 if up else 0)

    def sink_took(self, seconds: float) -> None:
        self.sink_latency.observe(seconds)

    def open_windows_now(self, count: int) -> None:
        self.open_windows.set(count)

    def batch_stored(self) -> None:
        self.last_batch_timestamp.set_to_current_time()

    def judging_failed(self, count: int) -> None:
        self.judging_failures.inc(count)

    def set_aside(self, count: int) -> None:
        self.restore_set_aside.inc(count)

    def misrouted(self, reason: str, count: int) -> None:
        self.events_misrouted.labels(reason=reason).inc(count)

    def set_lag(self, lag: Mapping[tuple[str, int], int]) -> None:
        """Replace the lag gauges: partitions no longer assigned disappear."""
        self.consumer_lag.clear()
        for (topic, partition), value in lag.items():
            self.consumer_lag.labels(topic=topic, partition=str(partition)).set(max(value, 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """`/metrics` (Prometheus text format), and on a thread `/readyz` and `/healthz` (200
    `healthy`, 503 not: readiness) and `/livez` (200 `alive`, 503 not: liveness; always 200
    when `alive` is not given)."""

    def __init__(
        self,
        metrics: PipelineMetrics,
        healthy: Callable[[], tuple[bool, str]],
        port: int,
        host: str = "",
        alive: Callable[[], tuple[bool, str]] = lambda: (True, "alive"),
    ) -> None:
        handler = _handler(metrics, healthy, alive)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:  # in use, or not ours to bind: say so in one line
            raise ConfigError(
                f"cannot serve /metrics and /healthz on port {port}: {exc.strerror or exc} "
                "(PIPELINE_METRICS_PORT or --metrics-port; 0 turns them off)"
            ) from None
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler(
    metrics: PipelineMetrics,
    healthy: Callable[[], tuple[bool, str]],
    alive: Callable[[], tuple[bool, str]],
) -> type[BaseHTTPRequestHandler]:
    probes = {"/healthz": healthy, "/readyz": healthy, "/livez": alive}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            probe = probes.get(path)
            if path == "/metrics":
                self._reply(200, metrics.exposition(), CONTENT_TYPE_LATEST)
            elif probe is not None:
                ok, detail = probe()
                body = (("ok" if ok else "unhealthy") + f": {detail}\n").encode()
                self._reply(200 if ok else 503, body, "text/plain; charset=utf-8")
            else:
                body = b"not found: try /metrics, /livez, /readyz or /healthz\n"
                self._reply(404, body, "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics http: " + format, *args)

    return Handler
