"""Detection where a feed is missing. A unit with no incident feed (its trust sends feedback or
activity only, e.g. published A&E returns imported alone): harm and reporting are not judged
until its first incident report (`UnitFigures.incident_feed`). A divergence whose feedback
stops: it stays open, since only the measure that raised it can show it ended. (QA findings,
thirteenth session.)"""

from __future__ import annotations

from dataclasses import replace

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import AlertKind
from pipeline.core.detection import DetectionConfig, Detector
from pipeline.core.detection.episodes import raised_states
from pipeline.core.detection.measures import unit_figures
from pipeline.core.detection.silence import silence_trace
from pipeline.core.detection.verdicts import INCIDENT_REPORTING, unit_verdicts
from tests.support.series import quiet, with_weeks

CONFIG = DetectionConfig()
HARM = "harmful_incident_rate"


def _no_incidents(series: list[UnitWindowAggregate], weeks: range) -> list[UnitWindowAggregate]:
    return [
        replace(
            a,
            incidents_by_harm=(0, 0, 0, 0, 0),
            incidents_by_category=(0,) * 10,
        )
        if index in weeks
        else a
        for index, a in enumerate(series)
    ]


def test_a_unit_that_never_reported_an_incident_has_no_harm_or_reporting_verdict() -> None:
    series = _no_incidents(quiet(60), range(60))
    verdicts = unit_verdicts(series, CONFIG)
    assert {v.measure for v in verdicts} == {"negative_share", "positive_share"}
    silence = silence_trace(series, unit_figures(series), CONFIG)
    assert all(z != z for z in silence.z)  # never judged: no reporting level of its own
    assert not [
        f
        for f in Detector(CONFIG).unit_findings(series)
        if f.kind in (AlertKind.REPORTING_SILENCE, AlertKind.SAFETY_SIGNAL)
    ]


def test_harm_is_judged_once_the_feed_has_given_a_baseline_of_its_own() -> None:
    """The feed starts in week 20: the weeks before it are neither judged nor learnt from."""
    series = _no_incidents(quiet(60), range(20))
    figures = unit_figures(series)
    assert figures.incident_feed == [index >= 20 for index in range(60)]
    first = CONFIG.min_baseline_windows + 20
    for measure in (HARM, INCIDENT_REPORTING):
        judged = sorted(
            (v.window.start - series[0].window.start).days // 7
            for v in unit_verdicts(series, CONFIG)
            if v.measure == measure
        )
        assert judged and judged[0] >= first, measure


def test_the_feed_is_read_the_same_when_a_unit_grows() -> None:
    """Figures grown from a shorter series (`unit_figures` resumes) carry the feed on."""
    series = _no_incidents(quiet(40, seed=3), range(25))
    for length in (10, 30, 40):
        assert unit_figures(series[:length]).incident_feed == [i >= 25 for i in range(length)]


def _divergence_then_feedback_stops(stops: int) -> list[UnitWindowAggregate]:
    """Targets met throughout; 25% negative from week 30 (a divergence); no feedback from
    week `stops` on while incidents and activity carry on."""
    series = quiet(60)
    series = with_weeks(series, range(30, stops), negative=10)
    return with_weeks(series, range(stops, 60), responses=0, negative=0)


def test_a_divergence_stays_open_while_the_feedback_that_raised_it_has_stopped() -> None:
    (divergence,) = [
        f
        for f in Detector(CONFIG).unit_findings(_divergence_then_feedback_stops(36))
        if f.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE
    ]
    assert divergence.ongoing  # harm judged since is no evidence the experience recovered
    measures = divergence.evidence["measures"]
    raised = {m for m, e in measures.items() if any(w["rule"] for w in e["windows"])}
    assert HARM not in raised


def test_a_divergence_ends_once_its_feedback_is_back_to_usual() -> None:
    series = _divergence_then_feedback_stops(36)
    series = series[:40] + quiet(60)[40:]
    (divergence,) = [
        f
        for f in Detector(CONFIG).unit_findings(series)
        if f.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE
    ]
    assert not divergence.ongoing


def test_an_episode_ends_only_where_a_measure_that_raised_it_was_judged() -> None:
    feedback = [False, True, None, None, False, None]
    harm = [False, False, False, False, False, False]
    # Harm judged alone neither extends nor ends the feedback's episode; once the feedback is
    # judged clear the episode is over, and harm alone judges windows again.
    assert raised_states([feedback, harm], 0) == [False, True, None, None, False, False]
    # With a gap allowed the episode is still open after one clear feedback window.
    assert raised_states([feedback, harm], 1) == [False, True, None, None, False, None]
