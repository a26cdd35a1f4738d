"""One verdict per unit, measure and window (pipeline.core.detection.verdicts)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from statistics import NormalDist

import pytest

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertKind
from pipeline.core.decode import RawMessage
from pipeline.core.detection import DetectionConfig, Detector
from pipeline.core.detection.common import measure_columns
from pipeline.core.detection.measures import unit_figures
from pipeline.core.detection.predictive import Predictive
from pipeline.core.detection.stats import monitor
from pipeline.core.detection.verdicts import (
    INCIDENT_REPORTING,
    RARE_EVENT_MEAN,
    ChartKind,
    Verdict,
    VerdictClass,
    org_verdicts,
    unit_verdicts,
)
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.verdict_book import VerdictRow
from pipeline.simulation import SimulationConfig, simulate_trust
from tests.support.series import START, aggregate, organisation, quiet

CONFIG = DetectionConfig()
ALPHA = NormalDist().cdf(-CONFIG.limit_sigma)


def _by(verdicts: list[Verdict], measure: str) -> dict[int, Verdict]:
    return {(v.window.start - START).days // 7: v for v in verdicts if v.measure == measure}


def _with_incidents(
    series: list[UnitWindowAggregate], week: int, no_harm: int, harmful: int
) -> UnitWindowAggregate:
    base = series[week]
    harm = (no_harm, harmful, 0, 0, 0)
    return UnitWindowAggregate(
        org_id=base.org_id, unit_id=base.unit_id, window=base.window,
        fft_counts=base.fft_counts, incidents_by_harm=harm,
        incidents_by_category=(sum(harm), 0, 0, 0, 0, 0, 0, 0, 0, 0),
        targets=base.targets, contributions=base.contributions,
    )  # fmt: skip


def busy_reporter(
    weeks: int, changed: range, *, no_harm: int, harmful: int, seed: int = 7
) -> list[UnitWindowAggregate]:
    """A unit reporting ~25 harmful and ~10 no-harm incidents a week on steady activity and
    feedback; over `changed` it reports `no_harm` and `harmful` instead."""
    rng = random.Random(seed)
    series = quiet(weeks, seed=seed)
    for week in range(weeks):
        if week in changed:
            series[week] = _with_incidents(series, week, no_harm, harmful)
        else:
            series[week] = _with_incidents(
                series, week, sum(rng.random() < 0.5 for _ in range(20)),
                sum(rng.random() < 0.5 for _ in range(50)),
            )  # fmt: skip
    return series


def test_a_quiet_unit_is_common_cause_and_only_judged_windows_have_a_verdict() -> None:
    series = quiet(40)
    verdicts = unit_verdicts(series, CONFIG)
    negative = _by(verdicts, "negative_share")
    assert min(negative) == CONFIG.min_baseline_windows  # the learning period has none
    assert set(negative) == set(range(CONFIG.min_baseline_windows, 40))
    assert {v.measure for v in verdicts} == {
        "negative_share", "positive_share", "harmful_incident_rate", INCIDENT_REPORTING,
    }  # fmt: skip
    assert all(not v.verdict.is_concern for v in verdicts)
    for v in verdicts:
        assert v.lower_limit <= v.centre <= (v.upper_limit if v.upper_limit is not None else 1e9)


def test_a_deterioration_is_a_concern_exactly_where_the_monitor_flags_it() -> None:
    series = quiet(40)
    for week in range(30, 34):
        series[week] = aggregate(week, responses=40, negative=14)
    verdicts = _by(unit_verdicts(series, CONFIG), "negative_share")
    figures = unit_figures(series)
    _, counts, scales, trials = measure_columns(figures)[0]
    trace = monitor(counts, scales, trials, None, CONFIG.rules)
    for week, verdict in verdicts.items():
        assert (verdict.verdict is VerdictClass.CONCERN) == (trace.rule[week] != "")
        assert verdict.rule == trace.rule[week]
        assert verdict.z == trace.z[week]
    assert all(verdicts[w].verdict is VerdictClass.CONCERN for w in range(30, 34))
    assert verdicts[30].value == pytest.approx(14 / 40)
    assert verdicts[30].value > verdicts[30].upper_limit  # type: ignore[operator]
    assert verdicts[30].detector == "shewhart"


def test_every_window_an_alert_flags_is_a_concern_in_the_verdicts() -> None:
    units = organisation(44)
    ward = units["ward-7"]
    for week in range(32, 37):
        ward[week] = aggregate(week, responses=ward[week].fft_responses, negative=12,
                               unit="ward-7")  # fmt: skip
    findings = Detector(CONFIG).units_findings(units)
    verdicts = {(v.unit_id, v.measure, v.window.start.isoformat()): v
                for v in org_verdicts(units, CONFIG)}  # fmt: skip
    flagged = [
        (f.unit_id, measure, w["window_start"])
        for f in findings
        for measure, entry in f.evidence.get("measures", {}).items()
        for w in entry["windows"]
        if w.get("rule")
    ]
    assert any(f.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE for f in findings)
    assert flagged
    for key in flagged:
        assert verdicts[key].verdict is VerdictClass.CONCERN, key


def test_harm_lower_because_reporting_fell_is_a_reporting_concern_not_an_improvement() -> None:
    silent = range(30, 36)
    series = busy_reporter(44, silent, no_harm=0, harmful=0)
    verdicts = unit_verdicts(series, CONFIG)
    harm, reporting = _by(verdicts, "harmful_incident_rate"), _by(verdicts, INCIDENT_REPORTING)
    fell = [w for w in silent if reporting[w].verdict is VerdictClass.REPORTING_CONCERN]
    assert len(fell) >= 4
    for week in silent:
        assert harm[week].verdict is not VerdictClass.IMPROVEMENT
    for week in fell:
        assert harm[week].verdict is VerdictClass.REPORTING_CONCERN
        assert harm[week].rule == "reporting_fell"
    alerts = Detector(CONFIG).unit_findings(series)
    assert AlertKind.REPORTING_SILENCE in {f.kind for f in alerts}


def test_harm_lower_while_reporting_holds_is_an_improvement() -> None:
    # The same fall in harm, but the unit goes on reporting as much (all of it no harm).
    series = busy_reporter(44, range(30, 36), no_harm=35, harmful=0)
    verdicts = unit_verdicts(series, CONFIG)
    harm = _by(verdicts, "harmful_incident_rate")
    reporting = _by(verdicts, INCIDENT_REPORTING)
    assert all(reporting[w].verdict is VerdictClass.COMMON_CAUSE for w in range(30, 36))
    assert [harm[w].verdict for w in range(30, 36)] == [VerdictClass.IMPROVEMENT] * 6
    assert all(harm[w].value < harm[w].lower_limit for w in range(30, 36))


def _poisson_upper_quantile(mean: float, alpha: float) -> int:
    """Largest c with P(X >= c) > alpha, X ~ Poisson(mean), by direct summation."""
    c, below = 0, 0.0  # below = P(X < c)
    while 1.0 - below - math.exp(c * math.log(mean) - mean - math.lgamma(c + 1)) > alpha:
        below += math.exp(c * math.log(mean) - mean - math.lgamma(c + 1))
        c += 1
    return c


def _poisson_lower_quantile(mean: float, alpha: float) -> int:
    """Smallest c with P(X <= c) > alpha."""
    c, cdf = 0, 0.0
    while True:
        cdf += math.exp(c * math.log(mean) - mean - math.lgamma(c + 1))
        if cdf > alpha:
            return c
        c += 1


@pytest.mark.parametrize("mean", [0.05, 0.3, 1.0, 2.0, 3.0, 8.0, 30.0])
def test_limits_are_exact_poisson_quantiles(mean: float) -> None:
    poisson = Predictive(mean, 0.0, None)
    assert poisson.highest_usual_count(CONFIG.limit_sigma) == _poisson_upper_quantile(mean, ALPHA)
    assert poisson.lowest_usual_count(CONFIG.limit_sigma) == _poisson_lower_quantile(mean, ALPHA)


def _gamma_poisson_upper_quantile(mean: float, extra: float, alpha: float) -> int:
    shape = mean * mean / extra
    odds = mean / (shape + mean)

    def pmf(k: int) -> float:
        return math.exp(math.lgamma(k + shape) - math.lgamma(shape) - math.lgamma(k + 1)
                        + shape * math.log1p(-odds) + k * math.log(odds))  # fmt: skip

    c, below = 0, 0.0
    while 1.0 - below - pmf(c) > alpha:
        below += pmf(c)
        c += 1
    return c


def test_rare_event_charts_have_no_negative_limits_and_exact_quantiles() -> None:
    series = quiet(52)  # about one harmful incident a week
    verdicts = [v for v in unit_verdicts(series, CONFIG) if v.measure == "harmful_incident_rate"]
    figures = unit_figures(series)
    *_, (_, counts, scales, trials) = measure_columns(figures)
    trace = monitor(counts, scales, trials, None, CONFIG.rules)
    assert verdicts and all(v.chart is ChartKind.RARE_EVENT for v in verdicts)
    for v in verdicts:
        t = (v.window.start - START).days // 7
        predictive = trace.predictive(t)
        assert predictive is not None and predictive.mean <= RARE_EVENT_MEAN
        assert v.lower_limit == 0.0  # no quiet week is unusual at this rate: never negative
        expected = _gamma_poisson_upper_quantile(predictive.mean, predictive.extra_variance, ALPHA)
        assert v.upper_limit == pytest.approx(expected / v.size)
        assert v.verdict is not VerdictClass.IMPROVEMENT  # a week of none is no news


def test_every_limit_is_non_negative_and_brackets_the_centre() -> None:
    units = organisation(40)
    for v in org_verdicts(units, CONFIG):
        assert v.lower_limit >= 0.0
        assert v.lower_limit <= v.centre
        assert v.upper_limit is None or v.centre <= v.upper_limit


def _final(batches: list[list[VerdictRow]]) -> dict[tuple[str, str, str, datetime], Verdict]:
    """What a ReplacingMergeTree keeps: per key, the row of the highest version."""
    kept: dict[tuple[str, str, str, datetime], VerdictRow] = {}
    for rows in batches:
        for row in rows:
            v = row.verdict
            key = (v.org_id, v.unit_id, v.measure, v.window.start)
            if key not in kept or row.version >= kept[key].version:
                kept[key] = row
    return {
        key: row.verdict
        for key, row in kept.items()
        if row.verdict.verdict is not VerdictClass.WITHDRAWN
    }


def test_order_and_batch_size_change_no_stored_verdict() -> None:
    trust = simulate_trust(
        SimulationConfig(
            seed=4, orgs=1, units_per_org=3, weeks=22, warmup_weeks=8, feedback_scale=0.3
        )
    )
    messages = [RawMessage(json.dumps(e).encode(), "test") for e in trust.events]
    now = datetime(2030, 1, 1, tzinfo=UTC)
    finals = []
    for seed, batch in ((None, 700), (1, 300)):
        shuffled = list(messages)
        if seed is not None:
            random.Random(seed).shuffle(shuffled)
        engine = Engine(EngineConfig(), b"k" * 32)
        results = [engine.process(shuffled[i : i + batch], now)
                   for i in range(0, len(shuffled), batch)]  # fmt: skip
        results.append(engine.finish(now))
        finals.append(_final([r.verdicts for r in results]))
        # Only changes are handed out: a second finish has nothing new to say.
        assert engine.finish(now).verdicts == []
    assert finals[0] and finals[0] == finals[1]
