"""The tallies of a detection score (pipeline/simulation/score.py says what is matched and
counted): per alert kind (`KindScore`) and overall (`Score`), and what scoring reads of an alert
(`Scored`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.core.alerts import Alert, AlertKind
from pipeline.simulation.trust import TruthEpisode


@dataclass(frozen=True, slots=True)
class Scored:
    """What scoring reads of an alert: its kind, unit and weeks."""

    kind: AlertKind
    org_id: str
    unit_id: str
    first: datetime
    last: datetime
    detected_in: datetime
    summary: str

    @classmethod
    def of(cls, alert: Alert) -> Scored:
        episode = alert.evidence["episode"]
        return cls(
            alert.kind, alert.org_id, alert.unit_id, alert.window_start,
            datetime.fromisoformat(episode["last_window"]),
            datetime.fromisoformat(episode["detected_in_window"]), alert.summary,
        )  # fmt: skip


@dataclass(slots=True)
class KindScore:
    """Counts for one alert kind (or all kinds together)."""

    detectable: int = 0
    detected: int = 0
    delays: list[int] = field(default_factory=list)
    evident_delays: list[int] = field(default_factory=list)
    decoys: int = 0
    decoy_alerts: int = 0
    false_alarms: int = 0
    findings: int = 0

    def add(self, other: KindScore) -> None:
        self.detectable += other.detectable
        self.detected += other.detected
        self.delays.extend(other.delays)
        self.evident_delays.extend(other.evident_delays)
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

    @property
    def p75_delay(self) -> float | None:
        """The delay three quarters of the detected episodes were raised within (nearest rank)."""
        if not self.delays:
            return None
        ordered = sorted(self.delays)
        return ordered[math.ceil(0.75 * len(ordered)) - 1]

    @property
    def median_evident_delay(self) -> float | None:
        """Median delay counted from the week the episode became evident (see
        `TruthEpisode.evident`), else from its start."""
        return statistics.median(self.evident_delays) if self.evident_delays else None


@dataclass(slots=True)
class Score:
    """How detection did on one or more trusts; `add` pools another score."""

    overall: KindScore = field(default_factory=KindScore)
    by_kind: dict[str, KindScore] = field(default_factory=dict)
    quiet_unit_weeks: int = 0
    missed: list[TruthEpisode] = field(default_factory=list)
    false_alarms: list[Scored] = field(default_factory=list)
    decoy_alerts: list[Scored] = field(default_factory=list)

    @property
    def false_alarms_per_100_quiet_unit_weeks(self) -> float:
        return 100.0 * self.overall.false_alarms / self.quiet_unit_weeks

    def kind(self, kind: AlertKind) -> KindScore:
        return self.by_kind.get(kind.value, KindScore())

    def kind_false_alarms_per_100(self, kinds: Iterable[AlertKind]) -> float:
        count = sum(self.kind(kind).false_alarms for kind in kinds)
        return 100.0 * count / self.quiet_unit_weeks

    def add(self, other: Score) -> None:
        self.overall.add(other.overall)
        for kind, kind_score in other.by_kind.items():
            self.by_kind.setdefault(kind, KindScore()).add(kind_score)
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
            "p75_delay_windows": overall.p75_delay,
            "median_delay_from_evident_windows": overall.median_evident_delay,
            "false_alarms": overall.false_alarms,
            "quiet_unit_weeks": self.quiet_unit_weeks,
            "false_alarms_per_100_quiet_unit_weeks": self.false_alarms_per_100_quiet_unit_weeks,
            "decoys": overall.decoys,
            "decoy_alerts": overall.decoy_alerts,
            "by_kind": {
                kind: {"detectable": s.detectable, "detected": s.detected, "recall": s.recall,
                       "median_delay_windows": s.median_delay, "p75_delay_windows": s.p75_delay,
                       "false_alarms": s.false_alarms,
                       "decoys": s.decoys, "decoy_alerts": s.decoy_alerts}
                for kind, s in sorted(self.by_kind.items())
            },
        }  # fmt: skip
