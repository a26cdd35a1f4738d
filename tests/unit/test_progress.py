"""The progress line keeps moving while the work is stuck in one long call."""

from __future__ import annotations

import io
import threading

from pipeline.progress import Progress


class Terminal(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.redrawn = threading.Semaphore(0)

    def isatty(self) -> bool:
        return True

    def flush(self) -> None:
        self.redrawn.release()


def test_the_line_is_redrawn_without_any_advance() -> None:
    terminal = Terminal()
    progress = Progress(terminal, 100, "bytes", interval=0.01)
    try:
        for _ in range(3):  # three redraws with no call to advance()
            assert terminal.redrawn.acquire(timeout=30)
    finally:
        progress.close()
    assert terminal.getvalue().count("\r") >= 3
    assert terminal.getvalue().endswith("\n")


def test_the_interval_is_at_most_a_second() -> None:
    progress = Progress(Terminal(), None, "bytes", interval=5.0)
    progress.close()
    assert progress._interval == 1.0


def test_nothing_is_drawn_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(stream, 10, "bytes", interval=0.01)
    progress.advance(5, 5)
    progress.close()
    assert stream.getvalue() == ""


def test_no_eta_is_promised_before_anything_is_done() -> None:
    terminal = Terminal()
    progress = Progress(terminal, 100, "bytes", interval=0.01)
    try:
        assert terminal.redrawn.acquire(timeout=30)
    finally:
        progress.close()
    first = terminal.getvalue().split("\r")[1]
    assert "ETA    ?" in first and "ETA    0s" not in first


def test_a_stage_after_the_count_replaces_the_eta() -> None:
    """Judging once the input is read: the line says so rather than an ETA of about 1 s."""
    terminal = Terminal()
    progress = Progress(terminal, 100, "bytes", interval=5.0)
    progress.advance(99, 990)
    progress.stage("input read; judging")
    staged = terminal.getvalue().split("\r")[-1]
    progress.advance(100, 1000)
    progress.close()
    assert "input read; judging" in staged and "ETA" not in staged
    assert "judging" not in terminal.getvalue().split("\r")[-1]  # the final line: the count
