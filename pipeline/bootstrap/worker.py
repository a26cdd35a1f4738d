"""The worker's composition root (`pipeline worker`): settings in; sink, routes, metrics and
the faust runtime out. Kept apart from the embedded root so the embedded commands never load
faust or aiokafka; nothing in `pipeline.runtime` or below imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from pipeline.adapters import alertmanager
from pipeline.adapters.alert_topic import KafkaRoute
from pipeline.adapters.alertmanager import AlertmanagerRoute
from pipeline.adapters.clickhouse.worker_sink import WorkerSink
from pipeline.adapters.metrics import PipelineMetrics
from pipeline.adapters.publisher import create_topics_if_missing
from pipeline.bootstrap.allocator import limit_malloc_arenas
from pipeline.bootstrap.collector import settle_collector
from pipeline.bootstrap.embedded import (
    engine_config,
    pseudonymisation_key,
    refuse_another_window_kind,
)
from pipeline.core.engine import Engine
from pipeline.errors import TransportError
from pipeline.kafka_transport import check_access
from pipeline.runtime.cadence import JudgingCadence
from pipeline.runtime.routing import Routes
from pipeline.runtime.step import RetryPolicy, Step
from pipeline.runtime.worker import WorkerRuntime, input_topics
from pipeline.settings import Settings, load_settings

KAFKA_LOGIN_TIMEOUT_SECONDS = 30.0
log = logging.getLogger("pipeline.worker")
__all__ = ["build_alertmanager_route", "build_worker", "load_settings", "open_worker_sink"]


def open_worker_sink(
    settings: Settings, dsn: str | None = None, sink_type: type[WorkerSink] = WorkerSink
) -> WorkerSink:
    """The worker's migrated sink.

    `sink_type` lets a test put a fake around the real sink (tests/support/faults.py)."""
    sink = sink_type(
        settings.resolved_clickhouse_dsn(dsn),
        settings.clickhouse_database,
        settings.window.value,
        ca_file=settings.clickhouse_ca_file,
    )
    try:
        sink.migrate()
        refuse_another_window_kind(sink)
    except BaseException:
        sink.close()
        raise
    return sink


def build_alertmanager_route(
    settings: Settings, metrics: PipelineMetrics
) -> AlertmanagerRoute | None:
    """Alertmanager as an alert route, when PIPELINE_ALERTMANAGER_URL is set."""
    if not settings.alertmanager_url:
        return None
    return alertmanager.AlertmanagerRoute(
        alertmanager.AlertmanagerClient(
            settings.alertmanager_url,
            auth=alertmanager.AlertmanagerAuth(
                username=settings.alertmanager_username,
                password=settings.alertmanager_password,
                bearer_token=settings.alertmanager_bearer_token,
            ),
            ca_file=settings.alertmanager_ca_file,
        ),
        resend=timedelta(seconds=settings.alertmanager_resend_seconds),
        retry_max=settings.sink_retry_max_seconds,
        on_failure=lambda exc: metrics.routing_failed(alertmanager.ROUTE),
    )


def create_input_topics(settings: Settings) -> None:
    """Create the input topics the broker lacks, with PIPELINE_TOPIC_PARTITIONS partitions,
    before faust subscribes: its consumer sees a topic created later only at its next metadata
    refresh (five minutes), and a broker's auto-creation would give it the broker's own count.
    A broker that refuses (no right to create topics) is logged, not fatal: an operator may
    create them. Input topics of different partition counts are named in a warning: one
    organisation's events of different types may then reach different workers."""
    try:
        created, counts = create_topics_if_missing(
            settings, input_topics(settings), KAFKA_LOGIN_TIMEOUT_SECONDS
        )
    except TransportError as exc:
        log.warning("%s; the worker reads them once they exist", exc)
        return
    if created:
        log.info(
            "created topics %s with %d partitions", ", ".join(created), settings.topic_partitions
        )
    if len(set(counts.values())) > 1:
        log.warning(
            "the input topics have different partition counts (%s): with more than one worker, "
            "an organisation's events of different types can reach different workers; give "
            "them all the same count (docs/worker.md, Scaling)",
            ", ".join(f"{name} {count}" for name, count in sorted(counts.items())),
        )


def build_worker(
    settings: Settings, dsn: str | None = None, sink_type: type[WorkerSink] = WorkerSink
) -> tuple[WorkerRuntime, WorkerSink]:
    """The Kafka worker: refuses (ConfigError) without PIPELINE_PSEUDONYMISATION_KEY.

    Its engine is built exactly as the embedded runner's (`engine_config`), so the two
    runtimes differ only in transport. What the process holds once built (faust, the
    imports, the sink) is frozen out of the cycle collector's way (`settle_collector`).
    """
    key = pseudonymisation_key(settings, required=True)
    config = engine_config(settings)
    limit_malloc_arenas()  # before the sink starts embedded ClickHouse's threads
    metrics = PipelineMetrics()
    sink = open_worker_sink(settings, dsn, sink_type)
    try:
        # faust would retry a refused login for ever, logging lost connections, and an
        # unreachable broker would end it with its own traceback: name either now, in one line
        check_access(settings, settings.kafka_bootstrap, KAFKA_LOGIN_TIMEOUT_SECONDS)
        create_input_topics(settings)
    except BaseException:
        sink.close()
        raise
    alertmanager_route = build_alertmanager_route(settings, metrics)
    retry = RetryPolicy(
        initial=settings.worker_sink_retry_initial_seconds,
        maximum=settings.sink_retry_max_seconds,
    )

    def step(kafka: KafkaRoute, on_outage: Callable[[bool], None]) -> Step:
        return Step(
            lambda: Engine(config, key.keys),
            sink,
            metrics=metrics,
            routes=Routes(kafka, alertmanager_route),
            retry=retry,
            on_outage=on_outage,
            cadence=JudgingCadence(settings.batch_max_events, settings.judge_every_events),
        )

    runtime = WorkerRuntime(settings, step, metrics, alertmanager=alertmanager_route)
    settle_collector()
    return runtime, sink
