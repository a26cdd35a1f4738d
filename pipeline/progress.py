"""A progress line for long work: done/total, rate and ETA, on a terminal only."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """Redraws one line on `stream` at most every `interval` seconds; silent unless a terminal."""

    def __init__(self, stream: TextIO, total: int | None, unit: str, interval: float = 0.2) -> None:
        self._stream = stream
        self._total = total
        self._unit = unit
        self._interval = interval
        self._enabled = stream.isatty()
        self._started = time.monotonic()
        self._last_draw = 0.0
        self.done = 0
        self.items = 0

    def advance(self, done: int, items: int) -> None:
        """`done` in the unit of `total` (e.g. bytes), `items` in events."""
        self.done = done
        self.items = items
        now = time.monotonic()
        if self._enabled and now - self._last_draw >= self._interval:
            self._last_draw = now
            self._draw(now)

    def close(self) -> None:
        if self._enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = self.items / elapsed
        text = f"{self.items:,} events  {rate:,.0f}/s"
        if self._total:
            share = min(self.done / self._total, 1.0)
            eta = elapsed * (1 - share) / share if share > 0 else 0.0
            bar = "#" * int(share * 30)
            text = f"[{bar:<30}] {share:6.1%}  {text}  ETA {eta:4.0f}s"
        self._stream.write("\r" + text)
        self._stream.flush()
