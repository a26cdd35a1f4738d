"""The oracle bench (`bench.oracle_drops`) and the delay quantile scoring reports."""

from __future__ import annotations

import random
import statistics

from bench.oracle_drops import Limits, Weeks, drops, limit_for, moments, oracle, quiet_pool
from pipeline.core.detection.cusum import in_control_arl
from pipeline.simulation.family_plan import expit, logit
from pipeline.simulation.score_tally import KindScore


def test_the_oracle_replans_exactly_the_drops_the_family_truth_records() -> None:
    from pipeline.simulation.family import FamilyConfig
    from pipeline.simulation.family_events import simulate_family

    truth = simulate_family(FamilyConfig(seed=2, orgs=3)).truth
    recorded = {
        (t.org_id, t.unit_id, t.start)
        for t in truth
        if t.detectable and not t.decoy and t.description.startswith("positive share")
    }
    # `drops` plans all 6 organisations; the first 3 are drawn exactly as a 3-organisation trust.
    replanned = {(d.unit.org_id, d.unit.unit_id, d.record.start) for d in drops(2)}
    assert recorded and recorded <= replanned


def test_the_limit_solves_the_stated_run_length() -> None:
    for reference, arl in ((0.9, 53_000.0), (1.5, 3_000.0)):
        assert abs(in_control_arl(reference, limit_for(reference, arl)) / arl - 1.0) < 1e-3
    assert abs(limit_for(0.9, 53_436.0) - 5.15) < 0.01


def test_the_true_moments_match_a_simulated_week() -> None:
    rng = random.Random(4)
    usual, spread = 0.8, 0.3
    shares = [1.0 - expit(logit(usual) + rng.gauss(0.0, spread)) for _ in range(40_000)]
    mean, variance = moments(usual, spread)
    assert abs(statistics.fmean(shares) - mean) < 0.002
    assert abs(statistics.pvariance(shares) / variance - 1.0) < 0.05


def test_the_oracle_finds_a_clear_drop_and_its_quiet_z_is_standardised() -> None:
    rng = random.Random(5)
    drop = next(d for d in drops(1) if "8.6 sd" in d.record.description)
    pool = quiet_pool([drop], 4_000, rng)
    assert abs(statistics.fmean(pool)) < 0.08 and 0.92 < statistics.pstdev(pool) < 1.08
    tallies = oracle(drop, 40, rng, Limits(pool[:2_000]))
    nominal = tallies["k0.9_nominal_53000"]
    assert nominal.found >= 38 and nominal.delays is not None
    assert statistics.median(nominal.delays) <= 2
    assert Weeks(drop).shift_sd() > 2.5


def test_the_p75_delay_is_the_nearest_rank_quantile() -> None:
    score = KindScore()
    score.delays.extend([0, 4, 1, 2, 3, 7, 2, 2])
    assert score.p75_delay == 3
    assert KindScore().p75_delay is None
