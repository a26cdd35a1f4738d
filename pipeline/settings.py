"""The one settings object. Nothing else in the pipeline reads the environment.

Every field is read from an environment variable `PIPELINE_<FIELD>` (or a `.env` file in the
working directory); the embedded defaults need none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.core.stored import FreeTextPolicy
from pipeline.core.windows import WindowKind
from pipeline.errors import ConfigError

DEFAULT_DATA_DIR = Path("data")


class Settings(BaseSettings):
    """Pipeline configuration (README, "Configuration", lists every variable)."""

    model_config = SettingsConfigDict(
        env_prefix="PIPELINE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
    )

    kafka_bootstrap: str = Field("localhost:9092", min_length=1)
    """Kafka bootstrap servers, comma separated."""
    clickhouse_dsn: str | None = None
    """`chdb:///path` (embedded) or `http(s)://user:password@host:8123/database` (server).
    Unset: an embedded database under ./data/clickhouse."""
    clickhouse_database: str = Field("quality", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    """The database the pipeline's tables live in (created if missing)."""
    pseudonymisation_key: SecretStr | None = None
    """Secret for patient-reference pseudonyms (HMAC-SHA256); required by the worker."""
    window: WindowKind = WindowKind.WEEK
    allowed_lateness_days: float = Field(7.0, ge=0, le=366)
    free_text: FreeTextPolicy = FreeTextPolicy.REDACTED
    topic_prefix: str = Field("quality", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    """Topics are `<prefix>.<event_type>`, `<prefix>.alerts` and `<prefix>.dead_letter`."""
    topic_partitions: int = Field(6, ge=1, le=1000)
    worker_id: str = Field("quality-pipeline", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    """faust app id: also the Kafka consumer group."""
    batch_max_events: int = Field(500, ge=1, le=100_000)
    batch_within_seconds: float = Field(1.0, gt=0, le=60)
    sink_retry_max_seconds: float = Field(30.0, gt=0)
    """Longest pause between retries while ClickHouse is unavailable (retries never stop)."""
    alertmanager_url: str | None = None
    """e.g. `http://alertmanager:9093`; unset: alerts go to Kafka and ClickHouse only."""
    metrics_port: int = Field(9464, ge=0, le=65535)
    """Prometheus metrics and /healthz; 0 turns the HTTP server off."""
    # The Kafka worker (pipeline worker); see docs/worker.md.
    alertmanager_resend_seconds: float = Field(60.0, gt=0, le=3600)
    """How often open alerts are posted to Alertmanager again, which keeps them firing."""
    worker_sink_retry_initial_seconds: float = Field(0.5, gt=0, le=60)
    """First pause before retrying a failed ClickHouse write (doubled up to sink_retry_max)."""
    worker_session_timeout_seconds: float = Field(60.0, ge=6, le=3600)
    """Kafka consumer group session timeout: how soon a silent worker's partitions move on."""
    worker_max_poll_interval_seconds: float = Field(86400.0, ge=60)
    """How long a worker may fetch nothing (consumption held while ClickHouse is down) before
    Kafka gives its partitions to others; long, as no other worker could store them either."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("clickhouse_dsn")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("chdb://", "http://", "https://")):
            raise ValueError("must start with chdb://, http:// or https://")
        return value

    def resolved_clickhouse_dsn(self, override: str | None = None) -> str:
        """The DSN to use: `override` (a command's --clickhouse), the setting, or the default."""
        dsn = override or self.clickhouse_dsn
        if dsn is None:
            return f"chdb://{(DEFAULT_DATA_DIR / 'clickhouse').resolve()}"
        return dsn

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and .env), with explicit overrides; ConfigError if invalid."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"PIPELINE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
