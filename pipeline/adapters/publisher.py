"""Validated events to their Kafka topics (kafka-python).

Each event goes to `<prefix>.<event_type>`, keyed by its `org_id` (pipeline/core/
partitioning.py), as the bytes its publisher wrote (already validated by the caller; never
re-serialised), through kafka-python's default (murmur2) partitioner. The producer is idempotent
with `acks=all`, so a retried send is not written twice and one organisation's events keep
their order. Missing topics are created first.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from pipeline.core.events import AnyEvent, EventType
from pipeline.core.partitioning import PARTITIONING_RULE, message_key, partition_for
from pipeline.errors import TransportError
from pipeline.kafka_bootstrap import DEFAULT_CONNECT_SECONDS, BrokerAddress, KafkaBootstrap
from pipeline.kafka_transport import check_access, describe, kafka_python_options
from pipeline.settings import Settings

__all__ = ["PARTITIONING_RULE", "partition_for"]
log = logging.getLogger("pipeline.publisher")

LINGER_MS = 5


@dataclass(frozen=True, slots=True)
class KafkaTimeouts:
    """How long to wait for the broker before giving up with a TransportError."""

    connect_seconds: float = DEFAULT_CONNECT_SECONDS
    delivery_seconds: float = 60.0


class EventProducer:
    """Sends validated events to their topics; creates the topics that are missing.

    Opening raises TransportError when the broker cannot be reached within
    `timeouts.connect_seconds`. `send` queues; `flush` waits until every queued event is
    acknowledged by all in-sync replicas, and raises TransportError for any that was not.
    """

    def __init__(
        self,
        settings: Settings,
        bootstrap: KafkaBootstrap | None = None,
        timeouts: KafkaTimeouts | None = None,
    ) -> None:
        self.bootstrap = bootstrap or settings.kafka_bootstrap
        self.timeouts = timeouts or KafkaTimeouts()
        self._settings = settings
        self.delivered_by_topic: Counter[str] = Counter()
        self.sent = 0
        self._unacknowledged: dict[int, object] = {}  # the places of events sent, by order
        self._acknowledging = threading.Lock()  # callbacks run on kafka-python's thread
        self._failures: list[BaseException] = []
        self._failed = False
        servers = self.bootstrap.servers
        # kafka-python leaks a thread and sockets when its bootstrap fails, so first make sure
        # a broker answers at all
        _reach_any(servers, self.timeouts.connect_seconds, self._unreachable)
        if settings.kafka_security_protocol != "PLAINTEXT":
            # a refused login or certificate is named now, not after the clients' retries
            check_access(settings, self.bootstrap, self.timeouts.connect_seconds)
        connect_ms = int(self.timeouts.connect_seconds * 1000)
        common = kafka_python_client_options(
            settings, self.bootstrap, self.timeouts.connect_seconds, "pipeline-publish"
        )
        try:
            self._create_missing_topics(common)
            delivery_ms = int(self.timeouts.delivery_seconds * 1000)
            self._producer = KafkaProducer(
                **common,
                enable_idempotence=True,
                acks="all",
                linger_ms=LINGER_MS,
                max_block_ms=connect_ms,
                # kafka-python refuses less than its request timeout (30 s) plus linger_ms
                delivery_timeout_ms=max(delivery_ms, 30_000 + LINGER_MS),
            )
        except KafkaTimeoutError as exc:
            raise self._unreachable(exc) from exc
        except KafkaError as exc:
            raise TransportError(f"Kafka at {self.bootstrap} refused the publisher: {exc}") from exc

    def send(self, event: AnyEvent, raw: bytes, place: object = None) -> None:
        """Queue `raw` (the bytes `event` was validated from) for its topic, keyed by its
        organisation. `place` (where it came from) is kept until Kafka acknowledges it:
        `first_unacknowledged` is where a publisher that failed may resume."""
        topic = self._settings.topic(event.event_type.value)
        try:
            future = self._producer.send(topic, value=raw, key=message_key(event.org_id))
        except KafkaError as exc:
            self._failed = True
            raise TransportError(f"Kafka refused an event for {topic}: {exc}") from exc
        order = self.sent
        self.sent += 1
        with self._acknowledging:
            self._unacknowledged[order] = place
        future.add_callback(self._delivered, topic, order)
        future.add_errback(self._failures.append)

    def first_unacknowledged(self) -> object:
        """The place of the earliest event sent that Kafka has not acknowledged (None: every
        one was, or it was sent without a place). Everything sent before it was acknowledged."""
        with self._acknowledging:
            first = min(self._unacknowledged, default=None)
            return None if first is None else self._unacknowledged[first]

    def flush(self) -> None:
        """Wait for every queued event; TransportError if any was not delivered."""
        try:
            self._producer.flush(timeout=self.timeouts.delivery_seconds)
        except KafkaError as exc:
            self._failed = True
            raise TransportError(
                f"Kafka at {self.bootstrap} did not acknowledge the events within "
                f"{self.timeouts.delivery_seconds:g} s: {exc}"
            ) from exc
        if self._failures:
            failures, self._failures = self._failures, []
            self._failed = True
            raise TransportError(
                f"{len(failures)} event(s) were not delivered to Kafka at {self.bootstrap}: "
                f"{failures[0]}"
            )

    @property
    def delivered(self) -> int:
        return sum(self.acknowledged_by_topic().values())

    def acknowledged_by_topic(self) -> Counter[str]:
        """How many events each topic has acknowledged so far (a copy)."""
        with self._acknowledging:
            return Counter(self.delivered_by_topic)

    def close(self) -> None:
        """Flush what is queued (best effort, and not at all once sending failed: that was
        reported already) and release the connection; never raises."""
        try:
            self._producer.close(timeout=0 if self._failed else self.timeouts.delivery_seconds)
        except KafkaError as exc:
            # kafka-python's close raises when its flush times out (its sender thread, a
            # daemon, is left to the process's exit)
            log.info("closed with events undelivered: %s", exc)

    def _delivered(self, topic: str, order: int, _metadata: Any) -> None:
        with self._acknowledging:
            del self._unacknowledged[order]
            self.delivered_by_topic[topic] += 1

    def _create_missing_topics(self, common: dict[str, Any]) -> None:
        partitions = self._settings.topic_partitions
        wanted = [self._settings.topic(t.value) for t in EventType]
        if created := create_missing_topics(common, wanted, partitions):
            log.info("created topics %s with %d partitions", ", ".join(created), partitions)

    def _unreachable(self, exc: Exception) -> TransportError:
        return TransportError(
            f"cannot reach Kafka at {self.bootstrap} within {self.timeouts.connect_seconds:g} s "
            f"over {describe(self._settings)} ({exc}); is the broker running? "
            "(PIPELINE_KAFKA_BOOTSTRAP or --bootstrap)"
        )


def kafka_python_client_options(
    settings: Settings, bootstrap: KafkaBootstrap, connect_seconds: float, client_id: str
) -> dict[str, Any]:
    """kafka-python's options for a client of `bootstrap` over the configured transport."""
    return {
        "bootstrap_servers": [str(server) for server in bootstrap.servers],
        "client_id": client_id,
        "bootstrap_timeout_ms": int(connect_seconds * 1000),
        **kafka_python_options(settings),
    }


def create_topics_if_missing(
    settings: Settings, names: list[str], connect_seconds: float
) -> tuple[list[str], dict[str, int]]:
    """Create those of `names` the broker does not have, with PIPELINE_TOPIC_PARTITIONS
    partitions; return them, and the partition count of each of `names` now. TransportError
    when the broker cannot be asked or refuses."""
    options = kafka_python_client_options(
        settings, settings.kafka_bootstrap, connect_seconds, "pipeline-topics"
    )
    try:
        created = create_missing_topics(options, names, settings.topic_partitions)
        admin = KafkaAdminClient(**options)
        try:
            counts = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
        finally:
            admin.close()
    except KafkaError as exc:
        raise TransportError(
            f"Kafka at {settings.kafka_bootstrap} did not create topics: {exc}"
        ) from exc
    return created, counts


def create_missing_topics(common: dict[str, Any], names: list[str], partitions: int) -> list[str]:
    """Create those of `names` the broker does not have, with `partitions` partitions each
    (replication as the broker's default); return them, sorted. kafka-python's KafkaError
    when the broker cannot be asked or refuses (another creating one meanwhile is fine)."""
    admin = KafkaAdminClient(**common)
    try:
        missing = sorted(set(names) - set(admin.list_topics()))
        if missing:
            spec = {
                name: {"num_partitions": partitions, "replication_factor": -1} for name in missing
            }
            with contextlib.suppress(TopicAlreadyExistsError):  # created by another meanwhile
                admin.create_topics(spec, wait_for_metadata=True)
        return missing
    finally:
        admin.close()


def _reach_any(
    servers: tuple[BrokerAddress, ...],
    timeout: float,
    failure: Callable[[Exception], TransportError],
) -> None:
    """Return once one of `servers` accepts a TCP connection within `timeout`."""
    deadline = time.monotonic() + timeout
    error: Exception = OSError("no bootstrap server given")
    for server in servers:
        try:
            with socket.create_connection(
                (server.host, server.port), timeout=max(deadline - time.monotonic(), 0.001)
            ):
                return
        except OSError as exc:
            error = exc
    raise failure(error)
