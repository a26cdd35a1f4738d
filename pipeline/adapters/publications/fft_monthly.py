"""`fft-monthly`: NHS England's Friends and Family Test data by provider or by site.

Supported: the CSV form of the monthly publication's provider or site table: a period column
(`Period` or `Periodname`: "Sep-22", "SEPTEMBER-2022", "2022-09-01"), `Org Code`, optionally
`Site Code` (then each site is a unit; else the whole provider is the unit given), and the
counts per answer `Very Good`, `Good`, `Neither Good nor Poor`, `Poor`, `Very Poor` and
`Dont Know` (or "Don't Know"). Each organisation, unit and month with at least one response
becomes one `patient_feedback` event in the counts form over its month: rows that share them
(sites whose Site Code is blank or not a unit id, which all fall back to the unit given) are
summed, as `ae-monthly` sums a provider's departments. A suppressed count (`*`: a small number
withheld) is read as 0. Rows skipped, summed or with a suppressed count are counted in the
import's summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
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
from pipeline.core.privacy import contains_nhs_number

PUBLICATION = "fft-monthly"
NO_RESPONSES = "rows with no responses (no event)"
SUPPRESSED_COUNTS = "rows with a suppressed count (a small number withheld), read as 0"
SITE_FALLBACK_SUMMED = (
    "rows without a usable Site Code summed into the unit given with others of their "
    "organisation and month"
)
SITE_REPEATED_SUMMED = "rows repeating a Site Code within its organisation and month, summed"
ANSWERS = ("Very Good", "Good", "Neither Good nor Poor", "Poor", "Very Poor", "Dont Know")
_UNIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LAYOUTS = (
    Layout("the provider or site CSV (Period)", ("Period", "Org Code", *ANSWERS)),
    Layout("the provider or site CSV (Periodname)", ("Periodname", "Org Code", *ANSWERS)),
)


def read(path: Path, unit_id: str, tally: Tally) -> Iterator[dict[str, Any]]:
    """Counts-form feedback events from one FFT CSV, one per organisation, unit and month in
    the order first met; what it skips or sums is counted in `tally`."""
    layout, rows = read_rows(path, LAYOUTS, PUBLICATION)
    period_column = layout.required[0]
    totals: dict[tuple[str, str, datetime], list[int]] = {}
    for row in rows:
        org = organisation(row, "Org Code", tally)
        if org is None:
            continue
        site = row.text("Site Code")
        # A unit id as the contract takes it: the pattern, and no NHS number (a label holding
        # one is refused, which refused the whole file).
        has_site = bool(site and _UNIT.fullmatch(site) and not contains_nhs_number(site))
        counts = _counts(row)
        if row.suppressed(ANSWERS):
            tally[SUPPRESSED_COUNTS] += 1
        if not any(counts):
            tally[NO_RESPONSES] += 1
            continue
        month = month_start(row.text(period_column), row.where)
        key = (org, site if has_site else unit_id, month)
        summed = totals.get(key)
        if summed is None:
            totals[key] = counts
            continue
        tally[SITE_REPEATED_SUMMED if has_site else SITE_FALLBACK_SUMMED] += 1
        for rating, n in enumerate(counts):
            summed[rating] += n
    for (org, unit, month), counts in totals.items():
        end = next_month(month)
        event = base_event("patient_feedback", PUBLICATION, org, unit, end, f"{month:%Y-%m}")
        yield event | {
            "period_start": timestamp(month),
            "period_end": timestamp(end),
            "counts": {str(rating): n for rating, n in enumerate(counts, start=1)},
        }


def _counts(row: Row) -> list[int]:
    # "Don't Know" and "Dont Know" are one column: names are compared normalised
    return [row.count(answer) for answer in ANSWERS]
