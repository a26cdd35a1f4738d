"""A progress line for long work: done/total, rate and ETA, on a terminal only."""

from __future__ import annotations

import threading
import time
from typing import TextIO


class Progress:
    """Redraws one line on `stream` while the work runs; silent unless a terminal.

    The line is redrawn at least every `interval` seconds (at most 1), also while the work is
    stuck in one long call (a broker applying back-pressure, a large insert), so a person can
    always tell a slow run from a hung one. `close()` draws the final line and stops the timer.
    """

    def __init__(self, stream: TextIO, total: int | None, unit: str, interval: float = 0.2) -> None:
        self._stream = stream
        self._total = total
        self._unit = unit
        self._interval = min(interval, 1.0)
        self._enabled = stream.isatty()
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.done = 0
        self.items = 0
        self._stage: str | None = None
        self._ticker: threading.Thread | None = None
        if self._enabled:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()

    def advance(self, done: int, items: int) -> None:
        """`done` in the unit of `total` (e.g. bytes), `items` in events."""
        self.done = done
        self.items = items
        now = time.monotonic()
        if self._enabled and now - self._last_draw >= self._interval:
            self._draw(now)

    def stage(self, text: str) -> None:
        """Work after the counted part (e.g. judging once the input is read): said in place of
        an ETA, which the count could no longer tell."""
        self._stage = text
        if self._enabled:
            self._draw(time.monotonic())

    def close(self) -> None:
        self._stopped.set()
        if self._ticker is not None:
            self._ticker.join()
        self._stage = None  # the final line is the count's
        if self._enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()

    def _tick(self) -> None:
        while not self._stopped.wait(self._interval):
            now = time.monotonic()
            if now - self._last_draw >= self._interval:
                self._draw(now)

    def _draw(self, now: float) -> None:
        with self._lock:
            self._last_draw = now
            elapsed = max(now - self._started, 1e-9)
            rate = self.items / elapsed
            text = f"{self.items:,} events  {rate:,.0f}/s  {elapsed:,.0f}s"
            if self._total:
                share = min(self.done / self._total, 1.0)
                # nothing done yet gives no rate to tell the rest by: no ETA rather than 0 s
                eta = f"{elapsed * (1 - share) / share:4.0f}s" if share > 0 else "   ?"
                bar = "#" * int(share * 30)
                text = f"[{bar:<30}] {share:6.1%}  {text}"
                if self._stage is None:
                    text += f"  ETA {eta}"
            if self._stage is not None:
                text += f"  {self._stage}"
            self._stream.write("\r" + text)
            self._stream.flush()
