"""What every importer of NHS England's published statistics shares: reading a CSV, knowing
its layout by its header, reading the month a row is about, and deterministic event ids.

An importer is an adapter: it reads files and yields contract events as JSON-ready dicts. Each
event's id is a UUID 5 of the source row's identity (publication, organisation, unit, month,
metric), so importing the same file again gives the same ids and the pipeline counts nothing
twice; a revised publication for the same month gets the same id too (the first one stored
wins), which the importer says in its summary. Each reader counts in a `Tally` what it skipped or
adjusted, by reason (a reason names no cell's content).
"""

from __future__ import annotations

import csv
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.core.events import SCHEMA_VERSION
from pipeline.errors import InputError, LayoutError

Tally = Counter[str]
"""Rows or figures an import skipped or adjusted, counted by reason."""
NO_ORG_CODE = "rows without an organisation code (blank: a total or note row)"
NOT_ORG_CODE = (
    "rows whose Org Code is not an ODS code in capitals, ^[A-Z0-9]{3,10}$ "
    "(England or regional totals; a code in lower case)"
)
NAMESPACE = uuid.UUID("6f1c9d1e-1b7a-5c55-9a53-4a7e2d0c6a15")
"""The namespace of imported event ids (a fixed random UUID: never change it)."""
ORG_PATTERN = re.compile(r"^[A-Z0-9]{3,10}$")
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_SUPPRESSED = frozenset({"-", "*", ".", "NA", "N/A", "n/a"})
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?")
_NAMED_MONTH = re.compile(r"([A-Za-z]+)[\s_-]*(\d{4}|\d{2})\b")


@dataclass(frozen=True, slots=True)
class Layout:
    """One published layout: its name and the columns it needs (as published, any case)."""

    name: str
    required: tuple[str, ...]

    def matches(self, header: Sequence[str]) -> bool:
        have = {normalise(h) for h in header}
        return all(normalise(c) in have for c in self.required)


def normalise(column: str) -> str:
    """A column name compared without case, spaces or punctuation ("Org Code" = "org_code")."""
    return re.sub(r"[^a-z0-9]", "", column.lower())


def read_rows(path: Path, layouts: Sequence[Layout], kind: str) -> tuple[Layout, Iterator[Row]]:
    """The layout `path` is in, and its rows. Raises `LayoutError` naming the columns each
    layout needs when the header fits none."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    reader = csv.reader(handle)
    header = next(reader, [])
    for layout in layouts:
        if layout.matches(header):
            return layout, _rows(handle, reader, header, path)
    handle.close()
    expected = "; or ".join(f"{layout.name}: {', '.join(layout.required)}" for layout in layouts)
    shown = ", ".join(header[:12]) + (", …" if len(header) > 12 else "")
    raise LayoutError(
        f"{path}: not a {kind} layout this importer knows (columns: {shown or 'none'}). "
        f"Expected the columns of {expected}"
    )


@dataclass(frozen=True, slots=True)
class Row:
    """One data row, its cells by normalised column name, and where it came from."""

    cells: Mapping[str, str]
    where: str

    def text(self, column: str) -> str:
        return self.cells.get(normalise(column), "").strip()

    def number(self, column: str) -> float | None:
        """The cell as a number; None when blank or suppressed ("-", "*", ".")."""
        text = self.text(column).replace(",", "")
        if not text or text in _SUPPRESSED:
            return None
        try:
            return float(text)
        except ValueError as exc:
            raise InputError(f"{self.where}: {column} is not a number: {text[:20]!r}") from exc

    def suppressed(self, columns: Iterable[str]) -> bool:
        """True when a cell of `columns` is marked suppressed (not merely blank)."""
        return any(self.text(column) in _SUPPRESSED for column in columns)

    def count(self, column: str) -> int:
        """The cell as a whole count (blank and suppressed cells count 0)."""
        value = self.number(column)
        if value is None:
            return 0
        if value < 0 or value != int(value):
            raise InputError(f"{self.where}: {column} is not a count: {value!r}")
        return int(value)


def _rows(handle: Any, reader: Any, header: list[str], path: Path) -> Iterator[Row]:
    names = [normalise(h) for h in header]
    with handle:
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            yield Row(dict(zip(names, cells, strict=False)), f"{path.name}:{line}")


def organisation(row: Row, column: str, tally: Tally) -> str | None:
    """The row's organisation code, or None (counted in `tally`) for a row that names none."""
    code = row.text(column)
    if ORG_PATTERN.fullmatch(code):
        return code
    tally[NOT_ORG_CODE if code else NO_ORG_CODE] += 1
    return None


def month_start(text: str, where: str) -> datetime:
    """The first instant (UTC) of the month a period cell names: "2024-08-01", "2024-08",
    "Aug-24", "August 2024", "MSitAE-AUGUST-2024"."""
    iso = _ISO_DATE.match(text.strip())
    if iso:
        return datetime(int(iso.group(1)), int(iso.group(2)), 1, tzinfo=UTC)
    for match in _NAMED_MONTH.finditer(text):
        month = _MONTHS.get(match.group(1).lower())
        if month is not None:
            year = int(match.group(2))
            return datetime(year + 2000 if year < 100 else year, month, 1, tzinfo=UTC)
    raise InputError(f"{where}: cannot tell the month from {text[:40]!r}")


def year_month(year: str, month: str, where: str) -> datetime:
    """The first instant (UTC) of a month given as a year and a month number or name."""
    try:
        number = int(month) if month.strip().isdigit() else _MONTHS[month.strip().lower()]
        return datetime(int(year), number, 1, tzinfo=UTC)
    except (KeyError, ValueError) as exc:
        raise InputError(f"{where}: cannot tell the month from {year!r}, {month!r}") from exc


def next_month(start: datetime) -> datetime:
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def event_id(publication: str, *identity: str) -> str:
    """The deterministic id of the event a source row gives."""
    return str(uuid.uuid5(NAMESPACE, "/".join((publication, *identity))))


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def base_event(
    event_type: str, publication: str, org_id: str, unit_id: str, at: datetime, *identity: str
) -> dict[str, Any]:
    """The common fields; `at` is the event time (the end of the period a row reports)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "event_type": event_type,
        "event_id": event_id(publication, org_id, unit_id, *identity),
        "org_id": org_id,
        "unit_id": unit_id,
        "occurred_at": timestamp(at),
        "source": f"nhse-{publication}",
    }
