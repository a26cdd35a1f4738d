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
from pipeline.core.arrivals import reports_arrived
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.measures import Measure
from pipeline.core.detection.resume import common_length
from pipeline.core.detection.verdicts import (
    INCIDENT_REPORTING,
    ChartKind,
    Verdict,
    VerdictClass,
    org_verdict_columns,
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


@dataclass(slots=True)
class OrgVerdicts:
    """One organisation's judgement by a `VerdictBook`, not yet kept (`VerdictBook.keep`)."""

    org: str
    rows: list[VerdictRow]
    """The changed verdicts, to store once kept."""
    members: Mapping[str, Sequence[UnitWindowAggregate]] | None
    """The closed windows judged (None: the same as last time, nothing to keep)."""
    columns: dict[str, list[list[Verdict | None]]]
    last: dict[_Key, Verdict]
    """The verdicts handed out now (on a first judgement: every one the book is to hold)."""
    shown: dict[str, dict[tuple[str, datetime], Verdict]]
    """Each unit's verdicts as judged now, by (measure, window start)."""
    _held: Mapping[UnitKey, dict[tuple[str, datetime], Verdict]]

    def of(self, unit_id: str) -> dict[tuple[str, datetime], Verdict]:
        """The unit's verdicts as this judgement leaves them (`VerdictBook.of`, once kept)."""
        if unit_id in self.shown:
            return self.shown[unit_id]
        return self._held.get((self.org, unit_id), {})


class VerdictBook:
    """Remembers the last verdict handed out per unit, measure and window."""

    def __init__(self, config: DetectionConfig) -> None:
        self._config = config
        self._last: dict[str, dict[_Key, Verdict]] = {}  # by organisation
        self._by_unit: dict[UnitKey, dict[tuple[str, datetime], Verdict]] = {}
        # What each organisation's verdicts were last judged on (frozen snapshots, compared by
        # identity first), with how many of each unit's windows its incident reports had
        # passed (arrivals.py): the same closed windows so covered give the same verdicts.
        self._judged_on: dict[
            str, tuple[Mapping[str, Sequence[UnitWindowAggregate]], dict[str, int]]
        ] = {}
        # The verdict columns each organisation was last judged to (`org_verdict_columns`).
        self._columns: dict[str, dict[str, list[list[Verdict | None]]]] = {}

    def judge(
        self, series: Mapping[UnitKey, Sequence[UnitWindowAggregate]], orgs: Sequence[str]
    ) -> list[VerdictRow]:
        """The changed verdicts of every unit of `orgs` (`series`: closed windows per unit),
        kept at once (`judge_org` then `keep` for each organisation)."""
        changed: list[VerdictRow] = []
        for org in sorted(orgs):
            judged = self.judge_org(org, {u: s for (o, u), s in series.items() if o == org})
            self.keep(judged)
            changed.extend(judged.rows)
        return changed

    def judge_org(
        self, org: str, members: Mapping[str, Sequence[UnitWindowAggregate]]
    ) -> OrgVerdicts:
        """The organisation's changed verdicts (`members`: each unit's closed windows), with
        what the book would remember of them: nothing changes in the book until `keep`, so a
        judgement that raises leaves the book as it was."""
        if self._judged_on.get(org) == (members, _arrived(members)):
            # nothing new in its closed windows (e.g. only an alert response)
            return OrgVerdicts(org, [], None, {}, {}, {}, self._by_unit)
        version = sum(a.contributions + 1 for s in members.values() for a in s)
        columns = org_verdict_columns(members, self._config)
        judged = OrgVerdicts(org, [], members, columns, {}, {}, self._by_unit)
        if org in self._columns:
            self._since(judged, version)
        else:
            self._first(judged, members, version)
        return judged

    def keep(self, judged: OrgVerdicts) -> None:
        """Remember `judged` (from `judge_org`, the book unchanged since): its rows are then
        handed out."""
        if judged.members is None:
            return
        org = judged.org
        self._judged_on[org] = (judged.members, _arrived(judged.members))
        self._columns[org] = judged.columns
        self._last.setdefault(org, {}).update(judged.last)
        for unit, shown in judged.shown.items():
            self._by_unit[(org, unit)] = shown

    def _first(
        self,
        judged: OrgVerdicts,
        members: Mapping[str, Sequence[UnitWindowAggregate]],
        version: int,
    ) -> None:
        """The organisation's first judgement by this book: every verdict is handed out, and
        every closed window not judged now is withdrawn (storage may hold it from before)."""
        org, changed = judged.org, judged.rows
        last = judged.last = dict(self._last.get(org, {}))
        columns = judged.columns
        now = {_key(v): v for cs in columns.values() for c in cs for v in c if v is not None}
        for key, verdict in now.items():
            if last.get(key) != verdict:
                last[key] = verdict
                changed.append(VerdictRow(verdict, version))
        for unit in members:
            judged.shown[unit] = {}
        for (unit, measure, start), verdict in now.items():
            judged.shown[unit][(measure, start)] = verdict
        for unit, windows in members.items():
            for aggregate in windows:
                for measure in MEASURES:
                    key = (unit, measure, aggregate.window.start)
                    if key not in now:
                        last[key] = _unknown(org, unit, measure, aggregate)
        for key, verdict in last.items():
            if key not in now and verdict.verdict is not VerdictClass.WITHDRAWN:
                last[key] = _withdrawn(verdict)
                changed.append(VerdictRow(last[key], version))

    def _since(self, judged: OrgVerdicts, version: int) -> None:
        """Every judgement after the first: only each column's part from its first changed
        window on is read (the verdicts before it are those handed out last time, and every
        verdict not judged then was withdrawn then), so the cost is what changed. The book's
        own maps are only read: a column holds one measure, so no key read here was set here
        (what changes goes into `judged`)."""
        org, columns, changed = judged.org, judged.columns, judged.rows
        last, updates = self._last[org], judged.last
        before = self._columns[org]
        withdrawn: list[VerdictRow] = []
        for unit in sorted(set(columns) | set(before)):
            new_columns, old_columns = columns.get(unit, []), before.get(unit, [])
            held = self._by_unit.get((org, unit), {})
            shown = held
            for i in range(max(len(new_columns), len(old_columns))):
                new = new_columns[i] if i < len(new_columns) else []
                old = old_columns[i] if i < len(old_columns) else []
                same = common_length(old, new)
                if shown is held and (same < len(old) or same < len(new)):
                    shown = dict(held)  # the book's own is left as it is until `keep`
                gone = {_key(v): v for v in old[same:] if v is not None}
                for verdict in old[same:]:
                    if verdict is not None:
                        del shown[(verdict.measure, verdict.window.start)]
                for verdict in new[same:]:
                    if verdict is None:
                        continue
                    key = _key(verdict)
                    gone.pop(key, None)
                    kept = last.get(key)
                    if kept is not verdict and kept != verdict:
                        updates[key] = verdict
                        changed.append(VerdictRow(verdict, version))
                    shown[(verdict.measure, verdict.window.start)] = verdict
                for key in gone:
                    if last[key].verdict is not VerdictClass.WITHDRAWN:
                        updates[key] = _withdrawn(last[key])
                        withdrawn.append(VerdictRow(updates[key], version))
            judged.shown[unit] = shown
        changed.extend(withdrawn)

    def of(self, unit: UnitKey) -> dict[tuple[str, datetime], Verdict]:
        """The unit's verdicts as last judged, by (measure, window start)."""
        return self._by_unit.get(unit, {})


def _key(verdict: Verdict) -> _Key:
    return verdict.unit_id, verdict.measure, verdict.window.start


def _withdrawn(verdict: Verdict) -> Verdict:
    return replace(verdict, verdict=VerdictClass.WITHDRAWN, rule="", detector="")


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


def _arrived(members: Mapping[str, Sequence[UnitWindowAggregate]]) -> dict[str, int]:
    return {unit: reports_arrived(series) for unit, series in members.items()}
