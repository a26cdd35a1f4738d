"""The detector on one unit's hand-made series: divergence and safety signals fire on their
story and stay silent on their decoys."""

from __future__ import annotations

import json
import random

import pytest

from pipeline.core.alerts import AlertKind, Severity
from pipeline.core.detection import DetectionConfig, Detector
from pipeline.core.windows import Window
from tests.support.series import kinds, quiet, week, with_weeks

DETECTOR = Detector()


def test_divergence_fires_when_targets_are_met_and_experience_falls() -> None:
    series = with_weeks(quiet(30), range(26, 29), responses=40, negative=14)

    findings = DETECTOR.unit_findings(series)

    assert kinds(findings) == [AlertKind.TARGET_EXPERIENCE_DIVERGENCE]
    finding = findings[0]
    assert finding.first_window == week(26)
    assert finding.last_window == week(28)
    assert finding.detected_in == week(26)
    assert not finding.ongoing
    assert finding.severity in (Severity.MEDIUM, Severity.HIGH)
    assert "met its target (rtt_18w 95% against 92%)" in finding.summary
    assert "14 of 40 patients (35%) rated their care poor or very poor" in finding.summary
    assert finding.summary.endswith("; 3 weeks running.")


def test_the_summary_writes_large_counts_with_thousands_separators() -> None:
    """Seen from outside (twenty-fourth session): "1000000002 of 1000000040 patients"."""
    series = with_weeks(quiet(30), range(27, 28), responses=1_000_040, negative=1_000_002)

    (finding,) = DETECTOR.unit_findings(series)

    assert "1,000,002 of 1,000,040 patients (100%) rated their care poor" in finding.summary


def test_an_episode_still_showing_in_the_latest_window_is_ongoing() -> None:
    series = with_weeks(quiet(30), range(27, 30), negative=14)

    (finding,) = DETECTOR.unit_findings(series)

    assert finding.ongoing
    assert finding.last_window == week(29)


def test_missing_the_target_while_experience_falls_is_not_divergence() -> None:
    series = with_weeks(quiet(30), range(26, 29), negative=14, met=False)

    assert DETECTOR.unit_findings(series) == []


def test_a_unit_that_always_misses_its_targets_never_gets_divergence() -> None:
    for seed in range(20):
        rng = random.Random(seed)
        series = quiet(40, seed=seed, met=False)
        bad = rng.randrange(12, 36)
        series = with_weeks(series, range(bad, bad + 4), negative=rng.randint(10, 30),
                            harmful=rng.randint(8, 12), met=False)  # fmt: skip

        found = kinds(DETECTOR.unit_findings(series))

        assert AlertKind.TARGET_EXPERIENCE_DIVERGENCE not in found
        assert AlertKind.SAFETY_SIGNAL in found


def test_a_missed_week_ends_the_divergence_episode() -> None:
    series = with_weeks(quiet(32), range(24, 30), negative=14)
    series = with_weeks(series, range(27, 28), negative=14, met=False)

    findings = DETECTOR.unit_findings(series)

    assert [(f.first_window, f.last_window) for f in findings] == [
        (week(24), week(26)),
        (week(28), week(29)),
    ]


def test_a_weaker_week_that_still_leans_worse_does_not_split_an_episode() -> None:
    """One week inside a fall that no rule flags but whose z is above the sustained-shift
    CUSUM's reference (more likely under the fall than under none) neither ends nor extends
    the episode: one alert, not one resolved and another raised a week later. A week back at
    the usual level (2 of 40 negative, z about 0.6) still ends it."""
    fall = with_weeks(with_weeks(quiet(60), range(40, 43), negative=18), range(44, 47), negative=18)

    def episodes(middle: int) -> list[tuple[Window, Window]]:
        series = with_weeks(fall, range(43, 44), negative=middle)
        return [
            (f.first_window, f.last_window)
            for f in DETECTOR.unit_findings(series)
            if f.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE
        ]

    assert episodes(4) == [(week(40), week(46))]
    assert episodes(2) == [(week(40), week(42)), (week(44), week(46))]


def test_an_episode_stays_open_while_any_measure_that_raised_it_still_leans_worse() -> None:
    """A fall in experience and a rise in harm raise one divergence; in a weaker week the harm
    is back at its usual level but the negative share still leans worse (4 of 40, z about
    1.7): the episode neither ends nor is extended, one alert, not one resolved and another
    raised a week later. With the negative share usual too (2 of 40) it still ends."""
    fall = with_weeks(quiet(60), range(40, 43), negative=18, harmful=9)
    fall = with_weeks(fall, range(44, 47), negative=18, harmful=9)

    def episodes(middle: int) -> list[tuple[Window, Window]]:
        series = with_weeks(fall, range(43, 44), negative=middle, harmful=1)
        return [
            (f.first_window, f.last_window)
            for f in DETECTOR.unit_findings(series)
            if f.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE
        ]

    assert episodes(4) == [(week(40), week(46))]
    assert episodes(2) == [(week(40), week(42)), (week(44), week(46))]


def test_a_run_of_missed_weeks_does_not_flag_the_met_week_after_them() -> None:
    # Two missed weeks far beyond 3 sigma, then a met week beyond 2.5 and 3 sigma but short of
    # the limit: each run rule would line the met week up with the missed ones.
    for negative in (7, 8, 9):
        series = with_weeks(quiet(30), range(26, 28), negative=12, met=False)
        series = with_weeks(series, range(28, 29), negative=negative)

        assert DETECTOR.unit_findings(series) == []


def test_a_met_week_still_runs_with_the_met_weeks_beside_it() -> None:
    # Two met weeks beyond 3 sigma after a missed one: a run of two (at 8 negatives a week
    # the weeks were short of 3 sigma and only the fast CUSUM, on the line, raised them).
    series = with_weeks(quiet(30), range(26, 27), negative=12, met=False)
    series = with_weeks(series, range(27, 29), negative=9)

    (finding,) = DETECTOR.unit_findings(series)

    assert (finding.first_window, finding.detected_in) == (week(27), week(28))


def test_safety_signal_fires_on_a_rise_in_harm_whatever_the_targets() -> None:
    series = with_weeks(quiet(30, met=False), range(25, 28), harmful=9, met=False)

    findings = DETECTOR.unit_findings(series)

    assert kinds(findings) == [AlertKind.SAFETY_SIGNAL]
    assert "9 incidents causing harm were reported (22 per 1,000 patients)" in findings[0].summary


def test_harm_while_meeting_targets_is_both_divergence_and_safety() -> None:
    series = with_weeks(quiet(30), range(25, 28), harmful=9, severe=1)

    findings = DETECTOR.unit_findings(series)

    assert sorted(kinds(findings)) == sorted(
        [AlertKind.TARGET_EXPERIENCE_DIVERGENCE, AlertKind.SAFETY_SIGNAL]
    )
    safety = next(f for f in findings if f.kind is AlertKind.SAFETY_SIGNAL)
    assert safety.severity is Severity.HIGH  # severe harm
    assert safety.summary.endswith(
        "; 3 weeks running, with 3 incidents of severe harm or death in that time."
    )


def test_a_single_bad_week_of_noise_raises_nothing() -> None:
    # 6 of 40 negative where 5% is usual: a 1-in-60 week, well inside the 4-sigma limit.
    series = with_weeks(quiet(30), range(25, 26), negative=6, harmful=3)

    assert DETECTOR.unit_findings(series) == []


def test_a_stable_unit_raises_nothing() -> None:
    for seed in range(30):
        assert DETECTOR.unit_findings(quiet(104, seed=seed)) == []


def test_nothing_is_judged_before_the_baseline_is_long_enough() -> None:
    series = with_weeks(quiet(12), range(8, 10), negative=30)

    assert DETECTOR.unit_findings(series) == []


def test_gaps_and_weeks_without_feedback_are_tolerated() -> None:
    series = quiet(30)
    series = series[:10] + series[12:]  # two weeks with no events at all
    series = with_weeks(series, range(14, 15), responses=0, negative=0)
    series = with_weeks(series, range(24, 27), negative=14)

    (finding,) = DETECTOR.unit_findings(series)

    assert finding.first_window == series[24].window


def test_windows_without_targets_are_not_judged_for_divergence() -> None:
    series = with_weeks(quiet(30), range(26, 29), negative=14, met=None)

    assert DETECTOR.unit_findings(series) == []


def test_the_same_closed_windows_give_the_same_findings() -> None:
    series = with_weeks(quiet(40), range(30, 33), negative=14, harmful=8)

    first = DETECTOR.unit_findings(series)
    again = Detector(DetectionConfig()).unit_findings(tuple(series))

    assert first == again
    assert json.dumps([f.evidence for f in first]) == json.dumps([f.evidence for f in again])


def test_findings_are_causal_a_prefix_already_shows_what_was_detected() -> None:
    series = with_weeks(quiet(40), range(30, 34), negative=9)

    for finding in DETECTOR.unit_findings(series):
        closed = [a for a in series if a.window <= finding.detected_in]
        early = [f for f in DETECTOR.unit_findings(closed) if f.kind is finding.kind]
        assert [f.first_window for f in early] == [finding.first_window]
        assert early[0].ongoing


def test_evidence_carries_the_figures_a_ward_manager_trusts() -> None:
    series = with_weeks(quiet(30), range(26, 28), responses=40, negative=14, harmful=8)

    divergence = next(
        f for f in DETECTOR.unit_findings(series)
        if f.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE
    )  # fmt: skip
    evidence = json.loads(json.dumps(divergence.evidence))

    assert {"method", "rules", "episode", "measures", "targets", "incidents"} <= set(evidence)
    assert evidence["targets"]["all_met"] is True
    assert evidence["targets"]["metrics"][0] == {
        "metric": "rtt_18w", "attainment": 0.95, "target": 0.92, "met": True,
        "higher_is_better": True, "distance": 0.03, "numerator": 380.0, "denominator": 400.0,
    }  # fmt: skip
    # Negative share beyond the 5-sigma limit; positive share and harm (z 4.6 to 4.9) by the
    # run of two beyond 3 sigma.
    assert evidence["rules"]["fired"] == ["beyond_limit", "run_of_2_beyond_3_sigma"]
    assert evidence["episode"]["first_window"] == "2024-07-01T00:00:00+00:00"
    negative = evidence["measures"]["negative_share"]
    assert negative["direction"] == "higher_is_worse"
    # Weeks 0-24: a week joins the baseline only once no run (of up to 3) can still flag it.
    assert negative["baseline"]["windows"] == 25
    flagged = negative["windows"][0]
    assert {"window_start", "size", "count", "value", "centre", "limit", "z", "rule"} <= set(
        flagged
    )
    assert flagged["value"] == 0.35 and flagged["size"] == 40
    assert flagged["centre"] < 0.07 < flagged["limit"] < 0.35
    assert evidence["measures"]["positive_share"]["direction"] == "lower_is_worse"
    assert evidence["measures"]["harmful_incident_rate"]["per"] == "1,000 activity"


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        DetectionConfig(min_baseline_windows=30, max_baseline_windows=26)
    with pytest.raises(ValueError):
        DetectionConfig(run_rules=((1, 3.0),))
    with pytest.raises(ValueError):
        DetectionConfig(run_rules=((2, 5.5),))
