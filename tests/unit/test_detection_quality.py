"""Detection quality against simulated ground truth, on two families: the issue's targets.

Each trust's events go through `Engine` exactly as `pipeline replay` sends them (batches of
20,000 lines, then `finish`), and the alerts left standing are scored against the truth
(`pipeline.simulation.score`). Two families, written from different specifications:

- the project's simulator (`pipeline.simulation.trust`; 3 organisations × 6 units × 64 weeks),
  held-out seeds 3 to 6;
- the independent evaluation family (`pipeline.simulation.family`; 6 organisations × 7 to 11
  units × 78 weeks), held-out seeds 3 to 6.

The detection settings were chosen on the simulator's seeds 1, 2, 7 and 8 and the family's
seeds 1 and 2, none of which is used here (the family's seeds 7 to 10 were scored once, as a
blind check, after the settings were fixed).

docs/detection.md reports these figures and wider runs of the same.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import pytest

from pipeline.core.alerts import AlertKind
from pipeline.core.detection import DetectionConfig
from pipeline.simulation import SimulationConfig, simulate_trust
from pipeline.simulation.family import FamilyConfig
from pipeline.simulation.family_events import simulate_family
from pipeline.simulation.score import replay, score
from pipeline.simulation.score_tally import Score

JUDGED_FROM = DetectionConfig().min_baseline_windows
SIMULATOR_SEEDS = (3, 4, 5, 6)
FAMILY_SEEDS = (3, 4, 5, 6)
ALERTING = tuple(kind for kind in AlertKind if kind is not AlertKind.REPORTING_SILENCE)


def _simulator_score(seed: int) -> Score:
    trust = simulate_trust(SimulationConfig(seed=seed))
    alerts = replay(trust.events)
    return score(trust.truth, trust.units, trust.start, trust.config.weeks, alerts,
                 judged_from=JUDGED_FROM)  # fmt: skip


def _family_score(seed: int) -> Score:
    trust = simulate_family(FamilyConfig(seed=seed))
    alerts = replay(trust.events)
    return score(trust.truth, trust.units, trust.start, trust.weeks, alerts,
                 judged_from=JUDGED_FROM)  # fmt: skip


def _pooled(work: Callable[[int], Score], seeds: tuple[int, ...]) -> Score:
    total = Score()
    with ProcessPoolExecutor(2) as pool:
        for result in pool.map(work, seeds):
            total.add(result)
    return total


@pytest.fixture(scope="module")
def simulator() -> Score:
    return _pooled(_simulator_score, SIMULATOR_SEEDS)


@pytest.fixture(scope="module")
def family() -> Score:
    return _pooled(_family_score, FAMILY_SEEDS)


@pytest.fixture(params=["simulator", "family"])
def pooled(request: pytest.FixtureRequest) -> Score:
    result: Score = request.getfixturevalue(request.param)
    return result


def _episodes(pooled: Score) -> tuple[int, int]:
    kinds = [pooled.kind(kind) for kind in ALERTING]
    return sum(k.detected for k in kinds), sum(k.detectable for k in kinds)


def test_recall_on_the_simulator_is_at_least_95_percent(simulator: Score) -> None:
    detected, detectable = _episodes(simulator)
    assert detectable >= 30
    assert detected / detectable >= 0.95, simulator.missed


def test_recall_on_the_family_holds_its_measured_level(family: Score) -> None:
    """NOT the issue's aim (0.95): measured 46 of 49 (0.939) on seeds 3 to 6, 18 of 19
    silences and 28 of 30 sustained drops of the positive share (docs/detection.md, seventh
    round: the CUSUMs' own z, the level's estimation error left to the limit; 44 of 49 and
    26 of 30 before it, 43 and 25 before the sixth round; the silence missed is 3.1 sd
    short, just past the detectability line). An oracle knowing each unit's true level and
    spread finds 0.99 of such drops at our run length (`bench.oracle_drops`). Split
    (`bench.gap_drops`, fifth round): the discrete tails cost nothing at one run length; the
    estimated level (its error shared by the weeks judged on it) and its lag behind the
    season are the gap. A floor against regression until the aim is met."""
    assert family.overall.detectable >= 45
    assert family.overall.recall is not None and family.overall.recall >= 0.93, family.missed
    drops, detectable = _episodes(family)
    assert detectable >= 25
    assert drops / detectable >= 0.93, family.missed


def test_false_alarms_on_the_family_stay_under_one_per_thousand_quiet_unit_weeks(
    family: Score,
) -> None:
    """Measured 3 in 12,645 quiet unit-weeks (0.024) on seeds 3 to 6, one a silence (4 and
    0.032 before the seventh round, 5 and 0.040 before the sixth)."""
    assert family.quiet_unit_weeks >= 12_000
    assert family.false_alarms_per_100_quiet_unit_weeks <= 0.1, family.false_alarms


def test_false_alarms_on_the_simulator_stay_under_one_per_thousand_quiet_unit_weeks(
    simulator: Score,
) -> None:
    """Measured 2 in 3,397 quiet unit-weeks (0.059) on seeds 3 to 6, one of them a reporting
    silence (4 and 0.118 before the silence's usual level went to 52 windows)."""
    assert simulator.quiet_unit_weeks >= 3000
    assert simulator.false_alarms_per_100_quiet_unit_weeks <= 0.1, simulator.false_alarms


def test_no_decoy_raises_an_alert(pooled: Score) -> None:
    assert pooled.overall.decoys >= 90
    assert pooled.overall.decoy_alerts == 0, pooled.decoy_alerts


def test_median_delay_on_the_simulator_is_at_most_one_window(simulator: Score) -> None:
    assert simulator.overall.median_delay is not None and simulator.overall.median_delay <= 1


def test_median_delay_from_the_week_an_episode_became_evident_is_at_most_one_window(
    family: Score,
) -> None:
    """The family's episodes are sustained shifts no single week shows: delay is counted from
    the week an oracle pooling the episode's weeks could first have seen it."""
    delay = family.overall.median_evident_delay
    assert delay is not None and delay <= 1


def test_median_delay_on_the_family_from_the_start_holds_its_measured_level(
    family: Score,
) -> None:
    """NOT the issue's aim (1 window): measured 2 windows from the start of the episode on
    seeds 3 to 6, p75 4 (3 with the k 0.5 CUSUM before; 0 from the week it became evident).
    Not attainable at this budget: an oracle knowing each unit's true level and spread, with
    our reference at our run length, raises the family's detectable drops a median 2 windows
    from the start, p75 3 (`bench.oracle_drops`); a median of 1 needs the shift's size known
    too, or a third of the whole budget spent on this one measure. A ceiling against
    regression."""
    delay = family.overall.median_delay
    assert delay is not None and delay <= 2
    p75 = family.overall.p75_delay
    assert p75 is not None and p75 <= 4


def test_three_quarters_of_the_simulators_episodes_are_raised_within_a_window(
    simulator: Score,
) -> None:
    """Measured on seeds 3 to 6: median 0, p75 1."""
    p75 = simulator.overall.p75_delay
    assert p75 is not None and p75 <= 1


def test_reporting_silences_are_found_and_false_ones_are_rare(family: Score) -> None:
    """Measured on seeds 3 to 6: 18 of 19 (the one missed 3.1 sd short), median delay 2
    windows, 1 false silence in 12,645 quiet unit-weeks (0.008). The delay is held to its
    measured level. The false silences seen so far (docs/detection.md, fifth round) were
    chance shortfalls of 2.8 to 3.2 sd against the unit's true rate, at the family's own
    detectability line for a silence (3 sd)."""
    silences = family.kind(AlertKind.REPORTING_SILENCE)
    assert silences.detectable >= 12
    assert silences.detected / silences.detectable >= 0.9, family.missed
    assert silences.median_delay is not None and silences.median_delay <= 2
    assert family.kind_false_alarms_per_100((AlertKind.REPORTING_SILENCE,)) <= 0.1


def test_false_silences_on_the_simulator_are_rare(simulator: Score) -> None:
    assert simulator.kind_false_alarms_per_100((AlertKind.REPORTING_SILENCE,)) <= 0.1


def test_order_and_batch_size_change_no_finding() -> None:
    """Through the engine: delivery order and batch size change no alert. (Re-graded incidents
    are left out here: under contract v1 the first version of an id to arrive counts.)"""
    trust = simulate_family(FamilyConfig(seed=9, orgs=2, weeks=44, regraded=0.0))
    in_order = replay(trust.events)
    shuffled = replay(trust.events, batch=997, shuffle_seed=5)

    def key(alerts: list) -> list:  # type: ignore[type-arg]
        return sorted((a.alert_id, a.status, a.window_end, a.severity, a.summary) for a in alerts)

    assert in_order and key(shuffled) == key(in_order)


def test_the_simulators_own_delivery_order_changes_no_finding() -> None:
    config = SimulationConfig(seed=9, orgs=2, units_per_org=4, weeks=40)
    in_order = replay(simulate_trust(config).events, batch=500)
    shuffled = replay(simulate_trust(replace(config, shuffle=True, duplicates=0.05)).events)

    assert in_order and [a.alert_id for a in shuffled] == [a.alert_id for a in in_order]
