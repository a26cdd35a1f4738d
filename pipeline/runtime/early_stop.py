"""A stop signal that comes before faust's handlers are in place.

faust installs its SIGTERM and SIGINT handlers on its first start, inside the event loop, about
two seconds after `pipeline worker` starts (imports, ClickHouse's migrations, Kafka's login).
Until then Python's defaults apply: SIGTERM ended the process with status 143 and SIGINT with a
KeyboardInterrupt traceback, so an orchestrator that stopped a worker it had just started saw
a failure. `EarlyStop` holds such a signal from the first line of the command: the worker is
built as usual (nothing is half-done), then it stops at once, exit 0 (no partition was
assigned, so there is nothing to commit).
"""

from __future__ import annotations

import logging
import signal
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger("pipeline.worker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class EarlyStop:
    """A context: while it is open, SIGTERM and SIGINT are recorded (`received`) instead of
    ending the process, until something installs its own handlers over them (faust does);
    on leaving, the handlers found on entry are put back. Only the main thread may enter it
    (Python delivers signals there)."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> EarlyStop:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._record)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _record(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
            log.info("%s received while starting: stopping once started", self.received.name)
