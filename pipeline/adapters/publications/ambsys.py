"""`ambsys`: NHS England's Ambulance Quality Indicators, system indicators (AmbSYS).

Supported: the CSV form of the published AmbSYS time series (one row per organisation and
month, columns `Year`, `Month`, `Org Code` and the indicator codes `A0`..`A1xx`). The .xlsx
workbook is the same table on a sheet: save that sheet as CSV first. Read from it, per
category, the incident count, the total response time and the 90th centile (seconds):

| category | count | total (s) | 90th centile (s) | standards |
|---|---|---|---|---|
| 1 | A8 | A24 | A26 | mean 7 min, 90th centile 15 min |
| 2 | A10 | A30 | A32 | mean 18 min, 90th centile 40 min |
| 3 | A11 | A33 | A35 | 90th centile 120 min |
| 4 | A12 | A36 | A38 | 90th centile 180 min |

Each standard becomes one `target_metric` in the value form (minutes, lower is better) for the
unit `999` (emergency response): `amb_c2_mean` is total / count, as the published mean is. A
month whose count is 0 or whose figure is suppressed gives no event for that standard. Rows of
England and the regions (no provider code) are skipped. Both are counted in the import's summary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.adapters.publications.common import (
    Layout,
    Row,
    Tally,
    base_event,
    next_month,
    organisation,
    read_rows,
    timestamp,
    year_month,
)

PUBLICATION = "ambsys"
NO_FIGURE = "standard-months with no incidents or a suppressed or negative figure (no event)"


@dataclass(frozen=True, slots=True)
class Standard:
    metric: str
    count: str
    figure: str
    mean: bool
    """True: `figure` is the total of response times (mean = total / count); False: the
    90th centile itself."""
    minutes: float


STANDARDS: tuple[Standard, ...] = (
    Standard("amb_c1_mean", "A8", "A24", True, 7.0),
    Standard("amb_c1_p90", "A8", "A26", False, 15.0),
    Standard("amb_c2_mean", "A10", "A30", True, 18.0),
    Standard("amb_c2_p90", "A10", "A32", False, 40.0),
    Standard("amb_c3_p90", "A11", "A35", False, 120.0),
    Standard("amb_c4_p90", "A12", "A38", False, 180.0),
)
LAYOUT = Layout(
    "the AmbSYS time series CSV",
    (
        "Year",
        "Month",
        "Org Code",
        *sorted({c for s in STANDARDS for c in (s.count, s.figure)}, key=lambda c: int(c[1:])),
    ),
)


def read(path: Path, unit_id: str, tally: Tally) -> Iterator[dict[str, Any]]:
    """Value-form target events from one AmbSYS CSV, row by row; what it skips is counted in
    `tally`."""
    _, rows = read_rows(path, (LAYOUT,), PUBLICATION)
    for row in rows:
        org = organisation(row, "Org Code", tally)
        if org is None:
            continue
        yield from _events(row, org, unit_id, tally)


def _events(row: Row, org: str, unit_id: str, tally: Tally) -> Iterator[dict[str, Any]]:
    month = year_month(row.text("Year"), row.text("Month"), row.where)
    end = next_month(month)
    for standard in STANDARDS:
        count, figure = row.number(standard.count), row.number(standard.figure)
        if not count or figure is None or count <= 0 or figure < 0:
            tally[NO_FIGURE] += 1
            continue
        seconds = figure / count if standard.mean else figure
        event = base_event(
            "target_metric", PUBLICATION, org, unit_id, end, f"{month:%Y-%m}", standard.metric
        )
        yield event | {
            "metric": standard.metric,
            "period_start": timestamp(month),
            "period_end": timestamp(end),
            "value": round(seconds / 60.0, 4),
            "unit": "minutes",
            "target": standard.minutes,
            "higher_is_better": False,
        }
