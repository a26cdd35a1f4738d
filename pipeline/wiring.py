"""The one place that builds things: settings in, engine, sink and runtimes out."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.core.detect import DetectionConfig
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.pseudonyms import PseudonymKeys
from pipeline.core.windows import WindowKind
from pipeline.errors import ConfigError
from pipeline.runtime.embedded import EmbeddedRunner
from pipeline.settings import Settings, load_settings

if TYPE_CHECKING:  # the worker's types; imported where used, so replay never loads faust
    from pipeline.adapters.alertmanager import AlertmanagerRoute
    from pipeline.adapters.metrics import PipelineMetrics
    from pipeline.adapters.worker_sink import WorkerSink
    from pipeline.runtime.worker import WorkerRuntime

log = logging.getLogger("pipeline")
__all__ = ["build_embedded", "build_engine", "load_settings", "open_sink"]


@dataclass(frozen=True, slots=True)
class PseudonymKey:
    keys: PseudonymKeys
    ephemeral: bool


def pseudonymisation_key(settings: Settings, *, required: bool) -> PseudonymKey:
    """The configured key chain (its strength checked by the settings), or (embedded mode
    only) a random key for this run."""
    if chain := settings.pseudonymisation_keys():
        return PseudonymKey(PseudonymKeys(chain), ephemeral=False)
    if required:
        raise ConfigError(
            "PIPELINE_PSEUDONYMISATION_KEY is not set: the worker will not store patient "
            "references without a stable secret key"
        )
    return PseudonymKey(PseudonymKeys((secrets.token_bytes(32),)), ephemeral=True)


def engine_config(settings: Settings, window: WindowKind | None = None) -> EngineConfig:
    kind = window or settings.window
    return EngineConfig(
        window=kind,
        allowed_lateness=timedelta(days=settings.allowed_lateness_days),
        free_text=settings.free_text,
        detection=DetectionConfig.for_window_kind(kind),
    )


def build_engine(settings: Settings, window: WindowKind | None = None) -> Engine:
    key = pseudonymisation_key(settings, required=False)
    if key.ephemeral:
        log.warning(
            "PIPELINE_PSEUDONYMISATION_KEY is not set: patient references are pseudonymised "
            "with a one-off key, so they cannot be linked to another run's"
        )
    return Engine(engine_config(settings, window), key.keys)


def open_sink(
    settings: Settings, dsn: str | None = None, window: WindowKind | None = None
) -> ClickHouseSink:
    """A migrated sink for `dsn` (or the configured/default DSN)."""
    sink = ClickHouseSink(
        settings.resolved_clickhouse_dsn(dsn),
        settings.clickhouse_database,
        (window or settings.window).value,
        ca_file=settings.clickhouse_ca_file,
    )
    sink.migrate()
    return sink


def build_embedded(
    settings: Settings, dsn: str | None = None, window: WindowKind | None = None
) -> tuple[EmbeddedRunner, ClickHouseSink]:
    """An embedded runner restored from what its ClickHouse already holds."""
    sink = open_sink(settings, dsn, window)
    runner = EmbeddedRunner(build_engine(settings, window), sink)
    runner.restore()
    return runner, sink


# --- The Kafka worker (`pipeline worker`): builders kept apart from the embedded ones. ---
# Imports are local so that the embedded commands never load faust or aiokafka.


def open_worker_sink(settings: Settings, dsn: str | None = None) -> WorkerSink:
    """The worker's migrated sink: the shared sink plus the alert delivery outbox."""
    from pipeline.adapters.worker_sink import WorkerSink

    sink = WorkerSink(
        settings.resolved_clickhouse_dsn(dsn),
        settings.clickhouse_database,
        settings.window.value,
        ca_file=settings.clickhouse_ca_file,
        outage_file=settings.worker_fault_sink_outage_file,
    )
    try:
        sink.migrate()
    except BaseException:
        sink.close()
        raise
    return sink


def build_alertmanager_route(
    settings: Settings, metrics: PipelineMetrics
) -> AlertmanagerRoute | None:
    """Alertmanager as an alert route, when PIPELINE_ALERTMANAGER_URL is set."""
    from pipeline.adapters import alertmanager

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


def build_worker(settings: Settings, dsn: str | None = None) -> tuple[WorkerRuntime, WorkerSink]:
    """The Kafka worker: refuses (ConfigError) without PIPELINE_PSEUDONYMISATION_KEY.

    Its engine is built exactly as the embedded runner's (`engine_config`), so the two
    runtimes differ only in transport.
    """
    from pipeline.adapters.alert_topic import KafkaRoute
    from pipeline.adapters.metrics import PipelineMetrics
    from pipeline.runtime.batching import BatchStep, RetryPolicy
    from pipeline.runtime.worker import WorkerRuntime

    key = pseudonymisation_key(settings, required=True)
    config = engine_config(settings)
    metrics = PipelineMetrics()
    sink = open_worker_sink(settings, dsn)
    alertmanager_route = build_alertmanager_route(settings, metrics)
    retry = RetryPolicy(
        initial=settings.worker_sink_retry_initial_seconds,
        maximum=settings.sink_retry_max_seconds,
    )

    def step(kafka: KafkaRoute, on_outage: Callable[[bool], None]) -> BatchStep:
        return BatchStep(
            lambda: Engine(config, key.keys),
            sink,
            metrics=metrics,
            kafka=kafka,
            alertmanager=alertmanager_route,
            retry=retry,
            on_outage=on_outage,
        )

    runtime = WorkerRuntime(settings, step, metrics, alertmanager=alertmanager_route)
    return runtime, sink
