"""`fft-monthly`: NHS England's Friends and Family Test data by provider or by site.

Supported: the CSV form of the monthly publication's provider or site table: a period column
(`Period` or `Periodname`: "Sep-22", "SEPTEMBER-2022", "2022-09-01"), `Org Code`, optionally
`Site Code` (then each site is a unit; else the whole provider is the unit given), and the
counts per answer `Very Good`, `Good`, `Neither Good nor Poor`, `Poor`, `Very Poor` and
`Dont Know` (or "Don't Know"). Each row with at least one response becomes one
`patient_feedback` event in the counts form over its month.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.adapters.publications.common import (
    ORG_PATTERN,
    Layout,
    Row,
    base_event,
    month_start,
    next_month,
    read_rows,
    timestamp,
)

PUBLICATION = "fft-monthly"
ANSWERS = ("Very Good", "Good", "Neither Good nor Poor", "Poor", "Very Poor", "Dont Know")
_UNIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LAYOUTS = (
    Layout("the provider or site CSV (Period)", ("Period", "Org Code", *ANSWERS)),
    Layout("the provider or site CSV (Periodname)", ("Periodname", "Org Code", *ANSWERS)),
)


def read(path: Path, unit_id: str) -> Iterator[dict[str, Any]]:
    """Counts-form feedback events from one FFT CSV, row by row."""
    layout, rows = read_rows(path, LAYOUTS, PUBLICATION)
    period_column = layout.required[0]
    for row in rows:
        org = row.text("Org Code")
        if not ORG_PATTERN.fullmatch(org):
            continue
        site = row.text("Site Code")
        unit = site if site and _UNIT.fullmatch(site) else unit_id
        counts = _counts(row)
        if not any(counts.values()):
            continue
        month = month_start(row.text(period_column), row.where)
        end = next_month(month)
        event = base_event("patient_feedback", PUBLICATION, org, unit, end, f"{month:%Y-%m}")
        yield event | {
            "period_start": timestamp(month),
            "period_end": timestamp(end),
            "counts": counts,
        }


def _counts(row: Row) -> dict[str, int]:
    # "Don't Know" and "Dont Know" are one column: names are compared normalised
    return {str(i): row.count(answer) for i, answer in enumerate(ANSWERS, start=1)}
