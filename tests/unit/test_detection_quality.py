"""Detection quality against simulated ground truth: the issue's acceptance targets.

Four demo-sized trusts (seeds 1 to 4; 3 organisations × 6 units × 64 weeks, about 105,000
events each) are simulated, aggregated into weekly windows exactly as the engine does, judged,
and scored against their truth (`pipeline.simulation.score`). docs/detection.md reports these
figures and a 40-seed run of the same.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.core.alerts import AlertKind
from pipeline.core.detection import Detector
from pipeline.simulation import SimulationConfig, simulate_trust
from pipeline.simulation.score import DetectionScore, detect_trust, score

SEEDS = (1, 2, 3, 4)
DETECTOR = Detector()


@pytest.fixture(scope="module")
def pooled() -> DetectionScore:
    total = DetectionScore()
    for seed in SEEDS:
        trust = simulate_trust(SimulationConfig(seed=seed))
        findings = detect_trust(trust, DETECTOR)
        total.add(score(trust, findings, judged_from=DETECTOR.config.min_baseline_windows))
    return total


def test_recall_on_detectable_episodes_is_at_least_95_percent(pooled: DetectionScore) -> None:
    assert pooled.overall.detectable >= 30
    assert pooled.overall.recall is not None and pooled.overall.recall >= 0.95, pooled.missed


def test_median_detection_delay_is_at_most_one_window(pooled: DetectionScore) -> None:
    assert pooled.overall.median_delay is not None and pooled.overall.median_delay <= 1


def test_false_alarms_stay_under_one_per_thousand_quiet_unit_weeks(pooled: DetectionScore) -> None:
    assert pooled.quiet_unit_weeks >= 3000
    assert pooled.false_alarms_per_100_quiet_unit_weeks <= 0.1, pooled.false_alarms


def test_no_decoy_raises_an_alert(pooled: DetectionScore) -> None:
    assert pooled.overall.decoys >= 40
    assert pooled.overall.decoy_alerts == 0, pooled.decoy_alerts


def test_every_kind_is_planted_and_caught(pooled: DetectionScore) -> None:
    for kind in AlertKind:
        caught = pooled.by_kind[kind.value]
        assert caught.detectable > 0 and caught.detected > 0, kind


def test_delivery_order_and_duplicates_change_no_finding() -> None:
    config = SimulationConfig(seed=9, orgs=2, units_per_org=4, weeks=40)
    in_order = detect_trust(simulate_trust(config), DETECTOR)
    shuffled = detect_trust(
        simulate_trust(replace(config, shuffle=True, duplicates=0.05)), DETECTOR
    )

    assert in_order and shuffled == in_order
