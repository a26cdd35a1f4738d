"""When the engine judges a unit, on what, and which judgements a restore can skip.

A unit is judged when one of its windows closes, when a closed window of it changes (a late
event, a retracted revision) or when its alerts are answered; judging a unit judges its whole
organisation (peers are compared). Each judgement leaves a `JudgedMark` per organisation
(judgements.py), which the step stores after the alert versions: a restore judges again only
the organisations whose mark does not match what it restored.

Each organisation is judged apart, everything worked out before anything is kept (the alert
and verdict books' `judge_org`, then `keep`), so one whose judgement raises (a bug, a numerical
corner) leaves no trace but a `JudgingFailure` in the result, and the others go on.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import datetime
from operator import attrgetter
from typing import NamedTuple

from pipeline.core.aggregates import UnitWindowAggregate, UnitWindowState
from pipeline.core.arrivals import ClosedWindows, ReportArrivals
from pipeline.core.batch import BatchResult, JudgingFailure
from pipeline.core.board import BoardRow, unit_board
from pipeline.core.detection import DetectionConfig, org_bright_spots
from pipeline.core.detection.bright import BrightSpot
from pipeline.core.judge import AlertBook, OrgAlerts, alert_order
from pipeline.core.judgements import JudgedMark, digest, is_current, window_digest
from pipeline.core.verdict_book import OrgVerdicts, VerdictBook
from pipeline.core.windows import Watermark, Window

UnitKey = tuple[str, str]
_ORDER = attrgetter("start", "end")
"""Windows' own order (start, then end), read at C speed."""


class _Ordered(NamedTuple):
    """A unit's windows (the engine's dict, and how many it held) in time order: their
    positions in the dict, their ends in that order, and the ends sorted."""

    windows: dict[Window, UnitWindowState]
    size: int
    positions: list[int]
    ends: list[datetime]
    sorted_ends: list[datetime]


class _OrgJudgement(NamedTuple):
    """One organisation's judgement, not yet kept."""

    org: str
    verdicts: OrgVerdicts
    board: list[BoardRow]
    targets: list[BoardRow]
    bright_spots: list[BrightSpot]
    alerts: OrgAlerts
    inputs: str
    """The digest of what it was judged on (its `JudgedMark`)."""


class Judging:
    """Shares the engine's units and watermark (the engine changes them; this reads them)."""

    def __init__(
        self,
        book: AlertBook,
        units: dict[UnitKey, dict[Window, UnitWindowState]],
        watermark: Watermark,
        config: str,
        detection: DetectionConfig,
        arrivals: ReportArrivals,
    ) -> None:
        self.book = book
        self._arrivals = arrivals
        self._detection = detection
        self._units = units
        self._watermark = watermark
        self._config = config
        # The latest closed window end each unit was judged on, or its organisation failed to
        # be (a failed one is not judged again, and failing again, on every batch: only once
        # something changes).
        self._judged_until: dict[UnitKey, datetime] = {}
        # Per unit: the latest end of the closed windows its incident reports had passed when
        # it was last judged (arrivals.py); a unit is judged again when they pass another.
        self._reports_passed: dict[UnitKey, datetime | None] = {}
        self._verdicts = VerdictBook(detection)
        self._ordered: dict[UnitKey, _Ordered] = {}

    def _order(self, unit: UnitKey) -> _Ordered:
        """The unit's windows in time order, sorted again only when windows were added (the
        engine only ever adds windows to a unit, never removes)."""
        windows = self._units[unit]
        held = self._ordered.get(unit)
        if held is None or held.windows is not windows or held.size != len(windows):
            keys = list(windows)
            # Positions in the dict's insertion order (which adding keeps): the states are
            # then read by index, without hashing a window.
            positions = sorted(range(len(keys)), key=list(map(_ORDER, keys)).__getitem__)
            ends = [keys[i].end for i in positions]
            held = _Ordered(windows, len(windows), positions, ends, sorted(ends))
            self._ordered[unit] = held
        return held

    def closed_windows(self, unit: UnitKey) -> list[UnitWindowAggregate]:
        """The unit's closed windows in time order: what detection judges (a `ClosedWindows`,
        which says how many of them its organisation's incident reports have passed)."""
        mark = self._watermark.value
        if mark is None:
            return []
        held = self._order(unit)
        states = list(held.windows.values())
        if held.ends == held.sorted_ends:  # the closed windows are the first ones
            closed = held.positions[: bisect_right(held.ends, mark)]
            ends = held.ends[: len(closed)]
        else:
            closed = [i for i, end in zip(held.positions, held.ends, strict=True) if end <= mark]
            ends = sorted(end for end in held.ends if end <= mark)
        cover = self._arrivals.cover(unit[0], self._watermark)
        reports_in = len(closed) if cover is None else bisect_right(ends, cover)
        return ClosedWindows([states[i].snapshot() for i in closed], reports_in)

    def _closed_until(self, unit: UnitKey) -> datetime | None:
        """The latest end of the unit's closed windows (found by bisection: this runs for
        every unit on every batch)."""
        mark = self._watermark.value
        if mark is None:
            return None
        ends = self._order(unit).sorted_ends
        closed = bisect_right(ends, mark)
        return ends[closed - 1] if closed else None

    def _passed(
        self, unit: UnitKey, until: datetime | None, cover: datetime | None
    ) -> datetime | None:
        """The latest end of the unit's closed windows (those ending by `until`) that its
        incident reports have passed (`cover`: `ReportArrivals.cover`)."""
        if until is None or cover is None or cover >= until:
            return until
        ends = self._order(unit).sorted_ends
        passed = bisect_right(ends, cover)
        return ends[passed - 1] if passed else None

    def newly_closed(self) -> set[UnitKey]:
        """Units with a window closed since they were last judged (or last failed to be), or
        one their incident reports have passed since (arrivals.py)."""
        changed: set[UnitKey] = set()
        judged, passed = self._judged_until, self._reports_passed
        covers: dict[str, datetime | None] = {}
        for unit in self._units:
            until = self._closed_until(unit)
            if until is not None and until != judged.get(unit):
                changed.add(unit)
            elif unit in passed:
                cover = self._cover(unit[0], covers)
                if self._passed(unit, until, cover) != passed[unit]:
                    changed.add(unit)
        return changed

    def _cover(self, org: str, covers: dict[str, datetime | None]) -> datetime | None:
        """`ReportArrivals.cover` of `org`, asked once per call that passes `covers`."""
        if org not in covers:
            covers[org] = self._arrivals.cover(org, self._watermark)
        return covers[org]

    def _untils(self, units: list[UnitKey]) -> list[tuple[UnitKey, datetime, datetime | None]]:
        """Each unit's latest closed window end and of those its reports passed (units with
        a closed window)."""
        out: list[tuple[UnitKey, datetime, datetime | None]] = []
        covers: dict[str, datetime | None] = {}
        for unit in units:
            until = self._closed_until(unit)
            if until is not None:
                cover = self._cover(unit[0], covers)
                out.append((unit, until, self._passed(unit, until, cover)))
        return out

    def judge(self, units: set[UnitKey], now: datetime, result: BatchResult) -> None:
        """Judge the organisations of `units`: their alert versions, changed verdicts, board
        rows (and every target's), bright spots and marks go into `result`.

        Each organisation is judged apart and kept only whole: one whose judgement raises
        leaves the books and marks as if it had not been judged, adds nothing to `result`
        but a `JudgingFailure`, and is judged again when its windows next change (or its
        alerts are answered), and at a restore (no mark of it was stored)."""
        if not units:
            return
        triggers: dict[str, list[UnitKey]] = {}
        for unit in units:
            triggers.setdefault(unit[0], []).append(unit)
        members: dict[str, list[UnitKey]] = {org: [] for org in triggers}
        for unit in self._units:
            if unit[0] in members:
                members[unit[0]].append(unit)
        stamp = self.book.next_stamp(now)
        kept: list[_OrgJudgement] = []
        for org in sorted(triggers):
            untils: list[tuple[UnitKey, datetime, datetime | None]] = []
            try:
                untils = self._untils(members[org])
                judged = self._judge_org(org, members[org], triggers[org], stamp)
            except Exception as exc:  # whatever the cause, the other organisations go on
                result.judging_failures.append(JudgingFailure(org, type(exc).__name__))
                self._mark_judged(untils)
                continue
            self._keep(judged, untils)
            kept.append(judged)
        result.verdicts = [row for j in kept for row in j.verdicts.rows]
        result.board = [row for j in kept for row in j.board]
        result.targets = [row for j in kept for row in j.targets]
        result.bright_spots = [spot for j in kept for spot in j.bright_spots]
        result.alerts = sorted((a for j in kept for a in j.alerts.changes), key=alert_order)
        judged_at = stamp if result.alerts else now
        mark = self._watermark.value
        result.judged.extend(JudgedMark(j.org, mark, j.inputs, judged_at) for j in kept)

    def _judge_org(
        self, org: str, members: list[UnitKey], triggers: list[UnitKey], stamp: datetime
    ) -> _OrgJudgement:
        """One organisation's judgement (`members`: its units), nothing kept yet."""
        series = {unit: self.closed_windows(unit) for unit in members}
        by_unit = {unit_id: s for (_, unit_id), s in series.items()}
        verdicts = self._verdicts.judge_org(org, by_unit)
        data_end = self._arrivals.data_end(org)
        boards = [unit_board(series[u], verdicts.of(u[1]), data_end) for u in sorted(series)]
        board = [row for b in boards for row in b.rows]
        targets = [row for b in boards for row in b.targets]
        bright = org_bright_spots(series, self._detection)
        alerts = self.book.judge_org(org, by_unit, {unit_id for _, unit_id in triggers}, stamp)
        inputs = digest(series, self.book.responses.of_org(org), self._inputs_config(org))
        return _OrgJudgement(org, verdicts, board, targets, bright, alerts, inputs)

    def _keep(
        self, judged: _OrgJudgement, untils: list[tuple[UnitKey, datetime, datetime | None]]
    ) -> None:
        """Only assignments: keeping a judgement cannot fail half way. `untils`: each unit's
        latest closed window end, and of those its reports had passed (`_untils`)."""
        self._verdicts.keep(judged.verdicts)
        self.book.keep(judged.alerts)
        self._mark_judged(untils)

    def _mark_judged(self, untils: list[tuple[UnitKey, datetime, datetime | None]]) -> None:
        for unit, until, passed in untils:
            self._judged_until[unit] = until
            self._reports_passed[unit] = passed

    def _inputs_config(self, org: str) -> str:
        """The configuration part of an organisation's judgement digest: with how far its
        incident reports have arrived by its windows, so a restore that places them otherwise
        judges again (a judgement the reports still arriving deferred counts as judged: the
        organisation is judged again when its next window closes)."""
        cover = self._arrivals.cover(org, self._watermark, arriving=False)
        return f"{self._config}|{cover}"

    def restore(
        self,
        orgs: set[str],
        marks: Iterable[JudgedMark],
        now: datetime,
        result: BatchResult,
        digests: Mapping[tuple[UnitKey, Window], bytes] | None = None,
    ) -> None:
        """After restoring `orgs`: judge those whose stored mark does not cover what was
        restored (their alerts may not all be stored); the others count as judged, and are
        judged again when their windows change (as are organisations held before).
        `digests`: windows' `window_digest`s as stored with them (the others are computed)."""
        stored = {m.org_id: m for m in marks}
        known = digests or {}
        by_org: dict[str, dict[UnitKey, list[tuple[Window, bytes]]]] = {}
        for unit, windows in self._units.items():
            if unit[0] in orgs:
                by_org.setdefault(unit[0], {})[unit] = [
                    (w, known.get((unit, w)) or window_digest(windows[w].snapshot()))
                    for w in sorted(windows, key=_ORDER)
                ]
        stale: set[UnitKey] = set()
        for org, members in by_org.items():
            responses = self.book.responses.of_org(org)
            mark = self._watermark.value
            config = self._inputs_config(org)
            if is_current(stored.get(org), members, responses, config, mark):
                self._mark_judged(self._untils(list(members)))
            else:
                stale.update(members)
        self.judge(stale, now, result)
