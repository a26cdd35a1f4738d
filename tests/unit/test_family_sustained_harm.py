"""The evaluation family's sustained harm rises: off by default, planted where the truth says."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest

from pipeline.core.alerts import AlertKind
from pipeline.simulation.family import (
    HARMFUL_SHARE,
    SUSTAINED_HARM_SEEDS,
    FamilyConfig,
    Unit,
)
from pipeline.simulation.family_events import plan_family, simulate_family
from pipeline.simulation.family_plan import (
    DETECTABLE_SD,
    SUSTAINED_HARMFUL,
    sustained_rise_sd,
)
from pipeline.simulation.trust import TruthEpisode

_SUSTAINED = "sustained:"


def _plan(config: FamilyConfig) -> tuple[list[TruthEpisode], list[Unit], datetime]:
    truth, units, _ = plan_family(config, random.Random(f"family-{config.seed}"))
    start = datetime.fromisoformat(f"{config.start.isoformat()}T00:00:00+00:00")
    return truth, units, start


def _sustained(truth: list[TruthEpisode]) -> list[TruthEpisode]:
    return [
        t for t in truth
        if t.kind is AlertKind.SAFETY_SIGNAL and t.description.startswith(_SUSTAINED)
    ]  # fmt: skip


def test_sustained_rises_are_off_by_default_and_on_only_for_their_seeds() -> None:
    assert FamilyConfig().sustained_harm_rises == 0
    for seed in (1, 3, 11, 99, 120, 199):
        assert FamilyConfig.for_seed(seed) == FamilyConfig(seed=seed)
    assert list(SUSTAINED_HARM_SEEDS) == list(range(100, 120))
    assert all(FamilyConfig.for_seed(s).sustained_harm_rises == 2 for s in SUSTAINED_HARM_SEEDS)
    truth, units, _ = _plan(FamilyConfig(seed=1))
    assert not _sustained(truth)
    # Without the option no harm rise lasts longer than the family's usual 8 weeks.
    assert max(sum(f > 1.0 for f in unit.harm_factor) for unit in units) <= 8


@pytest.mark.parametrize("seed", [100, 107, 113])
def test_each_rise_is_planted_on_its_unit_in_its_weeks_within_the_specification(seed: int) -> None:
    config = FamilyConfig.for_seed(seed)
    truth, units, start = _plan(config)
    rises = _sustained(truth)
    assert len(rises) == 2 * config.orgs
    by_key = {(u.org_id, u.unit_id): u for u in units}
    for rise in rises:
        unit = by_key[(rise.org_id, rise.unit_id)]
        first = (rise.start - start).days // 7
        length = (rise.end - rise.start).days // 7
        risen = [w for w, factor in enumerate(unit.harm_factor) if factor > 1.0]
        assert risen == list(range(first, first + length))
        assert 7 <= length <= 12
        assert first >= config.warmup_weeks
        factor = unit.harm_factor[first]
        assert 1.5 <= factor <= 3.0
        assert SUSTAINED_HARMFUL[0] <= unit.incidents * HARMFUL_SHARE <= SUSTAINED_HARMFUL[1]
        sd = sustained_rise_sd(unit, first, length, factor)
        assert rise.detectable is (sd[-1] >= DETECTABLE_SD)
        assert not rise.decoy
        # Its divergence record is required only where the safety signal is.
        twin = next(
            t for t in truth
            if t.kind is AlertKind.TARGET_EXPERIENCE_DIVERGENCE and t.unit_id == rise.unit_id
            and t.org_id == rise.org_id and t.start == rise.start
        )  # fmt: skip
        assert twin.detectable <= rise.detectable
    # Every planted thing still takes its own unit.
    keys = Counter((t.org_id, t.unit_id) for t in truth if t.kind is AlertKind.SAFETY_SIGNAL)
    assert max(keys.values()) == 1


def test_the_tuning_seeds_hold_detectable_and_undetectable_rises() -> None:
    detectable = Counter(
        rise.detectable
        for seed in range(100, 112)
        for rise in _sustained(_plan(FamilyConfig.for_seed(seed))[0])
    )
    assert detectable[True] >= 30
    assert detectable[False] >= 30


def test_a_detectable_rise_shows_in_the_harmful_incidents_delivered() -> None:
    trust = simulate_family(FamilyConfig.for_seed(102))
    harmful: Counter[tuple[str, str, int]] = Counter()
    seen: set[str] = set()
    for event in trust.events:
        if event["event_type"] != "incident_report" or event["event_id"] in seen:
            continue
        seen.add(event["event_id"])  # the first version counts (re-graded, duplicated)
        if event["harm"] != "none":
            moment = datetime.fromisoformat(event["occurred_at"])
            harmful[(event["org_id"], event["unit_id"], (moment - trust.start).days // 7)] += 1
    during = before = 0
    for rise in _sustained(trust.truth):
        if not rise.detectable:
            continue
        length = (rise.end - rise.start).days // 7
        first = (rise.start - trust.start).days // 7
        during += sum(harmful[(rise.org_id, rise.unit_id, w)] for w in range(first, first + length))
        earlier = range(first - length - 2, first - 2)
        before += sum(harmful[(rise.org_id, rise.unit_id, w)] for w in earlier)
    assert before > 0
    assert during / before > 1.8
    assert trust.start + timedelta(weeks=trust.weeks) > max(r.end for r in _sustained(trust.truth))
