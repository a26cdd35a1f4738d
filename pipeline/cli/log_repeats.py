"""The Kafka clients' repeated log lines, let through once a minute.

While a broker is unreachable aiokafka logs each failed connection, metadata update, fetch and
coordinator request, every 50-100 ms: about 40 lines a second (measured, one worker, one
broker down), which buries everything else in the log. `RepeatsFilter` passes the first line of
each kind (logger, level, message template) and then one a minute, saying how many it left out.
`configure_process_logging` is how a process of the pipeline's own sets up its log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

KAFKA_CLIENT_LOGGERS = ("aiokafka", "kafka")


class RepeatsFilter(logging.Filter):
    """A handler filter: of the lines of `loggers` (and their children) with one template,
    at most one per `every` seconds; the next one let through names how many were left out."""

    def __init__(
        self,
        loggers: tuple[str, ...] = KAFKA_CLIENT_LOGGERS,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._loggers = loggers
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not any(record.name == n or record.name.startswith(n + ".") for n in self._loggers):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            passed, left_out = self._seen.get(key, (None, 0))
            if passed is not None and now - passed < self._every:
                self._seen[key] = (passed, left_out + 1)
                return False
            self._seen[key] = (now, 0)
        if left_out:
            record.msg = f"{record.msg} [{left_out} more like this in the last {self._every:g} s]"
        return True


def configure_process_logging() -> None:
    """INFO and above to standard error, each handler with a `RepeatsFilter`; only in a process
    with no log handlers yet (a host's, such as pytest's capture, are left alone: a filter put
    on them would outlive the command)."""
    root = logging.getLogger()
    if root.handlers:
        return
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in root.handlers:
        handler.addFilter(RepeatsFilter())
