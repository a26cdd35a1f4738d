"""How often the step has the engine judge: every batch once caught up, less often in a backlog.

Judging (detection over each organisation touched) costs about as much per judgement whatever
the batch size, so at the worker's batches of 5,000 it was 43% of the engine's CPU while
catching up (docs/worker.md, "Measured"). While the worker has a backlog (a full batch, or
another batch's worth waiting when it was fetched) the step judges at most once per `every`
events; any other batch (caught up) is always judged, with everything left since, so
steady-state alerts keep their latency. The standing alerts are the same either way (the
engine judges the union of what changed); only when they are first raised moves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def _no_backlog() -> bool:
    return False


def _always_behind() -> bool:
    return True


class JudgingCadence:
    """Decides, batch by batch, whether the engine judges (`due`)."""

    def __init__(self, full_batch: int, every: int) -> None:
        """`full_batch`: the most events a batch holds (a batch of that many means a backlog);
        `every`: while batches are full, judge once this many events have come since the last
        judgement (at most `full_batch`: every batch)."""
        self.full_batch = full_batch
        self.every = every
        self._since = 0
        self.backlog: Callable[[], bool] = _no_backlog
        """Whether another batch's worth of records was waiting when the batch being judged
        was fetched (the worker's source says: a batch may fall short of `full_batch` while the
        fetcher lags behind the engine, a backlog all the same)."""

    @classmethod
    def every_batch(cls) -> JudgingCadence:
        return cls(full_batch=1, every=1)

    @classmethod
    def at_input_end(cls) -> JudgingCadence:
        """Never while input remains (a replay, always behind until its files end): the
        runtime judges everything once, at the end (`Step.finish`)."""
        cadence = cls(full_batch=1, every=sys.maxsize)
        cadence.backlog = _always_behind
        return cadence

    def due(self, events: int) -> bool:
        """Whether the batch of `events` just read is judged (counted as judged if so): always
        when it is not full and nothing was waiting behind it."""
        self._since += events
        behind = events >= self.full_batch or self.backlog()
        if not behind or self._since >= self.every:
            self._since = 0
            return True
        return False

    def judged(self) -> None:
        """Everything was judged outside `due` (before a stop or a revocation)."""
        self._since = 0
