"""The step's alert routes and their outbox: a route the batch waits for (the alerts and
dead-letter topics) and one that delivers in the background (Alertmanager).

A batch's alert versions are stored first (by the step), then routed, then recorded in the
store's outbox; a version stored but not recorded (a stop in between) is routed on the next
restore. Failures of the waited-for route are retried by the step's retry loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from pipeline.adapters.clickhouse.outbox import version_of
from pipeline.core.alerts import AlertStatus
from pipeline.core.engine import BatchResult, Engine
from pipeline.errors import TransportError
from pipeline.runtime.ports import AlertRoute, BackgroundRoute, Metrics, OwnsOrg, Store

log = logging.getLogger("pipeline.step")

TOPIC_ROUTE = "kafka"
BACKGROUND_ROUTE = "alertmanager"


class Retrying(Protocol):
    def __call__(
        self,
        what: str,
        action: Callable[[], Any],
        *,
        errors: tuple[type[Exception], ...] = ...,
        route: str | None = ...,
    ) -> Any: ...


class Routes:
    """Where alert versions and dead letters go besides the store (none: `Routes.none()`)."""

    def __init__(
        self, topic: AlertRoute | None = None, background: BackgroundRoute | None = None
    ) -> None:
        self.topic = topic
        self.background = background
        self._retrying: Retrying | None = None

    @classmethod
    def none(cls) -> Routes:
        return cls()

    def bind(self, retrying: Retrying, metrics: Metrics) -> None:
        self._retrying = retrying
        self._metrics = metrics

    def _retry(self) -> Retrying:
        if self._retrying is None:
            raise RuntimeError("Routes used before being bound to a step")
        return self._retrying

    def route(self, store: Store, result: BatchResult) -> None:
        retrying = self._retry()
        topic = self.topic
        if topic is not None and (result.alerts or result.rejected):
            retrying(
                "publish alerts and dead letters",
                lambda: topic.deliver(result.alerts, result.rejected),
                errors=(TransportError,),
                route=TOPIC_ROUTE,
            )
            versions = [version_of(a) for a in result.alerts]
            retrying("record alert deliveries", lambda: store.mark_delivered(versions, TOPIC_ROUTE))
        if self.background is not None and result.alerts:
            self.background.submit(result.alerts)
        self.flush(store)

    def flush(self, store: Store) -> None:
        """Record what the background route took since the last call."""
        if self.background is not None:
            done = self.background.delivered()
            if done:
                self._retry()(
                    "record Alertmanager deliveries",
                    lambda: store.mark_delivered(done, BACKGROUND_ROUTE),
                )

    def retain(self, held: OwnsOrg) -> None:
        """Background deliveries only for the organisations `held` accepts."""
        if self.background is not None:
            self.background.retain(lambda alert: held(alert.org_id))

    def route_pending(self, store: Store, engine: Engine, owns: OwnsOrg, held: OwnsOrg) -> None:
        """Alert versions of the organisations `owns` accepts (just restored) stored by an
        earlier run but never routed (it stopped in between); `held`: every organisation the
        runtime now holds."""
        retrying = self._retry()
        if self.topic is not None:
            pending = retrying("read the alert outbox", lambda: store.undelivered(TOPIC_ROUTE))
            mine = [a for a in pending if owns(a.org_id)]
            if mine:
                log.info("routing %d stored alert versions not yet published", len(mine))
                self.route(store, BatchResult(alerts=mine))
        background = self.background
        if background is not None:
            latest = [a for a in engine.alerts if owns(a.org_id)]
            sent = retrying(
                "read the alert outbox", lambda: store.delivered_versions(BACKGROUND_ROUTE)
            )
            first = retrying("read alert history", store.first_detected)
            seed = [a for a in latest if a.status is AlertStatus.OPEN or version_of(a) not in sent]
            self.retain(held)
            background.seed(seed, first, {alert_id for alert_id, _ in sent})
