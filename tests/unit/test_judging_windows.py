"""`Judging` keeps each unit's windows sorted between batches (sorted again only when windows
were added): its closed windows and the latest closed end must be what sorting and filtering
every window afresh gives, whatever the order windows arrive in and the watermark moves."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.aggregates import UnitWindowState
from pipeline.core.arrivals import ReportArrivals
from pipeline.core.detection import DetectionConfig
from pipeline.core.judging import Judging
from pipeline.core.windows import Watermark, Window, WindowKind
from tests.support.series import START, aggregate

Step = tuple[list[tuple[int, int, int]], int]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            # windows added: (unit, first day, length in days), then the watermark's day
            st.lists(st.tuples(st.integers(0, 2), st.integers(0, 60), st.sampled_from([7, 28]))),
            st.integers(0, 100),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_closed_windows_equal_sorting_and_filtering_every_window_afresh(steps: list[Step]) -> None:
    units: dict[tuple[str, str], dict[Window, UnitWindowState]] = {}
    watermark = Watermark(allowed_lateness=timedelta(0))
    judging = Judging(
        cast(Any, None),
        units,
        watermark,
        "config",
        DetectionConfig(),
        ReportArrivals(WindowKind.WEEK),
    )
    for added, day in steps:
        for unit, first, length in added:
            start = START + timedelta(days=first)
            window = Window(start, start + timedelta(days=length))
            base = replace(aggregate(0, unit=f"u{unit}"), window=window)
            units.setdefault(("RXA", f"u{unit}"), {})[window] = UnitWindowState.restored(base, ())
        watermark.observe(START + timedelta(days=day))
        for key, windows in units.items():
            ordered = sorted(windows, key=lambda w: (w.start, w.end))
            closed = [w for w in ordered if watermark.is_closed(w)]
            assert [a.window for a in judging.closed_windows(key)] == closed
            assert all(
                a is windows[a.window].snapshot() for a in judging.closed_windows(key)
            )  # the very snapshots, not copies
            assert judging._closed_until(key) == max((w.end for w in closed), default=None)
        assert judging.newly_closed() == {
            key for key, windows in units.items() if any(map(watermark.is_closed, windows))
        }
