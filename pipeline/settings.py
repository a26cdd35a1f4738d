"""The one settings object. Nothing else in the pipeline reads the environment.

Every field is read from an environment variable `PIPELINE_<FIELD>` (or a `.env` file in the
working directory); the embedded defaults need none of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.core.bounds import DEFAULT_EARLIEST, STORABLE_FROM, TimeHorizon
from pipeline.core.pseudonyms import key_strength_problem
from pipeline.core.stored import FreeTextPolicy
from pipeline.core.windows import WindowKind
from pipeline.endpoints import ClickHouseDsn, HttpEndpoint
from pipeline.errors import ConfigError, UsageError
from pipeline.kafka_bootstrap import KafkaBootstrap

DEFAULT_DATA_DIR = Path("data")


def _alertmanager_endpoint(value: object) -> HttpEndpoint:
    if isinstance(value, HttpEndpoint):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a URL")
    return HttpEndpoint.parse(
        value,
        credentials_hint="set PIPELINE_ALERTMANAGER_USERNAME and PIPELINE_ALERTMANAGER_PASSWORD "
        "(basic auth) or PIPELINE_ALERTMANAGER_BEARER_TOKEN instead",
    )


AlertmanagerUrl = Annotated[
    HttpEndpoint, PlainValidator(_alertmanager_endpoint), PlainSerializer(str)
]
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


MAX_KAFKA_INTERVAL_SECONDS = (2**31 - 1) // 1000
"""Kafka carries its poll interval in int32 milliseconds (24.8 days); `inf` or 1e300 passed the
settings though no consumer can send them."""


class Settings(BaseSettings):
    """Pipeline configuration (README, "Configuration", lists every variable)."""

    model_config = SettingsConfigDict(
        env_prefix="PIPELINE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,  # the input may be a secret
    )

    kafka_bootstrap: KafkaBootstrap = KafkaBootstrap.parse("localhost:9092")
    """Kafka bootstrap servers, `host:port[,host:port...]` (an IPv6 host in brackets)."""
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    """How the worker and the publisher talk to Kafka: SSL and SASL_SSL encrypt (TLS, the
    broker's certificate verified), SASL_* authenticate."""
    kafka_sasl_mechanism: KafkaSaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    """PEM file of the CA that signed the broker's certificate (default: the system's CAs)."""
    clickhouse_dsn: ClickHouseDsn | None = None
    """`chdb:///path` (embedded) or `http(s)://user:password@host:8123/database` (server);
    `https` means TLS with the server's certificate verified. Unset: an embedded database under
    ./data/clickhouse."""
    clickhouse_ca_file: Path | None = None
    """PEM file of the CA that signed ClickHouse's certificate, for https:// DSNs (default:
    the system's CAs)."""
    clickhouse_database: str = Field("quality", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    """The database the pipeline's tables live in (created if missing)."""
    pseudonymisation_key: SecretStr | None = None
    """Secret for patient-reference pseudonyms (HMAC-SHA256); required by the worker; at least
    128 bits of estimated entropy (pipeline/core/pseudonyms.py, docs/operations.md)."""
    pseudonymisation_previous_keys: SecretStr | None = None
    """After a key rotation: the keys used before, oldest first, separated by commas. Chained
    with the current key (docs/operations.md, "Rotating the pseudonymisation key")."""
    window: WindowKind = WindowKind.WEEK
    allowed_lateness_days: float = Field(7.0, ge=0, le=366)
    free_text: FreeTextPolicy = FreeTextPolicy.REDACTED
    event_time_earliest: datetime = DEFAULT_EARLIEST
    """Event times before this are rejected (`invalid_value`); RFC 3339 with an offset."""
    watermark_max_step_days: float = Field(28.0, gt=0, le=3660)
    """How far one event may move the watermark: one far ahead cannot make everything late."""
    event_time_ahead_hours: float = Field(24.0, ge=0, le=24 * 366)
    """Event times more than this far ahead of processing time are rejected (`invalid_value`)."""
    topic_prefix: str = Field("quality", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    """Topics are `<prefix>.<event_type>`, `<prefix>.alerts` and `<prefix>.dead_letter`."""
    topic_partitions: int = Field(6, ge=1, le=1000)
    worker_id: str = Field("quality-pipeline", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    """faust app id: also the Kafka consumer group."""
    batch_max_events: int = Field(20_000, ge=1, le=100_000)
    """The most events in one batch of the worker (a batch is whatever was fetched, up to this:
    batches fill only under a backlog); each partition's fetch has room for this many
    (pipeline/runtime/batch_consumer.py)."""
    batch_within_seconds: float = Field(1.0, gt=0, le=60)
    judge_every_events: int = Field(50_000, ge=1, le=1_000_000)
    """While the worker has a backlog (a full batch of `batch_max_events`, or another batch's
    worth waiting behind it), it judges at most once per this many events; any other batch
    (caught up) is judged at once (pipeline/runtime/cadence.py). At or below
    `batch_max_events`: every batch."""
    sink_retry_max_seconds: float = Field(30.0, gt=0, le=3600)
    """Longest pause between retries while ClickHouse is unavailable (retries never stop)."""
    alertmanager_url: AlertmanagerUrl | None = None
    """e.g. `http://alertmanager:9093`; unset: alerts go to Kafka and ClickHouse only.
    Credentials are the settings below, never part of the URL."""
    alertmanager_username: str | None = None
    alertmanager_password: SecretStr | None = None
    """Basic auth for Alertmanager (with alertmanager_username)."""
    alertmanager_bearer_token: SecretStr | None = None
    """`Authorization: Bearer` token for Alertmanager (instead of basic auth)."""
    alertmanager_ca_file: Path | None = None
    """PEM file of the CA that signed Alertmanager's certificate, for https:// URLs."""
    metrics_port: int = Field(9464, ge=0, le=65535)
    """Prometheus metrics and the /livez, /readyz and /healthz probes; 0 turns the HTTP server
    off."""
    # The Kafka worker (pipeline worker); see docs/worker.md.
    alertmanager_resend_seconds: float = Field(60.0, gt=0, le=3600)
    """How often open alerts are posted to Alertmanager again, which keeps them firing."""
    worker_sink_retry_initial_seconds: float = Field(0.5, gt=0, le=60)
    """First pause before retrying a failed ClickHouse write (doubled up to sink_retry_max)."""
    worker_session_timeout_seconds: float = Field(60.0, ge=6, le=3600)
    """Kafka consumer group session timeout: how soon a silent worker's partitions move on."""
    worker_max_poll_interval_seconds: float = Field(86400.0, ge=60, le=MAX_KAFKA_INTERVAL_SECONDS)
    """How long a worker may fetch nothing (consumption held while ClickHouse is down) before
    Kafka gives its partitions to others; long, as no other worker could store them either."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator(
        "kafka_ssl_cafile",
        "clickhouse_ca_file",
        "alertmanager_ca_file",
        "clickhouse_dsn",
        "alertmanager_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `VAR=` in an env file means "not set", not the current directory or an empty URL
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("pseudonymisation_key")
    @classmethod
    def _strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (problem := key_strength_problem(value.get_secret_value())):
            raise ValueError(problem)
        return value

    @field_validator("event_time_earliest")
    @classmethod
    def _storable(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry an offset, e.g. 1990-01-01T00:00:00Z")
        if value.astimezone(UTC) < STORABLE_FROM:
            raise ValueError(
                f"must not be before {STORABLE_FROM:%Y-%m-%d} (storage holds no earlier)"
            )
        return value.astimezone(UTC)

    def time_horizon(self) -> TimeHorizon:
        """The event-time horizon every validation uses (publish --check, replay, worker)."""
        return TimeHorizon(self.event_time_earliest, timedelta(hours=self.event_time_ahead_hours))

    @field_validator("pseudonymisation_previous_keys")
    @classmethod
    def _previous_keys(cls, value: SecretStr | None) -> SecretStr | None:
        # Old keys were accepted by older rules: only an empty list is refused here.
        if value is not None and not _split_keys(value):
            raise ValueError("holds no key (keys are separated by commas)")
        return value

    @model_validator(mode="after")
    def _consistent_credentials(self) -> Settings:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and (not self.kafka_sasl_username or self.kafka_sasl_password is None):
            raise ValueError(
                f"PIPELINE_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "PIPELINE_KAFKA_SASL_USERNAME and PIPELINE_KAFKA_SASL_PASSWORD"
            )
        if self.alertmanager_bearer_token is not None and self.alertmanager_password is not None:
            raise ValueError(
                "set either PIPELINE_ALERTMANAGER_BEARER_TOKEN or PIPELINE_ALERTMANAGER_PASSWORD, "
                "not both"
            )
        if (self.alertmanager_username is None) != (self.alertmanager_password is None):
            raise ValueError(
                "PIPELINE_ALERTMANAGER_USERNAME and PIPELINE_ALERTMANAGER_PASSWORD go together"
            )
        if self.pseudonymisation_previous_keys is not None and self.pseudonymisation_key is None:
            raise ValueError(
                "PIPELINE_PSEUDONYMISATION_PREVIOUS_KEYS needs PIPELINE_PSEUDONYMISATION_KEY"
            )
        return self

    def resolved_clickhouse_dsn(self, override: str | ClickHouseDsn | None = None) -> ClickHouseDsn:
        """The DSN to use: `override` (a command's --clickhouse), the setting, or the default.

        UsageError (its message masked) if `override` is not a DSN: a malformed option.
        """
        if isinstance(override, str):
            try:
                return ClickHouseDsn.parse(override)
            except ValueError as exc:
                raise UsageError(f"--clickhouse: {exc}") from None
        dsn = override or self.clickhouse_dsn
        if dsn is None:
            return ClickHouseDsn.parse(f"chdb://{(DEFAULT_DATA_DIR / 'clickhouse').resolve()}")
        return dsn

    def pseudonymisation_keys(self) -> tuple[bytes, ...]:
        """The key chain, oldest first and the current key last (empty when no key is set)."""
        if self.pseudonymisation_key is None:
            return ()
        previous = self.pseudonymisation_previous_keys
        older = _split_keys(previous) if previous is not None else []
        return (*(k.encode() for k in older), self.pseudonymisation_key.get_secret_value().encode())

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"


def _split_keys(value: SecretStr) -> list[str]:
    return [part.strip() for part in value.get_secret_value().split(",") if part.strip()]


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and .env), with explicit overrides; ConfigError if invalid."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        # Each error's message only: pydantic's full text would repeat the input (a secret).
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from exc


def _problem(error: ErrorDetails) -> str:
    """One settings error in the operator's words, naming the variable as it is spelled."""
    name = "_".join(str(p) for p in error["loc"]).upper()
    if error["type"] == "extra_forbidden":
        # only a .env file brings names that are not settings (the environment's other
        # variables are not read); its names come with their prefix, if they have one
        return f"{name} in .env is not a pipeline setting (a typo? the README lists them)"
    if not name:
        return error["msg"].removeprefix("Value error, ")
    return f"PIPELINE_{name}: {error['msg']}"
