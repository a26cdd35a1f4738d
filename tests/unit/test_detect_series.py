"""Builders of hand-made unit and organisation series for the detector tests, and tests of the
small pieces they rest on (episodes, the figures read off a window)."""

from __future__ import annotations

from pipeline.core.detection.episodes import episodes
from pipeline.core.detection.measures import unit_figures
from tests.support.series import aggregate


def test_episodes_join_flagged_windows_skip_unjudged_ones_and_end_on_a_clear_one() -> None:
    states = [False, True, None, True, False, True, True, None]

    assert episodes(states, max_gap=0) == [(1, 3, False), (5, 6, True)]
    assert episodes(states, max_gap=1) == [(1, 6, True)]
    assert episodes([None, False], max_gap=0) == []


def test_a_partial_week_of_activity_does_not_pass_for_a_quiet_one() -> None:
    # The first return starts mid-week (week 0); week 6 straddles a month whose return has not
    # arrived (two days' activity), week 7 has none yet, week 8 a busier month.
    activity = [60.0, 400.0, 400.0, 400.0, 400.0, 400.0, 120.0, None, 500.0]
    series = [
        aggregate(i, activity=value) if value else aggregate(i, met=None)
        for i, value in enumerate(activity)
    ]

    figures = unit_figures(series)

    assert figures.exposure == [0.4] * 8 + [0.5]
    assert figures.exposure_reported == [value is not None for value in activity]
    assert figures.targets_met[6:8] == [True, None]
    assert figures.responses == [40] * 9 and figures.negative == [2] * 9


def test_a_unit_without_any_activity_counts_incidents_per_window() -> None:
    figures = unit_figures([aggregate(0, met=None), aggregate(1, met=None)])

    assert not figures.per_activity
    assert figures.exposure == [1.0, 1.0]
