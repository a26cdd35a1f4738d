"""The faust app the worker runs, and faust's worker with the pipeline's stop.

faust runs the app, the consumer group and its rebalances, the timers and the producer; no
message goes through its streams (pipeline/runtime/consumer_batches.py), so the app waits for
none on a stop. `WorkerRuntime` (worker.py) adds its task, timer and revocation hook.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust

from pipeline.kafka_transport import faust_credentials
from pipeline.runtime.batch_consumer import BatchApp, partition_fetch_bytes
from pipeline.runtime.early_stop import EarlyStop
from pipeline.settings import Settings


def faust_app(
    settings: Settings, loop: asyncio.AbstractEventLoop, datadir: Path, inputs: list[str]
) -> BatchApp:
    """The app as `settings` configure it, subscribed to `inputs` (raw keys and values)."""
    s = settings
    app = BatchApp(
        s.worker_id,
        broker=[f"kafka://{server}" for server in s.kafka_bootstrap.servers],
        broker_credentials=faust_credentials(s),
        loop=loop,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        datadir=str(datadir),
        topic_partitions=s.topic_partitions,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=s.worker_session_timeout_seconds,
        broker_request_timeout=max(90.0, s.worker_session_timeout_seconds + 30.0),
        broker_max_poll_interval=s.worker_max_poll_interval_seconds,
        broker_max_poll_records=s.batch_max_events,
        consumer_max_fetch_size=partition_fetch_bytes(s.batch_max_events),
        producer_acks=-1,
        # nothing goes through faust's streams, so there is nothing for it to wait for
        stream_wait_empty=False,
        processing_guarantee="at_least_once",
    )
    # Subscribed through faust's conductor (so its group membership and rebalances cover
    # them), read as raw batches (pipeline/runtime/consumer_batches.py).
    app.topics.add(
        app.topic(
            *inputs,
            key_serializer="raw",
            value_serializer="raw",
            partitions=s.topic_partitions,
        )
    )
    return app


def output_topic(app: BatchApp, settings: Settings, name: str) -> Any:
    """One of the topics the worker writes (alerts, dead letters), raw keys and values."""
    return app.topic(
        settings.topic(name),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )


class FaustWorker(faust.Worker):
    """faust's worker, with SIGTERM/SIGINT first finishing the batch in flight:
    `begin_shutdown(then)` does that and calls `then` (faust's own stop) when done. A signal
    `early_stop` received before faust's handlers were installed is acted on as soon as they
    are. It has no terminal spinner: it writes no escape codes (stdout is often a log file)."""

    def __init__(
        self,
        begin_shutdown: Callable[[Callable[[], None]], None],
        *args: Any,
        early_stop: EarlyStop | None = None,
        **kwargs: Any,
    ) -> None:
        self._begin_shutdown = begin_shutdown
        self._early_stop = early_stop
        super().__init__(*args, **kwargs)
        # faust's spinner turns on each log record through a handler it installs only when it
        # sets up logging, which the pipeline does itself; never turned, it still wrote the
        # "show cursor" escape (ESC[?25h) once startup finished, terminal or not. Without it
        # faust logs "Ready" instead.
        self.spinner = None

    def install_signal_handlers(self) -> None:
        super().install_signal_handlers()
        # from here on a signal reaches faust's handlers; one that came before is acted on now
        received = self._early_stop.received if self._early_stop is not None else None
        if received == signal.SIGINT:
            self._on_sigint()
        elif received is not None:
            self._on_sigterm()

    def _on_sigterm(self) -> None:
        self._begin_shutdown(super()._on_sigterm)

    def _on_sigint(self) -> None:
        self._begin_shutdown(super()._on_sigint)
