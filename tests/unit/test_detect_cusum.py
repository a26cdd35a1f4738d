"""Accumulated evidence: the CUSUM beside the Shewhart rules, and reporting silences."""

from __future__ import annotations

import math
import random

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertKind
from pipeline.core.detection import DetectionConfig, Detector
from pipeline.core.detection.stats import CUSUM, monitor
from tests.support.series import aggregate, kinds, quiet

DETECTOR = Detector()
SHEWHART_ONLY = Detector(DetectionConfig(cusum_limit=0.0))


def sustained(
    weeks: int, first: int, length: int, share: float, seed: int = 3
) -> list[UnitWindowAggregate]:
    """A quiet unit whose negative share is `share` for `length` weeks from `first`."""
    rng = random.Random(seed)
    series = quiet(weeks, seed=seed)
    for index in range(first, first + length):
        responses = 40
        negative = sum(rng.random() < share for _ in range(responses))
        series[index] = aggregate(index, responses=responses, negative=negative)
    return series


def test_a_moderate_sustained_rise_no_single_week_shows_is_caught_by_accumulated_evidence() -> None:
    series = sustained(40, 26, 8, 0.14, seed=4)

    assert SHEWHART_ONLY.unit_findings(series) == []
    (finding,) = [f for f in DETECTOR.unit_findings(series) if f.kind.value.startswith("target")]
    windows = finding.evidence["measures"]["negative_share"]["windows"]
    flagged = [w for w in windows if w["rule"]]
    assert any(w["detector"] == "cusum" and w["rule"] == CUSUM for w in flagged)
    assert all(w["detector"] in ("cusum", "shewhart") for w in flagged)
    assert all(w["cusum_limit"] == DetectionConfig().cusum_limit for w in windows)
    assert max(w.get("cusum_signal", 0) for w in flagged) >= DetectionConfig().cusum_limit
    assert finding.evidence["rules"]["cusum"]["limit"] == DetectionConfig().cusum_limit


def test_the_cusum_resets_after_a_signal() -> None:
    counts = [2] * 20 + [6] * 30
    trace = monitor(counts, [40.0] * 50, [40] * 50, None, DetectionConfig().rules)
    signals = [t for t, at in enumerate(trace.signalled_at) if at == t and trace.rule[t] == CUSUM]

    assert len(signals) >= 2
    for t in signals:
        assert trace.cusum[t] >= DetectionConfig().cusum_limit
        if t + 1 < len(counts):
            assert trace.cusum[t + 1] < trace.cusum[t]  # restarted from 0


def test_quiet_units_raise_nothing_from_accumulated_evidence() -> None:
    for seed in range(1, 13):
        assert DETECTOR.unit_findings(quiet(104, seed=seed)) == [], seed


def test_what_moves_every_unit_of_an_organisation_does_not_accumulate() -> None:
    """Every unit a little worse for ten weeks (winter pressure): no unit stands out."""
    units = {f"ward-{i}": sustained(40, 26, 10, 0.11, seed=i) for i in range(1, 7)}
    alone = [f for s in units.values() for f in SHEWHART_ONLY.unit_findings(s)]
    together = DETECTOR.units_findings(units)

    assert not alone
    assert [f for f in together if any(
        w.get("detector") == "cusum"
        for m in f.evidence.get("measures", {}).values() for w in m["windows"]
    )] == []  # fmt: skip


def reporting(
    weeks: int, silent: range, *, responses_in_silence: int = 40, seed: int = 5
) -> list[UnitWindowAggregate]:
    """A unit reporting ~6 incidents a week (no harm mostly), silent over `silent`."""
    rng = random.Random(seed)
    series = []
    for index in range(weeks):
        quiet_week = index in silent
        responses = responses_in_silence if quiet_week else rng.randint(32, 48)
        base = aggregate(index, responses=responses, negative=2, harmful=0)
        reports = 0 if quiet_week else sum(rng.random() < 0.5 for _ in range(12))
        harm = (reports, 0, 0, 0, 0)
        series.append(
            UnitWindowAggregate(
                org_id=base.org_id, unit_id=base.unit_id, window=base.window,
                fft_counts=base.fft_counts, incidents_by_harm=harm,
                incidents_by_category=(reports, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                targets=base.targets, contributions=base.contributions,
            )
        )  # fmt: skip
    return series


def test_a_unit_that_stops_reporting_while_active_raises_a_reporting_silence() -> None:
    series = reporting(40, range(28, 34))

    (silence,) = [
        f for f in DETECTOR.unit_findings(series) if f.kind is AlertKind.REPORTING_SILENCE
    ]
    assert silence.first_window.start >= series[28].window.start
    assert "not an improvement" in silence.summary
    window = silence.evidence["windows"][-1]
    assert window["reports"] == 0 and window["expected_reports"] > 3
    assert window["activity"] == 400.0 and window["feedback_responses"] == 40
    assert not math.isnan(window["z"]) and window["cusum_limit"] == DetectionConfig().silence_limit


def test_a_unit_whose_activity_stopped_too_is_not_a_silence() -> None:
    series = reporting(40, range(28, 34), responses_in_silence=3)

    assert AlertKind.REPORTING_SILENCE not in kinds(DETECTOR.unit_findings(series))


def test_steady_reporting_is_never_a_silence() -> None:
    for seed in range(1, 9):
        series = reporting(80, range(0), seed=seed)
        assert AlertKind.REPORTING_SILENCE not in kinds(DETECTOR.unit_findings(series)), seed
