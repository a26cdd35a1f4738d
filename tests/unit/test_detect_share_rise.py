"""The shares' likelihood-ratio CUSUM (`cusum_share_rise`): a positive share falling at a few
answers a week, which the z-CUSUMs keep too little of."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertKind
from pipeline.core.detection import DetectionConfig, Detector
from pipeline.core.detection.cusum import SHARE_RISE, risen
from pipeline.core.detection.measures import Measure
from pipeline.core.detection.predictive import log_pmf
from pipeline.core.detection.stats import monitor
from pipeline.core.detection.trace import Trace
from pipeline.core.target_reports import TargetAttainment
from tests.support.series import week

CONFIG = DetectionConfig()
WITHOUT = replace(CONFIG, share_rise_limit=0.0)


def _answers(seed: int, weeks: int, drop: range, usual: float = 0.14) -> list[tuple[int, int]]:
    """(responses, answers not positive) a week: 18 to 26 responses, `usual` not positive,
    0.16 more over `drop` (the outside evaluation's miss: -0.16 at about 22 a week)."""
    rng = random.Random(seed)
    answers = []
    for index in range(weeks):
        responses = rng.randint(18, 26)
        share = usual + (0.16 if index in drop else 0.0)
        answers.append((responses, sum(rng.random() < share for _ in range(responses))))
    return answers


def _unit(answers: list[tuple[int, int]]) -> list[UnitWindowAggregate]:
    """A unit meeting its target (95% against 92%) whose answers that are not positive are all
    neutral (its negative share stays 0), with no incidents."""
    return [
        UnitWindowAggregate(
            org_id="RXA",
            unit_id="ward-1",
            window=week(index),
            fft_counts=(responses - neutral, 0, neutral, 0, 0, 0),
            incidents_by_harm=(0, 0, 0, 0, 0),
            incidents_by_category=(0,) * 10,
            targets=(TargetAttainment("rtt_18w", 380.0, 400.0, 0.92, True),),
            contributions=responses + 1,
        )
        for index, (responses, neutral) in enumerate(answers)
    ]


def _trace(answers: list[tuple[int, int]], config: DetectionConfig) -> Trace:
    trials = [n for n, _ in answers]
    counts = [count for _, count in answers]
    rules = config.rules_for(Measure.POSITIVE_SHARE)
    return monitor(counts, [float(n) for n in trials], trials, None, rules)


def test_a_share_rise_keeps_the_beta_concentration_and_doubles_the_odds() -> None:
    mean, extra, trials = 3.0, 1.5, 22
    share = mean / trials
    risen_mean, risen_extra = risen(mean, extra, trials, 2.0)
    risen_share = risen_mean / trials
    assert math.isclose(risen_share / (1 - risen_share), 2 * share / (1 - share))
    concentration = share * (1 - share) / (extra / trials**2)
    assert math.isclose(risen_share * (1 - risen_share) / (risen_extra / trials**2), concentration)
    # Six not positive of 22 where 3 are usual is likelier under the doubled odds, one is not.
    assert log_pmf(6, risen_mean, risen_extra, trials) > log_pmf(6, mean, extra, trials)
    assert log_pmf(1, risen_mean, risen_extra, trials) < log_pmf(1, mean, extra, trials)


def test_a_drop_at_a_few_answers_a_week_is_found_by_the_share_rise_alone() -> None:
    answers = _answers(9, 62, range(45, 55))
    assert _trace(answers, WITHOUT).signalled_at.count(-1) == 62

    trace = _trace(answers, CONFIG)
    flagged = [t for t, at in enumerate(trace.signalled_at) if at >= 0]
    assert flagged and all(45 <= t < 55 for t in flagged)
    assert {trace.rule[t] for t in flagged} == {SHARE_RISE}


def test_the_alert_names_the_share_rise_with_its_statistic_and_limit() -> None:
    series = _unit(_answers(9, 62, range(45, 55)))
    assert Detector(WITHOUT).unit_findings(series) == []

    (finding,) = Detector(CONFIG).unit_findings(series)
    assert finding.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE
    assert finding.evidence["rules"]["fired"] == [SHARE_RISE]
    assert finding.evidence["rules"][SHARE_RISE] == {"ratio": 2.0, "limit": CONFIG.share_rise_limit}
    windows = finding.evidence["measures"]["positive_share"]["windows"]
    assert all(w["share_rise_limit"] == CONFIG.share_rise_limit for w in windows)
    signals = [w for w in windows if w["rule"] == SHARE_RISE]
    assert signals and all(w["detector"] == "cusum" for w in signals)
    assert all(w["cusum_signal"] >= w["cusum_signal_limit"] == CONFIG.share_rise_limit
               for w in signals)  # fmt: skip
    assert "share_rise" not in finding.evidence["measures"]["negative_share"]["windows"][0]


def test_a_steady_share_at_a_few_answers_a_week_never_raises_a_share_rise() -> None:
    for seed in range(1, 9):
        trace = _trace(_answers(seed, 78, range(0)), CONFIG)
        assert SHARE_RISE not in trace.rule, seed
        assert max(s for s in trace.likelihood_ratio if not math.isnan(s)) < CONFIG.share_rise_limit


def test_the_share_rise_restarts_after_a_signal() -> None:
    # 3 of 22 not positive as usual, then 6 every week: no z-CUSUM nor rule signals, the share
    # rise signals every few weeks, each time from 0 (the evidence spent).
    answers = [(22, 3), (22, 4), (22, 2), (22, 3)] * 5 + [(22, 6)] * 30
    trace = _trace(answers, CONFIG)
    signals = [t for t, at in enumerate(trace.signalled_at) if at == t]

    assert len(signals) >= 3
    assert {trace.rule[t] for t in signals} == {SHARE_RISE}
    for earlier, later in itertools.pairwise(signals):
        assert trace.likelihood_ratio[later] >= CONFIG.share_rise_limit
        assert 0.0 < trace.likelihood_ratio[earlier + 1] < CONFIG.share_rise_limit / 4
        # Every week after the signal is flagged by the next one, none before it twice.
        assert set(trace.signalled_at[earlier + 1 : later + 1]) == {later}


def test_the_negative_share_and_peer_comparisons_have_no_share_rise() -> None:
    answers = _answers(9, 62, range(45, 55))
    trials = [n for n, _ in answers]
    counts = [count for _, count in answers]
    scales = [float(n) for n in trials]
    negative = monitor(counts, scales, trials, None, CONFIG.rules_for(Measure.NEGATIVE_SHARE))
    peers = monitor(counts, scales, trials, [0.01] * 62, CONFIG.rules_for(Measure.POSITIVE_SHARE))
    assert all(math.isnan(s) for s in negative.likelihood_ratio + peers.likelihood_ratio)
