"""When the engine judges a unit, on what, and which judgements a restore can skip.

A unit is judged when one of its windows closes, when a closed window of it changes (a late
event, a retracted revision) or when its alerts are answered; judging a unit judges its whole
organisation (peers are compared). Each judgement leaves a `JudgedMark` per organisation
(judgements.py), which the step stores after the alert versions: a restore judges again only
the organisations whose mark does not match what it restored.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import datetime
from operator import attrgetter
from typing import NamedTuple

from pipeline.core.aggregates import UnitWindowAggregate, UnitWindowState
from pipeline.core.batch import BatchResult
from pipeline.core.board import board_rows
from pipeline.core.detection import DetectionConfig, org_bright_spots
from pipeline.core.judge import AlertBook
from pipeline.core.judgements import JudgedMark, digest, is_current, window_digest
from pipeline.core.verdict_book import VerdictBook
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


class Judging:
    """Shares the engine's units and watermark (the engine changes them; this reads them)."""

    def __init__(
        self,
        book: AlertBook,
        units: dict[UnitKey, dict[Window, UnitWindowState]],
        watermark: Watermark,
        config: str,
        detection: DetectionConfig,
    ) -> None:
        self.book = book
        self._detection = detection
        self._units = units
        self._watermark = watermark
        self._config = config
        self._judged_until: dict[UnitKey, datetime] = {}
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
        """The unit's closed windows in time order: what detection judges."""
        mark = self._watermark.value
        if mark is None:
            return []
        held = self._order(unit)
        states = list(held.windows.values())
        if held.ends == held.sorted_ends:  # the closed windows are the first ones
            closed = held.positions[: bisect_right(held.ends, mark)]
            return [states[i].snapshot() for i in closed]
        return [
            states[i].snapshot()
            for i, end in zip(held.positions, held.ends, strict=True)
            if end <= mark
        ]

    def _closed_until(self, unit: UnitKey) -> datetime | None:
        """The latest end of the unit's closed windows (found by bisection: this runs for
        every unit on every batch)."""
        mark = self._watermark.value
        if mark is None:
            return None
        ends = self._order(unit).sorted_ends
        closed = bisect_right(ends, mark)
        return ends[closed - 1] if closed else None

    def newly_closed(self) -> set[UnitKey]:
        """Units with a window closed since they were last judged."""
        changed: set[UnitKey] = set()
        for unit in self._units:
            until = self._closed_until(unit)
            if until is not None and until != self._judged_until.get(unit):
                changed.add(unit)
        return changed

    def judge(self, units: set[UnitKey], now: datetime, result: BatchResult) -> None:
        """Judge the organisations of `units`: their alert versions, changed verdicts, board
        rows, bright spots and marks go into `result`."""
        if not units:
            return
        for unit in units:
            until = self._closed_until(unit)
            if until is not None:
                self._judged_until[unit] = until
        orgs = {org for org, _ in units}
        series = {unit: self.closed_windows(unit) for unit in self._units if unit[0] in orgs}
        result.verdicts, judged = self._verdicts.judge(series, sorted(orgs)), self._verdicts.of
        result.board = [r for u in sorted(series) for r in board_rows(series[u], judged(u))]
        result.bright_spots = org_bright_spots(series, self._detection)
        result.alerts = self.book.judge(series, units, now)
        stamp = result.alerts[0].detected_at if result.alerts else now
        mark = self._watermark.value
        for org in sorted(orgs):
            members = {unit: s for unit, s in series.items() if unit[0] == org}
            inputs = digest(members, self.book.responses.of_org(org), self._config)
            result.judged.append(JudgedMark(org, mark, inputs, stamp))

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
            if is_current(stored.get(org), members, responses, self._config, mark):
                for unit in members:
                    until = self._closed_until(unit)
                    if until is not None:
                        self._judged_until[unit] = until
            else:
                stale.update(members)
        self.judge(stale, now, result)
