"""The delay bound (`bench.delay_bound`): what the planted truth allows by delay 1."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from bench.delay_bound import Planted, ideal_share, planted
from pipeline.core.alerts import AlertKind
from pipeline.simulation.trust import TruthEpisode

_START = datetime(2024, 5, 6, tzinfo=UTC)


def _record(description: str, *, detectable: bool = True, decoy: bool = False) -> TruthEpisode:
    return TruthEpisode(
        AlertKind.REPORTING_SILENCE, "RA7", "ED", _START, _START + timedelta(weeks=8),
        detectable, decoy, description, _START + timedelta(weeks=3),
    )  # fmt: skip


def test_only_detectable_records_with_a_pooled_shift_are_read() -> None:
    records = planted([
        _record("reports fall to 6% for 8 weeks (4.2 sd short)"),
        _record("reports fall to 6% for 8 weeks (2.2 sd short)", detectable=False),
        _record("a single bad week of feedback at about a 1-in-50 count", decoy=True),
    ])  # fmt: skip
    assert records == [Planted("reporting_silence", 8, 4.2, 3)]


def test_the_first_two_weeks_hold_their_share_of_the_pooled_shift() -> None:
    # 8 weeks at 4.0 sd pooled: 1.41 sd a week, 2.0 sd over the first two.
    assert Planted("x", 8, 4.0, 5).first_two_weeks_sd == pytest.approx(2.0)
    assert Planted("x", 2, 4.0, 1).first_two_weeks_sd == pytest.approx(4.0)


def test_the_ideal_test_raises_half_of_the_episodes_at_its_own_line() -> None:
    line = 3.4  # the one-sided 1-in-3,000 line is z 3.40
    at_line = Planted("x", 2, line, 1)
    share = ideal_share([at_line], 3_000.0)
    assert share == pytest.approx(0.5, abs=0.01)
    assert ideal_share([at_line], 1_000.0) > share > ideal_share([Planted("x", 8, line, 4)], 3e3)
    assert math.isclose(ideal_share([at_line, at_line], 3_000.0), share)
