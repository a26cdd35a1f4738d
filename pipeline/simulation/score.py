"""Detection against ground truth: recall, delay, false alarms and decoy alerts.

A finding *matches* a truth record of its kind at its unit when their weeks overlap, allowing
`TOLERANCE_WEEKS` after the record ends (an episode's last bad weeks can be judged a little
later). Then:

- recall: detectable, non-decoy records matched by at least one finding;
- delay: weeks from a matched record's first week to the `detected_in` window of its earliest
  matching finding (0: raised when the first bad week closed);
- decoy alerts: findings matching a decoy record (the aim is none);
- false alarms: findings matching no record at all, per 100 *quiet* unit-weeks: weeks a unit
  is judged (from `judged_from`) that lie outside every record of any kind (and its tolerance).
  Findings during a record that is not detectable, or of another kind than expected, are neither
  rewarded nor counted as false.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate, UnitWindowState
from pipeline.core.detection import Detector, Finding
from pipeline.core.events import Harm, IncidentCategory, TargetMetric
from pipeline.core.windows import Window, WindowKind, window_of, windows_between
from pipeline.simulation.trust import SimulatedTrust, SimulationConfig, TruthEpisode, simulate_trust

TOLERANCE_WEEKS = 2
UnitKey = tuple[str, str]


def aggregate_events(
    events: Iterable[Mapping[str, Any]], kind: WindowKind = WindowKind.WEEK
) -> dict[UnitKey, list[UnitWindowAggregate]]:
    """Each unit's windows in time order, from events in any order (duplicates dropped).

    Feedback and incidents are applied as the engine applies them; target returns go through
    the contract model so that their periods are parsed exactly as in the pipeline.
    """
    units: dict[UnitKey, dict[Window, UnitWindowState]] = {}
    seen: set[str] = set()
    for event in events:
        if event["event_id"] in seen or event["event_type"] == "alert_response":
            continue
        seen.add(event["event_id"])
        windows_of_unit = units.setdefault((event["org_id"], event["unit_id"]), {})
        if event["event_type"] == "target_metric":
            report = TargetMetric.model_validate(event)
            windows = windows_between(report.period_start, report.period_end, kind)
        else:
            windows = [window_of(datetime.fromisoformat(event["occurred_at"]), kind)]
        for window in windows:
            state = windows_of_unit.get(window)
            if state is None:
                state = windows_of_unit[window] = UnitWindowState(
                    event["org_id"], event["unit_id"], window
                )
            if event["event_type"] == "patient_feedback":
                state.add_feedback(event["rating"])
            elif event["event_type"] == "incident_report":
                state.add_incident(Harm(event["harm"]), IncidentCategory(event["category"]))
            else:
                state.add_report(report)
    return {
        key: [states[window].snapshot() for window in sorted(states)]
        for key, states in sorted(units.items())
    }


def detect_trust(trust: SimulatedTrust, detector: Detector) -> list[Finding]:
    """Every finding on the trust's closed weeks (windows after its last week are dropped:
    they hold only the tail of a monthly return)."""
    end = trust.start + timedelta(weeks=trust.config.weeks)
    series = {
        key: [a for a in windows if a.window.end <= end]
        for key, windows in aggregate_events(trust.events).items()
    }
    findings = [f for key in sorted(series) for f in detector.unit_findings(series[key])]
    for org in sorted({org for org, _ in series}):
        members = {unit: windows for (o, unit), windows in series.items() if o == org}
        findings.extend(detector.org_findings(members))
    return findings


@dataclass(slots=True)
class KindScore:
    """Counts for one alert kind (or all kinds together)."""

    detectable: int = 0
    detected: int = 0
    delays: list[int] = field(default_factory=list)
    decoys: int = 0
    decoy_alerts: int = 0
    false_alarms: int = 0
    findings: int = 0

    def add(self, other: KindScore) -> None:
        self.detectable += other.detectable
        self.detected += other.detected
        self.delays.extend(other.delays)
        self.decoys += other.decoys
        self.decoy_alerts += other.decoy_alerts
        self.false_alarms += other.false_alarms
        self.findings += other.findings

    @property
    def recall(self) -> float | None:
        return self.detected / self.detectable if self.detectable else None

    @property
    def median_delay(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None


@dataclass(slots=True)
class DetectionScore:
    """How detection did on one or more simulated trusts; `add` pools another score."""

    overall: KindScore = field(default_factory=KindScore)
    by_kind: dict[str, KindScore] = field(default_factory=dict)
    quiet_unit_weeks: int = 0
    missed: list[TruthEpisode] = field(default_factory=list)
    false_alarms: list[Finding] = field(default_factory=list)
    decoy_alerts: list[Finding] = field(default_factory=list)

    @property
    def false_alarms_per_100_quiet_unit_weeks(self) -> float:
        return 100.0 * self.overall.false_alarms / self.quiet_unit_weeks

    def add(self, other: DetectionScore) -> None:
        self.overall.add(other.overall)
        for kind, score in other.by_kind.items():
            self.by_kind.setdefault(kind, KindScore()).add(score)
        self.quiet_unit_weeks += other.quiet_unit_weeks
        self.missed.extend(other.missed)
        self.false_alarms.extend(other.false_alarms)
        self.decoy_alerts.extend(other.decoy_alerts)

    def summary(self) -> dict[str, Any]:
        """The headline figures, JSON-able."""
        overall = self.overall
        return {
            "detectable_episodes": overall.detectable,
            "recall": overall.recall,
            "median_delay_windows": overall.median_delay,
            "false_alarms": overall.false_alarms,
            "quiet_unit_weeks": self.quiet_unit_weeks,
            "false_alarms_per_100_quiet_unit_weeks": self.false_alarms_per_100_quiet_unit_weeks,
            "decoys": overall.decoys,
            "decoy_alerts": overall.decoy_alerts,
            "by_kind": {
                kind: {"detectable": s.detectable, "recall": s.recall,
                       "median_delay_windows": s.median_delay, "false_alarms": s.false_alarms,
                       "decoys": s.decoys, "decoy_alerts": s.decoy_alerts}
                for kind, s in sorted(self.by_kind.items())
            },
        }  # fmt: skip


def score(
    trust: SimulatedTrust, findings: Sequence[Finding], *, judged_from: int
) -> DetectionScore:
    """Compare `findings` with the trust's truth (see the module docstring)."""
    start = trust.start

    def week(moment: datetime) -> int:
        return (moment - start).days // 7

    spans = [(t, week(t.start), week(t.end) - 1) for t in trust.truth]
    result = DetectionScore()
    matched: set[int] = set()
    for record, first, last in spans:
        kind = result.by_kind.setdefault(record.kind.value, KindScore())
        hits = [
            i for i, f in enumerate(findings)
            if (f.kind, f.org_id, f.unit_id) == (record.kind, record.org_id, record.unit_id)
            and week(f.first_window.start) <= last + TOLERANCE_WEEKS
            and week(f.last_window.start) >= first
        ]  # fmt: skip
        matched.update(hits)
        if record.decoy:
            kind.decoys += 1
            kind.decoy_alerts += len(hits)
            result.decoy_alerts.extend(findings[i] for i in hits)
        elif record.detectable:
            kind.detectable += 1
            if hits:
                kind.detected += 1
                detected = min(week(findings[i].detected_in.start) for i in hits)
                kind.delays.append(max(0, detected - first))
            else:
                result.missed.append(record)
    for i, finding in enumerate(findings):
        kind = result.by_kind.setdefault(finding.kind.value, KindScore())
        kind.findings += 1
        if i not in matched:
            kind.false_alarms += 1
            result.false_alarms.append(finding)
    busy: dict[UnitKey, set[int]] = {}
    for record, first, last in spans:
        busy.setdefault((record.org_id, record.unit_id), set()).update(
            range(first, last + TOLERANCE_WEEKS + 1)
        )
    result.quiet_unit_weeks = sum(
        len(set(range(judged_from, trust.config.weeks)) - busy.get(unit, set()))
        for unit in trust.units
    )
    for kind_score in result.by_kind.values():
        result.overall.add(kind_score)
    return result


def evaluate_seed(seed: int, config: SimulationConfig | None = None) -> DetectionScore:
    """Simulate the trust of `seed` (demo-sized by default), detect with the default detector
    and score against its truth."""
    trust = simulate_trust(replace(config or SimulationConfig(), seed=seed))
    detector = Detector()
    findings = detect_trust(trust, detector)
    return score(trust, findings, judged_from=detector.config.min_baseline_windows)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m pipeline.simulation.score FIRST LAST [--jobs N]`: the pooled score of seeds
    FIRST to LAST as JSON (docs/detection.md quotes seeds 1 to 40)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("first", type=int)
    parser.add_argument("last", type=int)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    total = DetectionScore()
    with ProcessPoolExecutor(args.jobs) as pool:
        for result in pool.map(evaluate_seed, range(args.first, args.last + 1)):
            total.add(result)
    summary = total.summary()
    summary["delays_windows"] = dict(sorted(collections.Counter(total.overall.delays).items()))
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
