"""The report's figures and words: pooling, changes beyond chance, standing, evidence."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.core.alerts import AlertKind, AlertStatus, Severity
from pipeline.core.target_reports import TargetAttainment
from pipeline.report import sections
from pipeline.report.figures import Pooled, harm_change, pool
from pipeline.report.periods import (
    PeriodView,
    UnitView,
    alert_measures,
    offered_periods,
    period_bounds,
    period_view,
    standing,
)
from pipeline.report.records import AlertRecord, VerdictRecord, WindowFigures
from pipeline.report.text import day, evidence_figures, pct, pts, pts_tick

MONDAY = datetime(2025, 1, 6, tzinfo=UTC)


def window(
    i: int,
    *,
    responses: int = 100,
    positive: int = 90,
    harmful: int = 2,
    activity: float | None = 1000.0,
    attainment: float = 0.96,
    target: float = 0.95,
) -> WindowFigures:
    start = MONDAY + timedelta(weeks=i)
    return WindowFigures(
        org_id="RXA",
        unit_id="ED",
        start=start,
        end=start + timedelta(weeks=1),
        fft_responses=responses,
        fft_positive=positive,
        fft_negative=responses - positive,
        incidents=harmful + 3,
        harmful_incidents=harmful,
        activity=activity,
        targets=(TargetAttainment("ae_4h", attainment * 1000, 1000.0, target, True),),
    )


def test_pool_sums_windows_and_judges_targets_on_the_pooled_attainment() -> None:
    pooled = pool([window(0, attainment=0.94), window(1, attainment=0.97)])
    assert pooled.windows == 2
    assert pooled.responses == 200
    assert pooled.share == pytest.approx(0.9)
    assert pooled.margins()["ae_4h"] == pytest.approx(0.005)
    assert pooled.targets_met is True
    assert Pooled().share is None
    assert Pooled().targets_met is None


def test_lower_is_better_targets_flip_the_margin() -> None:
    w = window(0)
    lower = WindowFigures(
        org_id=w.org_id,
        unit_id=w.unit_id,
        start=w.start,
        end=w.end,
        fft_responses=1,
        fft_positive=1,
        fft_negative=0,
        incidents=0,
        harmful_incidents=0,
        activity=None,
        targets=(TargetAttainment("waits", 100.0, 1000.0, 0.2, False),),
    )
    assert pool([lower]).margins()["waits"] == pytest.approx(0.1)


def test_harm_change_is_per_activity_and_positive_when_worse() -> None:
    before = pool([window(i, harmful=2) for i in range(26)])
    worse = pool([window(i, harmful=6) for i in range(13)])
    assert harm_change(worse, before) == pytest.approx(2.0, rel=0.05)
    assert harm_change(before, worse) == pytest.approx(-2 / 3, rel=0.05)


def unit(recent: list[WindowFigures], baseline: list[WindowFigures]) -> UnitView:
    return UnitView("RXA", "ED", pool(recent), pool(baseline), ())


def _verdict(measure: str, verdict: str) -> VerdictRecord:
    return VerdictRecord(
        "RXA", "ED", measure, MONDAY, 0.7, 0.9, 0.8, 1.0, 4.2, "", verdict, "share"
    )


def _divergence(status: AlertStatus = AlertStatus.OPEN) -> AlertRecord:
    return AlertRecord(
        "tar-1", AlertKind.TARGET_EXPERIENCE_DIVERGENCE, "RXA", "ED", MONDAY, MONDAY,
        Severity.HIGH, status, "", {}, MONDAY, MONDAY, 1, (),
    )  # fmt: skip


def test_the_report_judges_nothing_worse_itself() -> None:
    """Worse is a concern in the pipeline's stored verdicts, whatever the period's pooled
    figures say."""
    baseline = [window(i, responses=300, positive=270) for i in range(26)]
    met = [window(i, responses=300, positive=210) for i in range(13)]
    concern = (_verdict("positive_share", "common_cause"), _verdict("negative_share", "concern"))
    met_worse = UnitView("RXA", "ED", pool(met), pool(baseline), (), concern)
    assert met_worse.experience_class == "concern" and met_worse.experience_worse
    assert met_worse.share_change == pytest.approx(-0.2)
    # The same fall in the pooled figures with common-cause verdicts is not a finding.
    calm = (_verdict("positive_share", "common_cause"),)
    assert not UnitView("RXA", "ED", pool(met), pool(baseline), (), calm).experience_worse
    assert unit(met, baseline).experience_class is None  # not judged: no class at all
    # Harm lower because reporting fell is a reporting concern: not worse, never improvement.
    recent, before = [window(i, harmful=0) for i in range(13)], [window(i) for i in range(26)]
    reporting = (_verdict("harmful_incident_rate", "improvement"),
                 _verdict("harmful_incident_rate", "reporting_concern"))  # fmt: skip
    fell = UnitView("RXA", "ED", pool(recent), pool(before), (), reporting)
    assert fell.safety_class == "reporting_concern" and not fell.safety_worse
    harm = (_verdict("harmful_incident_rate", "concern"),)
    assert UnitView("RXA", "ED", pool(recent), pool(before), (), harm).safety_worse


def test_hitting_the_target_missing_the_point_is_the_pipelines_divergence_alert() -> None:
    """Seen from outside (twenty-fourth session): a unit with an open high 'hitting the
    target, missing the point' alert was left out of the headline because it had missed an
    unrelated target in two earlier weeks of the period (the report's own rule: every target
    met in every week, plus a concern). The headline is the alerts' judgement, week by week:
    a divergence alert in the period that the safety team did not dismiss."""
    baseline = [window(i, responses=300, positive=270) for i in range(26)]
    missed = [window(i, responses=300, positive=210, attainment=0.9 if i < 2 else 0.96)
              for i in range(13)]  # fmt: skip
    concern = (_verdict("negative_share", "concern"),)
    alerted = UnitView("RXA", "ED", pool(missed), pool(baseline), (_divergence(),), concern)
    assert alerted.hitting_target_missing_point
    dismissed = (_divergence(AlertStatus.DISMISSED),)
    assert not replace(alerted, alerts=dismissed).hitting_target_missing_point
    # A concern while every target was met, with no divergence alert (the core saw none):
    # not named, as the alerts list does not name it.
    met = [window(i, responses=300, positive=210) for i in range(13)]
    assert not UnitView(
        "RXA", "ED", pool(met), pool(baseline), (), concern
    ).hitting_target_missing_point


def test_no_harm_change_is_claimed_where_neither_period_had_harm() -> None:
    none_before = pool([window(i, harmful=0, activity=900.0) for i in range(26)])
    none_now = pool([window(i, harmful=0, activity=300.0) for i in range(13)])
    assert harm_change(none_now, none_before) is None
    one_now = pool([window(i, harmful=1 if i == 0 else 0) for i in range(13)])
    assert harm_change(one_now, none_before) is not None


def test_standing_compares_a_unit_with_its_usual_gap_to_the_rest() -> None:
    def p(responses: int, positive: int) -> Pooled:
        return Pooled(windows=13, responses=responses, positive=positive)

    # An ED usually 10 points below the rest has not moved from its standing by staying there
    # (figures only: whether a unit is a dark spot is the pipeline's masked_dark_spot alert)...
    usual = standing(p(3000, 2400), p(3000, 2700), p(6000, 4800), p(6000, 5400))
    assert usual is not None and usual.slipped == pytest.approx(0.0, abs=1e-12)
    assert usual.expected == pytest.approx(0.8)
    # ...and has slipped 10 points when it is 20 points below.
    slipped = standing(p(3000, 2100), p(3000, 2700), p(6000, 4800), p(6000, 5400))
    assert slipped is not None and slipped.slipped == pytest.approx(-0.1)
    assert slipped.expected == pytest.approx(0.8)
    assert standing(Pooled(), p(1, 1), p(1, 1), p(1, 1)) is None


def test_periods_are_quarters_back_from_the_end_with_their_baselines() -> None:
    # the fourth quarter back would have only 4 weeks before it
    assert period_bounds(56, "week") == [(17, 43, 56), (4, 30, 43), (0, 17, 30)]
    assert period_bounds(20, "week") == [(0, 10, 20)]
    assert period_bounds(15, "month") == [(0, 12, 15), (0, 9, 12)]


def test_what_an_alert_is_about_comes_from_the_measures_its_evidence_flags() -> None:
    def alert(kind: str, evidence: dict[str, Any]) -> AlertRecord:
        return AlertRecord(
            "a", AlertKind(kind), "RXA", "ED", MONDAY, MONDAY, Severity.LOW, AlertStatus.OPEN, "",
            evidence, MONDAY, MONDAY, 1, (),
        )  # fmt: skip

    assert alert_measures(alert("target_experience_divergence", DETECTOR_EVIDENCE)) == {
        "experience"
    }
    assert alert_measures(alert("safety_signal", {})) == {"safety"}
    harm = {"measures": {"harmful_incident_rate": {"windows": [{"rule": "beyond_limit"}]}}}
    assert alert_measures(alert("target_experience_divergence", harm)) == {"safety"}


def test_numbers_in_words() -> None:
    assert pct(0.8712) == "87%"
    assert pct(None) == "–"
    assert pts(-0.161) == "-16.1 pts"
    assert pts(0.0001) == "0 pts"
    assert pts_tick(0.05) == "+5 pts"
    assert pts_tick(-0.025) == "-2.5 pts"
    assert pts_tick(0.0) == "0"
    assert day(datetime(2025, 3, 3, tzinfo=UTC)) == "3 Mar 2025"
    assert day(datetime(2025, 3, 10, tzinfo=UTC), end=True) == "9 Mar 2025"


DETECTOR_EVIDENCE = {
    "method": "exact probability limits on the unit's own rolling baseline",
    "rules": {"fired": ["beyond_limit"], "limit_sigma": 4.0},
    "episode": {"windows_flagged": 3, "ongoing": True, "peak_z": 5.2},
    "measures": {
        "positive_share": {
            "direction": "lower_is_worse",
            "windows": [
                {"window_start": "2025-03-03T00:00:00+00:00", "size": 180, "count": 60,
                 "value": 0.6667, "centre": 0.88, "limit": 0.79, "z": 5.2,
                 "rule": "beyond_limit"},
                {"window_start": "2025-03-10T00:00:00+00:00", "size": 170, "count": 30,
                 "value": 0.82, "centre": 0.88, "limit": 0.79, "z": 2.0, "rule": None},
            ],
        },
        "harmful_incident_rate": {"per": "1,000 activity", "windows": [
            {"window_start": "2025-03-03T00:00:00+00:00", "count": 2, "value": 1.1, "rule": None}
        ]},
    },
    "targets": {"metrics": [{"metric": "ae_4h", "attainment": 0.961, "target": 0.95,
                             "met": True}]},
    "incidents": {"by_harm": {"none": 4, "low": 2, "moderate": 1, "severe": 0, "death": 0}},
}  # fmt: skip


def test_detector_evidence_reads_as_figures() -> None:
    method, figures = evidence_figures(DETECTOR_EVIDENCE)
    assert method.startswith("exact probability limits")
    found = dict(figures)
    assert found["A&E 4-hour"] == "96.1% against a target of 95% (met)"
    assert found["Rated good or very good, week of 3 Mar 2025"] == (
        "66.7% of 180 responses; usual 88.0%, limit 79.0% (z = 5.2)"
    )
    assert not any(label.startswith("Incidents causing harm") for label in found)
    assert found["Episode"] == "3 weeks flagged, ongoing; strongest signal z = 5.2"
    assert found["Incidents in the episode, by harm"] == "4 none, 2 low, 1 moderate"
    assert found["Rule"] == "a window beyond the limit"


def test_evidence_of_another_shape_is_listed_key_by_key() -> None:
    method, figures = evidence_figures(
        {"positive_share": 0.7, "responses": 3120, "targets": [{"metric": "ae_4h", "x": 1.5}]}
    )
    assert method == "not stated"
    assert ("Positive share", "70.0%") in figures
    assert ("Responses", "3,120") in figures
    assert ("Targets A&E 4-hour x", "1.5") in figures


def test_a_unit_with_a_target_but_nothing_to_chart_is_named_under_the_charts() -> None:
    """A trust that sends only target returns (as `pipeline import ae-monthly` gives) has no
    feedback or harm to place: its units are named under the charts, not silently left off."""
    baseline, recent = range(26), range(26, 39)
    charted = UnitView("RXA", "ED", pool([window(i) for i in recent]),
                       pool([window(i) for i in baseline]), ())  # fmt: skip
    bare = [window(i, responses=0, positive=0, harmful=0) for i in (*baseline, *recent)]
    targets_only = UnitView("RXA", "AMU", pool(bare[26:]), pool(bare[:26]), ())
    assert targets_only.worst_margin is not None  # it reports a target, so it is not "no target"
    period = PeriodView(MONDAY + timedelta(weeks=26), MONDAY + timedelta(weeks=39), MONDAY,
                        13, 26, "week", (charted, targets_only), ())  # fmt: skip
    notes = re.findall(r'<p class="note">(.*?)</p>', sections._divergence(period))
    assert notes == [
        "Not on the experience chart (no patient feedback to compare in these weeks and the 26 "
        "before): RXA AMU",
        "Not on the safety chart (no harmful incidents to compare in these weeks and the 26 "
        "before): RXA AMU",
    ]


def test_a_harm_fall_with_reporting_fallen_never_reads_as_an_improvement() -> None:
    """On the safety quadrant a unit whose reporting fell sits among "fewer harmful incidents":
    its ring is orange and its tooltip says why that is no good news."""
    before, recent = [window(i) for i in range(26)], [window(i, harmful=0) for i in range(13)]
    reporting = (_verdict("harmful_incident_rate", "reporting_concern"),)
    fell = UnitView("RXA", "ED", pool(recent), pool(before), (), reporting)
    period = PeriodView(MONDAY + timedelta(weeks=26), MONDAY + timedelta(weeks=39), MONDAY,
                        13, 26, "week", (fell,), ())  # fmt: skip
    titles = re.findall(r"<title>(RXA ED: [^<]*harmful incidents[^<]*)</title>",
                        sections._divergence(period))  # fmt: skip
    assert titles == [
        "RXA ED: A&amp;E 4-hour +1.0 pts vs target (met in 13 of 13 weeks); harmful incidents "
        "-98% vs before, but incident reporting fell: a warning sign, not an improvement"
    ]


def test_a_periods_baseline_is_the_weeks_before_it_in_the_calendar_not_the_windows_before() -> None:
    """Seen from outside (twenty-first session): a period's baseline was the 26 window starts
    before it, wherever they fell, so one valid feedback event of 1990 became one of a unit's
    "17 weeks before" in 2026 (positive share 0% "before", +67.6 pts), and on the real A&E
    imports (2016-2019, then 2024-2025) the period from 29 Jul 2024 was "compared with its own
    26 weeks before": weeks of 2018 and 2019. The baseline is the calendar's 26 weeks (12
    months) before the period, and a period with too few of them is not offered."""
    ancient = replace(window(0, positive=0), start=datetime(1990, 1, 1, tzinfo=UTC),
                      end=datetime(1990, 1, 8, tzinfo=UTC))  # fmt: skip
    windows = [ancient, *(window(i) for i in range(30))]
    starts = sorted({w.start for w in windows})
    ((base_first, first, stop),) = period_bounds(len(starts), "week")
    view = period_view({("RXA", "ED"): windows}, starts, (base_first, first, stop), [], "week")
    assert view.baseline_start == view.start - timedelta(weeks=26)
    assert view.baseline_windows == 17  # the 17 weeks of 2025 before the period, not 1990
    (unit,) = view.units
    assert unit.baseline.responses == 17 * 100 and unit.baseline.share == pytest.approx(0.9)
    # A gap of years: the period after it has no baseline, and is not offered as a comparison.
    gap = [*(window(i) for i in range(20)), *(window(300 + i) for i in range(30))]
    view_starts = sorted({w.start for w in gap})
    shown = [
        period_view({("RXA", "ED"): gap}, view_starts, bounds, [], "week")
        for bounds in period_bounds(len(view_starts), "week")
    ]
    offered = offered_periods(shown)
    assert offered[0] is shown[0] and all(p.baseline_windows >= 8 for p in offered[1:])
    assert all(p.baseline_start >= p.start - timedelta(weeks=26) for p in offered)
