"""The family's near-target units (`pipeline.simulation.family_near`): off by default, on from
seed 200; divergences whose expected attainment sits just above the target line, both-fall decoys
just below it."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from pipeline.core.alerts import AlertKind
from pipeline.simulation.family import (
    NEAR_TARGET_PER_ORG,
    FamilyConfig,
    Unit,
)
from pipeline.simulation.family_events import plan_family, simulate_family
from pipeline.simulation.family_near import BELOW, CLEAR, MEDIUM_RESPONSES, SMALL_RESPONSES
from pipeline.simulation.family_plan import Season
from pipeline.simulation.trust import TruthEpisode

DIVERGENCE = AlertKind.TARGET_EXPERIENCE_DIVERGENCE


def _plan(config: FamilyConfig) -> tuple[list[TruthEpisode], list[Unit], dict[str, Season]]:
    return plan_family(config, random.Random(f"family-{config.seed}"))


def _weeks(record: TruthEpisode, start: datetime) -> range:
    return range((record.start - start).days // 7, (record.end - start).days // 7)


def _expected(unit: Unit, season: Season, week: int) -> float:
    """Expected attainment less the target, in the week."""
    return season.attainment_of(unit, week) + unit.attainment_shift[week] - unit.target


def _near_records(
    config: FamilyConfig,
) -> tuple[list[tuple[TruthEpisode, Unit, Season]], datetime]:
    truth, units, seasons = _plan(config)
    by_key = {(u.org_id, u.unit_id): u for u in units}
    records = []
    for record in truth:
        unit = by_key[(record.org_id, record.unit_id)]
        if unit.near_target and record.kind is DIVERGENCE and record.description.startswith("near"):
            records.append((record, unit, seasons[unit.org_id]))
    start = datetime.combine(config.start, datetime.min.time(), truth[0].start.tzinfo)
    return records, start


def test_the_option_is_off_by_default_and_on_from_seed_200() -> None:
    assert FamilyConfig().near_target_per_org == 0
    assert FamilyConfig.for_seed(199) == FamilyConfig(seed=199)
    assert FamilyConfig.for_seed(200).near_target_per_org == NEAR_TARGET_PER_ORG
    _, units, _ = _plan(FamilyConfig(seed=3))
    assert not any(unit.near_target for unit in units)


def test_every_organisation_gains_its_near_target_units_small_ones_first() -> None:
    config = FamilyConfig.for_seed(201)
    _, units, _ = _plan(config)
    orgs = sorted({unit.org_id for unit in units})
    assert len(orgs) == config.orgs
    for org in orgs:
        near = [u for u in units if u.org_id == org and u.near_target]
        assert len(near) == config.near_target_per_org + 1
        for index, unit in enumerate(near[:-1]):
            low, high = MEDIUM_RESPONSES if index % 2 else SMALL_RESPONSES
            assert low <= unit.responses <= high, unit
        assert len({u.unit_id for u in units if u.org_id == org}) == sum(
            u.org_id == org for u in units
        )


@pytest.mark.parametrize("seed", [200, 207, 213])
def test_a_near_target_divergence_meets_its_target_by_expectation_just_above_the_line(
    seed: int,
) -> None:
    records, start = _near_records(FamilyConfig.for_seed(seed))
    divergences = [(r, u, s) for r, u, s in records if not r.decoy]
    assert len(divergences) >= 12
    for record, unit, season in divergences:
        weeks = _weeks(record, start)
        clear = [_expected(unit, season, w) for w in weeks]
        assert min(clear) >= 0.0, record.description
        assert min(clear) <= CLEAR[1] + 1e-9, record.description
        assert all(unit.feedback_shift[w] < 0.0 for w in weeks)
        assert record.description.startswith("near target (+")


@pytest.mark.parametrize("seed", [200, 207, 213])
def test_a_near_target_both_fall_misses_its_target_by_expectation_just_below_the_line(
    seed: int,
) -> None:
    records, start = _near_records(FamilyConfig.for_seed(seed))
    decoys = [(r, u, s) for r, u, s in records if r.decoy]
    assert len(decoys) == 6
    for record, unit, season in decoys:
        assert not record.detectable
        weeks = _weeks(record, start)
        below = [-_expected(unit, season, w) for w in weeks]
        assert all(BELOW[0] - 1e-9 <= b <= BELOW[1] + 1e-9 for b in below), record.description
        assert all(unit.feedback_shift[w] < 0.0 for w in weeks)


def test_some_near_target_divergences_are_detectable_and_some_small_ones_among_them() -> None:
    records, _ = _near_records(FamilyConfig.for_seed(200))
    detectable = [(r, u) for r, u, _ in records if not r.decoy and r.detectable]
    assert 3 <= len(detectable) < len([r for r, _, _ in records if not r.decoy])
    assert any(u.responses <= SMALL_RESPONSES[1] for _, u in detectable)


def test_realised_weeks_of_near_target_divergences_sometimes_miss_their_target() -> None:
    config = FamilyConfig(seed=200, orgs=2, near_target_per_org=NEAR_TARGET_PER_ORG)
    trust = simulate_family(config)
    records, start = _near_records(config)
    weekly = {(u.org_id, u.unit_id) for r, u, _ in records if not r.decoy and not u.monthly}
    assert weekly
    met: dict[tuple[str, str, int], bool] = {}
    for event in trust.events:
        if event["event_type"] == "target_metric" and (event["org_id"], event["unit_id"]) in weekly:
            week = (datetime.fromisoformat(event["period_start"]) - start).days // 7
            share = event["numerator"] / event["denominator"]
            met[(event["org_id"], event["unit_id"], week)] = share >= event["target"]
    episode_weeks = [
        met[(r.org_id, r.unit_id, w)]
        for r, u, _ in records
        if (u.org_id, u.unit_id) in weekly and not r.decoy
        for w in _weeks(r, start)
    ]
    missed = episode_weeks.count(False)
    assert 0 < missed < len(episode_weeks) / 2
