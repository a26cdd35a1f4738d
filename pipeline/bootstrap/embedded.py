"""The embedded composition root: settings in; engine, migrated sink and embedded runner out.

The commands call these builders; nothing in `pipeline.runtime` or below imports them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.bootstrap.collector import settle_collector
from pipeline.core.detection import DetectionConfig
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.pseudonyms import PseudonymKeys
from pipeline.core.windows import WindowKind
from pipeline.errors import ConfigError
from pipeline.runtime.embedded import EmbeddedRunner
from pipeline.runtime.step import Step
from pipeline.settings import Settings, load_settings

log = logging.getLogger("pipeline")
__all__ = [
    "build_embedded",
    "build_engine",
    "engine_config",
    "engine_factory",
    "load_settings",
    "open_sink",
    "pseudonymisation_key",
    "refuse_another_window_kind",
]


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
        horizon=settings.time_horizon(),
        watermark_max_step=timedelta(days=settings.watermark_max_step_days),
    )


def build_engine(settings: Settings, window: WindowKind | None = None) -> Engine:
    return engine_factory(settings, window)()


def engine_factory(settings: Settings, window: WindowKind | None = None) -> Callable[[], Engine]:
    """Engines with this configuration and one key (the embedded mode's may be one-off)."""
    key = pseudonymisation_key(settings, required=False)
    if key.ephemeral:
        log.warning(
            "PIPELINE_PSEUDONYMISATION_KEY is not set: patient references are pseudonymised "
            "with a one-off key, so they cannot be linked to another run's"
        )
    config = engine_config(settings, window)
    return lambda: Engine(config, key.keys)


def open_sink(
    settings: Settings,
    dsn: str | None = None,
    window: WindowKind | None = None,
    *,
    existing: bool = False,
) -> ClickHouseSink:
    """A migrated sink for `dsn` (or the configured/default DSN). `existing` (the commands
    that only read): an embedded DSN must name a directory that exists, else ConfigError
    (chDB would create an empty store there, and the command would print zeros)."""
    resolved = settings.resolved_clickhouse_dsn(dsn)
    if existing and resolved.embedded and not Path(resolved.path).is_dir():
        raise ConfigError(
            f"no pipeline data at {resolved}: the directory does not exist (run `pipeline "
            "replay` or `make demo` first, or give the store with --clickhouse)"
        )
    sink = ClickHouseSink(
        resolved,
        settings.clickhouse_database,
        (window or settings.window).value,
        ca_file=settings.clickhouse_ca_file,
    )
    sink.migrate()
    return sink


def refuse_another_window_kind(sink: ClickHouseSink) -> None:
    """ConfigError when the store aggregates by another window kind than `sink`'s: its stored
    events would be duplicates here, counted in no window of this kind, and its aggregates
    of this kind (if any) miss the events stored by the other."""
    other = sorted(sink.window_kinds_stored() - {sink.window_kind})
    if other:
        raise ConfigError(
            f"the store at {sink.dsn} holds windows by {' and '.join(other)}: the events stored "
            f"there would count in no {sink.window_kind} window (a stored event id is a "
            f"duplicate). Use --window {other[0]} (PIPELINE_WINDOW={other[0]}), or a new store "
            "for the other window (--clickhouse)"
        )


def build_embedded(
    settings: Settings, dsn: str | None = None, window: WindowKind | None = None
) -> tuple[EmbeddedRunner, ClickHouseSink]:
    """An embedded runner restored from what its ClickHouse already holds (what the process
    holds by then is frozen out of the cycle collector's way: `settle_collector`)."""
    sink = open_sink(settings, dsn, window)
    try:
        refuse_another_window_kind(sink)
        step = Step(engine_factory(settings, window), sink)
        step.restore()
    except BaseException:
        sink.close()
        raise
    settle_collector()
    return EmbeddedRunner(step), sink
