"""`ae-monthly`: NHS England's "A&E Attendances and Emergency Admissions" monthly provider CSV.

Two layouts are read:

- the current published one (one row per provider and month; a column per department type for
  attendances and for attendances over 4 hours, booked appointments apart), as in
  `ae_monthly_by_provider_2024-08_to_2025-07.csv`;
- the older long one (`period, org_code, type, attendances, breaches`: one row per provider,
  month and department type), as in the NHSRdatasets `ae_attendances` table.

Each provider-month becomes one `target_metric` `ae_4h` for the unit `ae` (all its A&E
departments, booked appointments included, as the published "all types" 4-hour figure):
numerator = attendances within 4 hours, denominator = attendances, target the standard in force
for the month: 95% to March 2023, 76% for 2023-24, 78% from April 2024 (or `target` if given).
A provider-month with no attendances gives no event (a share of nothing is not a figure); one
whose attendances over 4 hours exceed its attendances (an error in the source) is read with them
equal; a suppressed figure (`*`, `-`) is read as 0. Each is counted in the import's summary.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.adapters.publications.common import (
    Layout,
    Row,
    Tally,
    base_event,
    month_start,
    next_month,
    organisation,
    read_rows,
    timestamp,
)

PUBLICATION = "ae-monthly"
METRIC = "ae_4h"
_TYPES = ("Type 1", "Type 2", "Other A&E Department")
_BOOKED = ("Booked Appointments Type 1", "Booked Appointments Type 2")
_ATTENDANCES = (
    *(f"A&E attendances {t}" for t in (*_TYPES, *_BOOKED)),
    "A&E attendances Booked Appointments Other Department",
)
_OVER_4H = (
    "Attendances over 4hrs Type 1",
    "Attendances over 4hrs Type 2",
    "Attendances over 4hrs Other Department",
    "Attendances over 4hrs Booked Appointments Type 1",
    "Attendances over 4hrs Booked Appointments Type 2",
    "Attendances over 4hrs Booked Appointments Other Department",
)
CURRENT = Layout("the current provider CSV", ("Period", "Org Code", *_ATTENDANCES, *_OVER_4H))
_OLDER_FIGURES = ("attendances", "breaches")
OLDER = Layout("the older long layout", ("period", "org_code", "type", "attendances", "breaches"))
# The 4-hour standard by the month it starts to apply (NHS planning guidance).
STANDARDS: tuple[tuple[datetime, float], ...] = (
    (datetime(2023, 4, 1, tzinfo=UTC), 0.76),
    (datetime(2024, 4, 1, tzinfo=UTC), 0.78),
)
CONSTITUTIONAL_STANDARD = 0.95
NO_ATTENDANCES = "provider-months with no attendances (no event)"
SUPPRESSED_FIGURES = "rows with a suppressed figure, read as 0"
OVER_ABOVE_SEEN = (
    "provider-months with more attendances over 4 hours than attendances (read as all over)"
)


def standard_for(month: datetime) -> float:
    """The 4-hour standard for a month: 95% before April 2023, then 76%, 78% from April 2024."""
    standard = CONSTITUTIONAL_STANDARD
    for since, share in STANDARDS:
        if month >= since:
            standard = share
    return standard


def read(path: Path, unit_id: str, target: float | None, tally: Tally) -> Iterator[dict[str, Any]]:
    """Contract events from one file in either layout, in the file's order of providers;
    what it skips or adjusts is counted in `tally`."""
    layout, rows = read_rows(path, (CURRENT, OLDER), PUBLICATION)
    totals: dict[tuple[str, datetime], list[int]] = {}
    for row in rows:
        org = organisation(row, "Org Code" if layout is CURRENT else "org_code", tally)
        if org is None:
            continue
        month = _month(row, layout)
        seen, over = _figures(row, layout)
        if row.suppressed(_ATTENDANCES + _OVER_4H if layout is CURRENT else _OLDER_FIGURES):
            tally[SUPPRESSED_FIGURES] += 1
        sums = totals.setdefault((org, month), [0, 0])
        sums[0] += seen
        sums[1] += over
    for (org, month), (attendances, over) in totals.items():
        if attendances <= 0:
            tally[NO_ATTENDANCES] += 1
            continue
        if over > attendances:
            tally[OVER_ABOVE_SEEN] += 1
        yield _event(org, unit_id, month, attendances, min(over, attendances), target)


def _month(row: Row, layout: Layout) -> datetime:
    if layout is CURRENT:
        # "month" holds the first day; "Period" names it ("MSitAE-APRIL-2025")
        return month_start(row.text("month") or row.text("Period"), row.where)
    return month_start(row.text("period"), row.where)


def _figures(row: Row, layout: Layout) -> tuple[int, int]:
    if layout is CURRENT:
        return sum(row.count(c) for c in _ATTENDANCES), sum(row.count(c) for c in _OVER_4H)
    return row.count("attendances"), row.count("breaches")


def _event(
    org: str, unit_id: str, month: datetime, attendances: int, over: int, target: float | None
) -> dict[str, Any]:
    end = next_month(month)
    event = base_event("target_metric", PUBLICATION, org, unit_id, end, f"{month:%Y-%m}", METRIC)
    return event | {
        "metric": METRIC,
        "period_start": timestamp(month),
        "period_end": timestamp(end),
        "numerator": attendances - over,
        "denominator": attendances,
        "target": target if target is not None else standard_for(month),
        "higher_is_better": True,
    }
