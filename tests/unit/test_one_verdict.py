"""One answer per question (pipeline.core.detection.verdicts): every window of a bright spot
(detection.bright) is an improvement verdict, and experience that falls while a unit misses its
targets is a concern though it can be no divergence; the harm chart and the board show one
latest figure."""

from __future__ import annotations

import math
import random
from dataclasses import replace

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.arrivals import ClosedWindows
from pipeline.core.board import board_rows
from pipeline.core.board_row import NOT_JUDGED
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.bright import BrightSpot, bright_episodes
from pipeline.core.detection.improvement import improvement_detectors
from pipeline.core.detection.measures import Measure, unit_figures
from pipeline.core.detection.unit import measure_traces
from pipeline.core.detection.verdicts import (
    BETTER_LIMIT,
    Verdict,
    VerdictClass,
    org_verdicts,
    unit_verdicts,
)
from tests.support.series import aggregate, organisation, quiet

CONFIG = DetectionConfig()
WEEKS = 60
CHANGE = 40


def _improved(share: float, seed: int) -> dict[str, list[UnitWindowAggregate]]:
    """AMU's negative share becomes `share` from week CHANGE on (same responses)."""
    units = organisation(WEEKS)
    rng = random.Random(seed)
    series = list(units["AMU"])
    for i in range(CHANGE, WEEKS):
        n = series[i].fft_responses
        negative = sum(rng.random() < share for _ in range(n))
        series[i] = aggregate(i, responses=n, negative=negative,
                              harmful=series[i].harmful_incidents, unit="AMU")  # fmt: skip
    return {**units, "AMU": series}


def _improvements(verdicts: list[Verdict], spot: BrightSpot) -> list[Verdict]:
    return [
        v for v in verdicts
        if (v.unit_id, v.measure) == (spot.unit_id, spot.measure)
        and spot.first_window is not None and spot.last_window is not None
        and spot.first_window <= v.window.start <= spot.last_window
        and v.verdict is VerdictClass.IMPROVEMENT
    ]  # fmt: skip


def test_every_window_a_bright_spot_flagged_is_an_improvement_verdict() -> None:
    # An improvement (about 5% negative to 1%): the mirrored rules find it within a few
    # weeks, while hardly a week is beyond the 5-sigma limit on its own.
    checked = 0
    for seed in range(8):
        units = _improved(0.01, seed)
        verdicts = org_verdicts(units, CONFIG)
        for spot in bright_episodes(units, CONFIG):
            shown = _improvements(verdicts, spot)
            assert len(shown) >= spot.windows, (seed, spot)
            assert {spot.first_window, spot.last_window} <= {v.window.start for v in shown}
            checked += 1
            # The verdicts say which signal: the bright spots' own detectors.
            assert any(v.rule != BETTER_LIMIT for v in shown)
    assert checked >= 5  # the improvement is found on most of the seeds


def test_an_improvement_verdict_reads_the_bright_spot_monitor_or_its_own_limit() -> None:
    units = _improved(0.01, 3)
    signals = improvement_detectors(units, CONFIG)
    starts = {unit: [a.window.start for a in series] for unit, series in units.items()}
    improved = [v for v in org_verdicts(units, CONFIG) if v.verdict is VerdictClass.IMPROVEMENT]
    assert improved
    for v in improved:
        signal = signals[v.unit_id][Measure(v.measure)][starts[v.unit_id].index(v.window.start)]
        assert v.detector == (signal or "shewhart")
        assert (v.rule == BETTER_LIMIT) == (not signal)


def test_a_quiet_organisation_has_no_improvement_signal() -> None:
    units = organisation(WEEKS)
    signals = improvement_detectors(units, CONFIG)
    assert set(signals) == set(units)
    assert not any(d for by in signals.values() for column in by.values() for d in column)


def _missing_targets(seed: int, share: float) -> list[UnitWindowAggregate]:
    """A unit missing its target every other week from week 20, whose negative share rises from
    about 5% to `share` from week 36."""
    rng = random.Random(seed)
    series = []
    for i in range(WEEKS):
        n = rng.randint(32, 48)
        negative = sum(rng.random() < (share if i >= 36 else 0.05) for _ in range(n))
        met = i < 20 or i % 2 == 0
        harmful = sum(rng.random() < 0.25 for _ in range(4))
        series.append(aggregate(i, responses=n, negative=negative, harmful=harmful, met=met))
    return series


def test_experience_falling_while_targets_are_missed_is_a_concern() -> None:
    # The alerts' experience monitors restart at every missed week (a divergence needs met
    # targets), so they see nothing here; the verdicts read the same monitor without restarts.
    found = 0
    for seed in range(6):
        series = _missing_targets(seed, 0.15)
        alerts = measure_traces(unit_figures(series), CONFIG, None)[0].trace
        verdicts = [v for v in unit_verdicts(series, CONFIG) if v.measure == "negative_share"]
        concerns = {v.window.start for v in verdicts if v.verdict is VerdictClass.CONCERN}
        flagged = {series[t].window.start for t, rule in enumerate(alerts.rule) if rule}
        assert flagged <= concerns  # a window an alert's monitor flags stays a concern
        met = {a.window.start for a in series if all(t.met for t in a.targets)}
        assert concerns & met == flagged & met  # a met week's concern is a divergence's
        found += bool(concerns - flagged)
    assert found >= 4


def test_the_harm_chart_ends_where_the_board_does() -> None:
    # The last three weeks carry a target return's activity and nothing else, past the end of
    # the organisation's data (its reports reach week 36 alone): no harm figure, so the stored
    # verdicts (the report's harm chart, Grafana's) end at the board's window.
    series = quiet(40)
    for i in range(37, 40):
        series[i] = replace(series[i], fft_counts=(0,) * 6, incidents_by_harm=(0,) * 5,
                            incidents_by_category=(0,) * 10)  # fmt: skip
    series = ClosedWindows(series, reports_in=37)
    verdicts = unit_verdicts(series, CONFIG)
    harm = [v for v in verdicts if v.measure == "harmful_incident_rate"]
    assert harm and harm[-1].window == series[36].window
    by_window = {(v.measure, v.window.start): v for v in verdicts}
    (row,) = [r for r in board_rows(series, by_window) if r.measure == "safety"]
    assert (row.window_start, row.value) == (harm[-1].window.start, harm[-1].value)


def test_a_window_of_the_learning_period_is_not_judged_on_the_board_as_on_its_chart() -> None:
    # Seen from outside (twenty-first session): in a unit's learning period the board said
    # "common cause" (its XmR reading) while the chart of the same week said "not judged yet".
    series = quiet(CONFIG.min_baseline_windows - 1)
    verdicts = unit_verdicts(series, CONFIG)
    assert not [v for v in verdicts if v.verdict is not VerdictClass.WITHDRAWN]  # learning
    rows = {r.measure: r for r in board_rows(series, {})}  # what the engine hands the board
    for measure in ("experience", "safety"):
        row = rows[measure]
        assert row.variation == NOT_JUDGED, measure
        assert (row.lpl, row.upl) == (None, None) and math.isnan(row.mean)
        assert row.window_start == series[-1].window.start and math.isfinite(row.value)


def test_the_first_judged_window_shows_its_verdict_on_the_board() -> None:
    series = quiet(CONFIG.min_baseline_windows + 1)
    by_window = {(v.measure, v.window.start): v for v in unit_verdicts(series, CONFIG)}
    rows = {r.measure: r for r in board_rows(series, by_window)}
    assert rows["experience"].variation == "common_cause"
    assert rows["experience"].mean == by_window["positive_share", series[-1].window.start].centre
