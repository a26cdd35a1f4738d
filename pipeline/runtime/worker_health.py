"""What the worker answers on /livez (liveness) and /readyz and /healthz (readiness).

Kubernetes restarts a container whose liveness probe fails and only takes one out of service
whose readiness probe fails. A restart fixes a worker that is wedged, never an outage of what
it depends on: restarting every worker while Kafka or ClickHouse is down only adds group
rebalances and restores to the outage. So:

- alive (`/livez`): the worker's event loop turns (its probe timer, which waits on nothing,
  ran within `LOOP_STALLED_SECONDS`), whatever Kafka and ClickHouse do;
- ready (`/readyz`, and `/healthz` as before): running, ClickHouse taking writes, and a
  connection to a Kafka broker within the last `KAFKA_GRACE_SECONDS` (the consumer fetches
  every 100 ms and heartbeats every few seconds, so a live broker always has one open).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.runtime.retry import SinkHealth

LOOP_STALLED_SECONDS = 60.0
KAFKA_GRACE_SECONDS = 10.0


class WorkerHealth:
    """The loop's last turn and the last time a broker connection was seen (monotonic)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        kafka_grace: float = KAFKA_GRACE_SECONDS,
        loop_stalled: float = LOOP_STALLED_SECONDS,
    ) -> None:
        self._clock = clock
        self._kafka_grace = kafka_grace
        self._loop_stalled = loop_stalled
        self._turned = self._kafka_seen = clock()

    def turned(self, broker_connected: bool | None) -> None:
        """The loop's probe timer ran; `broker_connected`: whether the consumer holds an open
        connection to a broker (None: not known, as before the consumer starts)."""
        now = self._clock()
        self._turned = now
        if broker_connected is None or broker_connected:
            self._kafka_seen = now

    def kafka_unreachable_for(self) -> float | None:
        """Seconds since a broker connection was last seen, once past the grace; else None."""
        since = self._clock() - self._kafka_seen
        return since if since > self._kafka_grace else None

    def ready(self, sink: SinkHealth) -> tuple[bool, str]:
        """Readiness of a running worker whose ClickHouse is as `sink` says."""
        if sink.down:
            return False, "ClickHouse unavailable, retrying"
        unreachable = self.kafka_unreachable_for()
        if unreachable is not None:
            return False, f"Kafka unreachable for {unreachable:.0f}s (no broker connection)"
        if sink.refused_rows:
            return True, (
                f"running, ClickHouse up; {sink.refused_rows} rows it refused were dead-lettered"
            )
        return True, "running, ClickHouse up"

    def alive(self) -> tuple[bool, str]:
        stalled = self._clock() - self._turned
        if stalled > self._loop_stalled:
            return False, f"the worker's event loop has not turned for {stalled:.0f}s"
        return True, "alive"
