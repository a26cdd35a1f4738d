"""Publishing events from a service's own code: validate first, then send to the pipeline's topics.

    from pipeline.publishing import Publisher

    with Publisher() as publisher:           # PIPELINE_KAFKA_BOOTSTRAP, or bootstrap="host:9092"
        publisher.publish(event)             # a dict, the JSON bytes, or an event model

An invalid event raises `EventRejected` with the machine-readable reason and the field, and is
not sent; nothing else is affected. Leaving the `with` block waits until Kafka has acknowledged
every event (TransportError if it did not).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from pipeline.adapters.publisher import EventProducer, KafkaTimeouts
from pipeline.core.bounds import EventBounds, TimeHorizon
from pipeline.core.decode import Rejection, RejectReason, decode, shown_field
from pipeline.core.events import AnyEvent
from pipeline.errors import ConfigError, EventRejected
from pipeline.kafka_bootstrap import KafkaBootstrap
from pipeline.settings import Settings, load_settings

EventInput = Mapping[str, Any] | bytes | AnyEvent


class Publisher:
    """Validates events and publishes them, keyed and partitioned like `pipeline publish`.

    Opening connects to Kafka and creates missing topics (TransportError if the broker cannot
    be reached within `timeouts.connect_seconds`).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        bootstrap: str | None = None,
        timeouts: KafkaTimeouts | None = None,
    ) -> None:
        settings = settings or settings_from_environment()
        self._horizon = settings.time_horizon()
        servers = None
        if bootstrap is not None:
            try:
                servers = KafkaBootstrap.parse(bootstrap)
            except ValueError as exc:
                raise ConfigError(f"bootstrap {exc}") from None
        self._producer = EventProducer(settings, servers, timeouts)

    def publish(self, event: EventInput) -> None:
        """Validate `event` and queue it for its topic; EventRejected if it is not valid."""
        self._producer.send(*validate(event, self._horizon.at(datetime.now(UTC))))

    def flush(self) -> None:
        """Wait until Kafka has acknowledged every published event (TransportError if not)."""
        self._producer.flush()

    def close(self) -> None:
        self._producer.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()


def settings_from_environment() -> Settings:
    """The settings object, read from PIPELINE_* variables and .env (ConfigError if invalid)."""
    return load_settings()


def validate(event: EventInput, bounds: EventBounds | None = None) -> tuple[AnyEvent, bytes]:
    """The event and the bytes to send for it; EventRejected with the reason if it is invalid.

    `bounds` are the event-time bounds to check (default: the default horizon, now): the same
    validation the worker applies.

    Bytes are sent exactly as given. A dict is written as JSON (a `datetime` as ISO 8601 text,
    a UUID as its string), a model as its JSON.
    """
    raw = _event_bytes(event)
    outcome = decode(raw, bounds or TimeHorizon().at(datetime.now(UTC)))
    if isinstance(outcome, Rejection):
        raise EventRejected(outcome.reason.value, shown_field(outcome), outcome.detail)
    return outcome, raw


def _event_bytes(event: EventInput) -> bytes:
    if isinstance(event, bytes | bytearray):
        return bytes(event)
    if isinstance(event, BaseModel):
        return event.model_dump_json(exclude_none=True).encode()
    if isinstance(event, Mapping):
        try:
            text = json.dumps(event, ensure_ascii=False, allow_nan=False, default=_json_value)
        except (TypeError, ValueError) as exc:
            raise EventRejected(RejectReason.NOT_JSON.value, "", str(exc)) from exc
        return text.encode("utf-8", "surrogatepass")
    raise TypeError(f"cannot publish a {type(event).__name__}: give a dict, bytes or an event")


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
