"""A stop signal before faust's handlers are installed: held, then acted on once they are
(found by the outside check: SIGTERM in the worker's first two seconds ended it with 143)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.runtime.early_stop import EarlyStop
from pipeline.runtime.worker_app import FaustWorker, faust_app
from pipeline.settings import Settings


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_starting_is_recorded_not_fatal(signum: signal.Signals) -> None:
    before = signal.getsignal(signum)
    with EarlyStop() as early_stop:
        os.kill(os.getpid(), signum)
        os.kill(os.getpid(), signal.SIGTERM)  # a second one changes nothing
        assert early_stop.received == signum
    assert signal.getsignal(signum) is before


def test_nothing_received_leaves_nothing_to_act_on() -> None:
    with EarlyStop() as early_stop:
        pass
    assert early_stop.received is None


def _installed_worker(tmp_path: Path, early_stop: EarlyStop | None) -> list[Callable[[], None]]:
    """The `then`s FaustWorker handed to `begin_shutdown` once it installed its handlers."""
    asked: list[Callable[[], None]] = []

    async def install() -> None:
        loop = asyncio.get_running_loop()
        app = faust_app(Settings(), loop, tmp_path, ["quality.t"])
        worker = FaustWorker(asked.append, app, loop=loop, quiet=True, early_stop=early_stop)
        worker.install_signal_handlers()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
            loop.remove_signal_handler(signum)

    asyncio.run(install())
    return asked


def test_a_signal_held_while_starting_stops_the_worker_once_its_handlers_are_in(
    tmp_path: Path,
) -> None:
    with EarlyStop() as early_stop:
        os.kill(os.getpid(), signal.SIGTERM)
        (then,) = _installed_worker(tmp_path, early_stop)
    assert then.__name__ == "_on_sigterm"  # faust's own stop, after the batch in flight


def test_without_an_early_signal_installing_the_handlers_stops_nothing(tmp_path: Path) -> None:
    with EarlyStop() as early_stop:
        assert _installed_worker(tmp_path, early_stop) == []
    assert _installed_worker(tmp_path, None) == []
