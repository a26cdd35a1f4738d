"""The simulator: valid contract events, deterministic, with the nuisances and ground truth the
detection tests rely on."""

from __future__ import annotations

import argparse
import collections
import io
import json
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.cli.simulate import add_simulate_arguments, run_simulate
from pipeline.core.alerts import AlertKind
from pipeline.core.decode import Rejection, decode
from pipeline.simulation import SimulatedTrust, SimulationConfig, simulate_trust
from pipeline.simulation.events import rfc3339, uuid4_text
from pipeline.simulation.score import closed_series

SMALL = SimulationConfig(seed=5, orgs=1, units_per_org=3, weeks=30, feedback_scale=0.3)


@pytest.fixture(scope="module")
def small() -> SimulatedTrust:
    return simulate_trust(SMALL)


@pytest.fixture(scope="module")
def demo_sized() -> SimulatedTrust:
    return simulate_trust(SimulationConfig(seed=3))


def test_every_event_is_valid_under_the_contract(small: SimulatedTrust) -> None:
    rejected = [
        (event, outcome)
        for event in small.events
        if isinstance(outcome := decode(json.dumps(event).encode()), Rejection)
    ]

    assert rejected == []
    types = collections.Counter(event["event_type"] for event in small.events)
    assert set(types) == {"patient_feedback", "incident_report", "target_metric", "alert_response"}


def test_the_same_seed_gives_the_same_trust_and_another_seed_another() -> None:
    again = simulate_trust(SMALL)
    other = simulate_trust(SimulationConfig(seed=6, orgs=1, units_per_org=3, weeks=30))

    assert again.events == simulate_trust(SMALL).events
    assert again.truth == simulate_trust(SMALL).truth
    assert other.events[0]["event_id"] != again.events[0]["event_id"]


def test_event_ids_are_uuid4_drawn_from_the_seeded_generator() -> None:
    rng = random.Random(1)
    for _ in range(1000):
        bits = rng.getrandbits(128)
        assert uuid4_text(bits) == str(uuid.UUID(int=bits, version=4))


def test_times_carry_the_uk_offset_of_their_moment() -> None:
    def moment(text: str) -> float:
        return datetime.fromisoformat(text).timestamp()

    assert rfc3339(moment("2024-03-31T00:59:59+00:00")) == "2024-03-31T00:59:59+00:00"
    assert rfc3339(moment("2024-03-31T01:00:00+00:00")) == "2024-03-31T02:00:00+01:00"
    assert rfc3339(moment("2024-10-27T00:59:59+00:00")) == "2024-10-27T01:59:59+01:00"
    assert rfc3339(moment("2024-10-27T01:00:00+00:00")) == "2024-10-27T01:00:00+00:00"


def test_targets_arrive_monthly_for_every_unit_after_the_month_ends(small: SimulatedTrust) -> None:
    returns = [e for e in small.events if e["event_type"] == "target_metric"]
    months = {(e["unit_id"], e["period_start"]) for e in returns}  # revisions repeat a month

    assert len(months) == 3 * 7  # three units, April to October 2023
    for event in returns:
        start = datetime.fromisoformat(event["period_start"])
        end = datetime.fromisoformat(event["period_end"])
        assert start.day == end.day == 1 and start.tzinfo == UTC
        assert datetime.fromisoformat(event["occurred_at"]) >= end + timedelta(days=4)


def test_shuffled_delivery_repeats_some_events_and_changes_only_their_order() -> None:
    plain = simulate_trust(SMALL)
    shuffled = simulate_trust(replace(SMALL, shuffle=True, duplicates=0.05))

    ids = [event["event_id"] for event in shuffled.events]
    unique = {event["event_id"]: event for event in shuffled.events}
    assert sorted(unique) == sorted(event["event_id"] for event in plain.events)
    assert list(unique.values()) != plain.events  # out of order
    assert 0.03 < (len(ids) - len(unique)) / len(unique) < 0.07
    assert shuffled.truth == plain.truth


def test_the_truth_has_detectable_episodes_and_every_kind_of_decoy(
    demo_sized: SimulatedTrust,
) -> None:
    truth = demo_sized.truth
    described = " / ".join(t.description for t in truth if t.decoy)

    # The project's simulator plants no reporting silences (the evaluation family does).
    planted = set(AlertKind) - {AlertKind.REPORTING_SILENCE}
    assert {t.kind for t in truth if t.detectable} == planted
    assert "misses its target" in described
    assert "one bad week" in described
    assert "the whole organisation dips" in described
    assert all(not (t.decoy and t.detectable) for t in truth)
    end = demo_sized.start + timedelta(weeks=demo_sized.config.weeks)
    assert all(demo_sized.start <= t.start < t.end <= end for t in truth)


def test_divergence_truth_agrees_with_the_targets_the_pipeline_will_see(
    demo_sized: SimulatedTrust,
) -> None:
    series = closed_series(demo_sized.events)
    checked = 0
    for record in demo_sized.truth:
        if record.kind is not AlertKind.TARGET_EXPERIENCE_DIVERGENCE or "one bad week" in (
            record.description
        ):
            continue
        weeks = [
            a for a in series[(record.org_id, record.unit_id)]
            if record.start <= a.window.start < record.end
        ]  # fmt: skip
        expected = not record.decoy  # a decoy here is a unit missing its target
        assert {a.targets_met for a in weeks} == {expected}, record.description
        checked += 1
    assert checked >= 6


def test_an_injected_deterioration_shows_in_the_data(demo_sized: SimulatedTrust) -> None:
    series = closed_series(demo_sized.events)
    record = next(
        t for t in demo_sized.truth
        if t.detectable and "negative feedback rises" in t.description
    )  # fmt: skip
    windows = series[(record.org_id, record.unit_id)]

    def negative_share(selected: list[int]) -> float:
        picked = [windows[i] for i in selected]
        return sum(a.fft_negative for a in picked) / sum(a.fft_responses for a in picked)

    inside = [i for i, a in enumerate(windows) if record.start <= a.window.start < record.end]
    before = list(range(inside[0] - 10, inside[0]))
    assert negative_share(inside) > 2 * negative_share(before)


def test_the_command_writes_events_and_truth(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    args = parser.parse_args(
        ["--out", str(tmp_path), "--seed", "2", "--orgs", "1", "--units", "2", "--weeks", "28",
         "--shuffle", "--duplicates", "0.01"]
    )  # fmt: skip
    stdout = io.StringIO()

    assert run_simulate(args, stdout) == 0

    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert len(lines) > 1000 and json.loads(lines[0])["schema_version"] == 1
    assert truth["config"]["seed"] == 2 and truth["config"]["shuffle"] is True
    assert {
        "kind",
        "org_id",
        "unit_id",
        "start",
        "end",
        "detectable",
        "decoy",
        "description",
    } == set(truth["episodes"][0])
    assert f"{len(lines)} events" in stdout.getvalue()


@pytest.mark.parametrize(
    "options",
    [["--weeks", "10"], ["--feedback-scale", "-1"], ["--feedback-scale", "1e308"],
     ["--feedback-scale", "nan"], ["--feedback-scale", "0"],
     ["--weeks", "100000"]],  # to the year 3939: every event in the future
)  # fmt: skip
def test_the_command_refuses_a_simulation_it_cannot_make(
    tmp_path: Path, options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--out", str(tmp_path), *options]) == 2
    assert capsys.readouterr().err.startswith("pipeline simulate: error: ")
    assert not (tmp_path / "events.jsonl").exists()


def test_a_family_harm_rise_is_a_divergence_wherever_its_unit_meets_its_target() -> None:
    # A harm rise is the divergence condition in every week the unit meets its target, so an
    # alert of that kind during it is no false alarm, even where the target is missed in other
    # weeks (family seed 1's RDU/theatres misses it in all eight by its expected attainment).
    from pipeline.simulation.family import FamilyConfig
    from pipeline.simulation.family_events import plan_family
    from pipeline.simulation.family_plan import MET_BUFFER

    truth, units, seasons = plan_family(FamilyConfig(seed=1), random.Random("family-1"))
    rises = [t for t in truth if t.kind is AlertKind.SAFETY_SIGNAL]
    not_met_throughout = 0
    for rise in rises:
        unit = next(u for u in units if (u.org_id, u.unit_id) == (rise.org_id, rise.unit_id))
        weeks = [w for w, factor in enumerate(unit.harm_factor) if factor != 1.0]
        season = seasons[unit.org_id]
        met = all(
            season.attainment_of(unit, w) + unit.attainment_shift[w] >= unit.target + MET_BUFFER
            for w in weeks
        )
        not_met_throughout += not met
        span = (rise.org_id, rise.unit_id, rise.start, rise.end)
        divergence = [
            t for t in truth
            if t.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE
            and (t.org_id, t.unit_id, t.start, t.end) == span
        ]  # fmt: skip
        assert len(divergence) == 1, rise.description
        assert not divergence[0].decoy
        assert divergence[0].detectable == (rise.detectable and met)
    assert not_met_throughout >= 1
