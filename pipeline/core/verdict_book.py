"""The verdicts the engine has handed out, and the changes to hand out next.

Every judgement re-reads the closed windows of the organisations it concerns
(`detection.verdicts.org_verdicts`, the same monitors as the alerts). Only verdicts that changed
since the last step are passed on to be stored, each with a `version` that grows with what its
organisation's closed windows hold (events counted plus windows closed), so the stored table
keeps the verdict judged on the most data whatever the order of replays and retries. A window
judged on an early view that late data leaves unjudged (its activity did not hold after all)
is handed out once more as `withdrawn`, so no stale verdict stays in storage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.verdicts import Verdict, VerdictClass, org_verdicts

UnitKey = tuple[str, str]
_Key = tuple[str, str, datetime]


@dataclass(frozen=True, slots=True)
class VerdictRow:
    """A verdict to store, with the version that orders it among stored versions."""

    verdict: Verdict
    version: int


class VerdictBook:
    """Remembers the last verdict handed out per unit, measure and window."""

    def __init__(self, config: DetectionConfig) -> None:
        self._config = config
        self._last: dict[str, dict[_Key, Verdict]] = {}  # by organisation
        self._by_unit: dict[UnitKey, dict[tuple[str, datetime], Verdict]] = {}
        # What each organisation's verdicts were last judged on (frozen snapshots, compared by
        # identity first): the same closed windows give the same verdicts.
        self._judged_on: dict[str, dict[str, Sequence[UnitWindowAggregate]]] = {}

    def judge(
        self, series: Mapping[UnitKey, Sequence[UnitWindowAggregate]], orgs: Sequence[str]
    ) -> list[VerdictRow]:
        """The changed verdicts of every unit of `orgs` (`series`: closed windows per unit)."""
        changed: list[VerdictRow] = []
        for org in sorted(orgs):
            members = {u: s for (o, u), s in series.items() if o == org}
            version = sum(a.contributions + 1 for s in members.values() for a in s)
            if self._judged_on.get(org) == members:
                continue  # nothing new in its closed windows (e.g. only an alert response)
            self._judged_on[org] = members
            last = self._last.setdefault(org, {})
            now = {
                (v.unit_id, v.measure, v.window.start): v
                for v in org_verdicts(members, self._config)
            }
            for key, verdict in now.items():
                if last.get(key) != verdict:
                    last[key] = verdict
                    changed.append(VerdictRow(verdict, version))
            for unit in members:
                self._by_unit[(org, unit)] = {}
            for (unit, measure, start), verdict in now.items():
                self._by_unit[(org, unit)][(measure, start)] = verdict
            for key, verdict in last.items():
                if key not in now and verdict.verdict is not VerdictClass.WITHDRAWN:
                    last[key] = replace(
                        verdict, verdict=VerdictClass.WITHDRAWN, rule="", detector=""
                    )
                    changed.append(VerdictRow(last[key], version))
        return changed

    def of(self, unit: UnitKey) -> dict[tuple[str, datetime], Verdict]:
        """The unit's verdicts as last judged, by (measure, window start)."""
        return self._by_unit.get(unit, {})
