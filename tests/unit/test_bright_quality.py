"""False bright spots on the simulated families, through `Engine` as `pipeline replay` runs it
(`pipeline.simulation.bright_score`): neither family plants an improvement, so every bright
spot on a quiet unit-week is false. docs/detection.md ("Bright spots") has the wider runs."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pytest

from pipeline.simulation.bright_score import BrightScore, score_seed

pytestmark = pytest.mark.slow

# Named floors, per 100 quiet unit-weeks: the alerts' false-alarm budget (issue 13).
FALSE_BRIGHT_SPOTS_FLOOR = 0.1
SEEDS = (("simulator", 1), ("simulator", 2), ("family", 3))


def test_false_bright_spots_on_the_simulated_families_stay_under_the_floor() -> None:
    total = BrightScore()
    with ProcessPoolExecutor(2) as pool:
        for result in pool.map(score_seed, *zip(*SEEDS, strict=True)):
            total.add(result)
    assert total.quiet_unit_weeks > 2000
    assert total.per_100_quiet_unit_weeks <= FALSE_BRIGHT_SPOTS_FLOOR, total.found
