"""The seasonal level bench (`bench.season_levels`): its bands, its summary, and that it reads
the very seasons and units the family simulated."""

from __future__ import annotations

import math
import random
import statistics

from bench.season_levels import BANDS, summarise, winter_band


def _winter(weeks: int, until: int) -> list[float]:
    """A winter weight of 1 for the first `until` weeks, 0 after."""
    return [1.0 if week < until else 0.0 for week in range(weeks)]


def test_the_spring_after_a_winter_is_the_band_with_the_winter_past() -> None:
    levels = _winter(60, 15)
    assert winter_band(levels, 20) == "winter past"  # 15 of the 20 weeks before were winter
    assert winter_band(levels, 10) == "as wintry"  # in the winter: the baseline is as wintry
    assert winter_band(levels, 50) == "as wintry"  # the winter left the 26 weeks before
    assert winter_band(levels, 36) == "more winter"  # 5 of the 26 weeks before were winter
    assert winter_band(levels, 0) == "as wintry"  # nothing before the first week


def test_every_excess_of_winter_falls_in_one_band() -> None:
    rng = random.Random(3)
    for _ in range(500):
        levels = [rng.random() for _ in range(40)]
        assert winter_band(levels, rng.randrange(40)) in {name for _, _, name in BANDS}


def test_the_summary_groups_by_band_in_order_and_leaves_out_empty_bands() -> None:
    rows = [
        ("winter past", 1.2, -0.3, -0.5),
        ("as wintry", 1.0, 0.1, math.nan),
        ("winter past", 1.1, -0.1, math.nan),
        ("winter past", 1.3, -0.2, 0.4),
    ]
    summary = summarise(rows)
    assert [s.band for s in summary] == ["as wintry", "winter past"]
    wintry, past = summary
    assert past.weeks == 3
    assert past.median_ratio == round(statistics.median([1.2, 1.1, 1.3]), 3)
    assert past.mean_offset == round(statistics.fmean([-0.3, -0.1, -0.2]), 3)
    # Only the weeks with a z (the target met) count towards the mean z and z less offset.
    assert past.met_weeks == 2
    assert past.mean_z == round(statistics.fmean([-0.5, 0.4]), 3)
    assert past.mean_z_less_offset == round(statistics.fmean([-0.5 + 0.3, 0.4 + 0.2]), 3)
    assert wintry.met_weeks == 0 and math.isnan(wintry.mean_z)


def test_the_bench_replans_the_seasons_and_units_the_family_simulated() -> None:
    from pipeline.simulation.family import FamilyConfig
    from pipeline.simulation.family_events import plan_family, simulate_family

    config = FamilyConfig(seed=2, orgs=2)
    trust = simulate_family(config)
    truth, units, seasons = plan_family(config, random.Random(f"family-{config.seed}"))
    assert [(t.org_id, t.unit_id, t.start, t.description) for t in truth] == [
        (t.org_id, t.unit_id, t.start, t.description) for t in trust.truth
    ]
    assert {(u.org_id, u.unit_id) for u in units} == set(trust.units)
    assert set(seasons) == {org for org, _ in trust.units}
