"""The verdicts the engine has handed out, and the changes to hand out next.

Every judgement re-reads the closed windows of the organisations it concerns
(`detection.verdicts.org_verdicts`, the same monitors as the alerts). Only verdicts that changed
since the last step are passed on to be stored, each with a `version` that grows with what its
organisation's closed windows hold (events counted plus windows closed), so the stored table
keeps the verdict judged on the most data whatever the order of replays and retries. A window
judged on an early view that late data leaves unjudged (its activity did not hold after all)
is handed out once more as `withdrawn`, so no stale verdict stays in storage.

After a restart the book remembers nothing, yet storage may hold verdicts judged before it. So
the first judgement of an organisation by a book also withdraws every unit, measure and closed
window it does not judge: a verdict stored before the restart that the new judgement no longer
supports is superseded (the restored windows hold at least what it was judged on, since the
step stores windows before verdicts, so the withdrawal's version is at least its own). From then
on the stored rows (latest version per key, withdrawn left out) are exactly the book's latest
judgement of every closed window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.measures import Measure
from pipeline.core.detection.verdicts import (
    INCIDENT_REPORTING,
    ChartKind,
    Verdict,
    VerdictClass,
    org_verdicts,
)

UnitKey = tuple[str, str]
_Key = tuple[str, str, datetime]
MEASURES = (*(m.value for m in Measure), INCIDENT_REPORTING)
"""Every measure a verdict can be about."""
_HIGHER_IS_BETTER = {Measure.POSITIVE_SHARE.value, INCIDENT_REPORTING}
_CHART = {
    Measure.NEGATIVE_SHARE.value: ChartKind.SHARE,
    Measure.POSITIVE_SHARE.value: ChartKind.SHARE,
    Measure.HARMFUL_INCIDENT_RATE.value: ChartKind.RATE,
    INCIDENT_REPORTING: ChartKind.REPORTING,
}


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
            first = org not in self._last
            last = self._last.setdefault(org, {})
            now = {
                (v.unit_id, v.measure, v.window.start): v
                for v in org_verdicts(members, self._config)
            }
            for key, verdict in now.items():
                before = last.get(key)
                # Unchanged windows' verdicts come back as the very objects handed out before
                # (`detection.resume`): identity first spares comparing their fields.
                if before is not verdict and before != verdict:
                    last[key] = verdict
                    changed.append(VerdictRow(verdict, version))
            by_unit: dict[str, dict[tuple[str, datetime], Verdict]] = {u: {} for u in members}
            for (unit, measure, start), verdict in now.items():
                by_unit[unit][(measure, start)] = verdict
            for unit, verdicts in by_unit.items():
                self._by_unit[(org, unit)] = verdicts
            if first:  # what storage may hold from before: every closed window not judged now
                for unit, windows in members.items():
                    for aggregate in windows:
                        for measure in MEASURES:
                            key = (unit, measure, aggregate.window.start)
                            if key not in now:
                                last[key] = _unknown(org, unit, measure, aggregate)
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


def _unknown(org: str, unit: str, measure: str, aggregate: UnitWindowAggregate) -> Verdict:
    """A window of a measure whose stored verdict, if any, this book does not know: it is
    handed out as withdrawn, with no figures (NaN: it was not judged)."""
    return Verdict(
        org_id=org,
        unit_id=unit,
        measure=measure,
        window=aggregate.window,
        value=math.nan,
        count=0,
        size=0.0,
        centre=math.nan,
        lower_limit=math.nan,
        upper_limit=None,
        z=math.nan,
        rule="",
        detector="",
        verdict=VerdictClass.COMMON_CAUSE,  # not withdrawn yet: the judgement hands that out
        chart=_CHART[measure],
        higher_is_better=measure in _HIGHER_IS_BETTER,
    )
