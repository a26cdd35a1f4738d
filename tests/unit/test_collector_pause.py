"""The step's pause of Python's cycle collector: counted across threads, never left off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from pipeline.runtime.retry import collector_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_overlapping_pauses_of_two_threads_end_with_the_last() -> None:
    """The engine thread's pause begins first and ends first: the store thread's goes on."""
    entered, release = threading.Event(), threading.Event()

    def store_thread() -> None:
        with collector_paused():
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=store_thread)
    with collector_paused():
        assert not gc.isenabled()
        thread.start()
        assert entered.wait(5)
    assert not gc.isenabled(), "the other thread's pause is still on"
    release.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
    gc.enable()


def test_an_exception_inside_still_ends_the_pause() -> None:
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()
