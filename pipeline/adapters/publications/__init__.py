"""Contract events from NHS England's published statistics (`pipeline import KIND FILE...`).

`KINDS` names what can be imported; `import_events` reads files of one kind and yields each
event as one JSON line (str), validated against the contract. Ids are deterministic, so an
import run twice gives identical output and a replay of both counts each event once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipeline.adapters.publications import ae_monthly, ambsys, fft_monthly
from pipeline.core.decode import Rejection, decode
from pipeline.errors import InputError

KINDS: dict[str, str] = {
    "ae-monthly": "A&E attendances and 4-hour performance by provider (monthly CSV)",
    "ambsys": "ambulance response times, AmbSYS time series (CSV)",
    "fft-monthly": "Friends and Family Test counts per answer by provider or site (CSV)",
}
DEFAULT_UNITS = {"ae-monthly": "ae", "ambsys": "999", "fft-monthly": "all"}


def import_events(
    kind: str, paths: Sequence[Path], *, unit_id: str | None = None, target: float | None = None
) -> Iterator[str]:
    """One JSON line per event read from `paths` (files of `kind`), in file order.

    `unit_id` overrides the kind's default unit; `target` the ae-monthly 4-hour standard.
    Raises `LayoutError` for a file in no known layout and `InputError` for a bad cell.
    """
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    unit = unit_id or DEFAULT_UNITS[kind]
    for path in paths:
        for event in _read(kind, path, unit, target):
            line = json.dumps(event, ensure_ascii=False)
            outcome = decode(line.encode())
            if isinstance(outcome, Rejection):
                where = f" at {outcome.field}" if outcome.field else ""
                raise InputError(
                    f"{path}: a row of {event['org_id']} gives no valid event "
                    f"({outcome.reason.value}{where}: {outcome.detail})"
                )
            yield line


def _read(kind: str, path: Path, unit: str, target: float | None) -> Iterator[dict[str, Any]]:
    if kind == "ae-monthly":
        return ae_monthly.read(path, unit, target)
    if kind == "ambsys":
        return ambsys.read(path, unit)
    return fft_monthly.read(path, unit)


__all__ = ["DEFAULT_UNITS", "KINDS", "import_events"]
