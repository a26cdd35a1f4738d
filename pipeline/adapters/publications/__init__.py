"""Contract events from NHS England's published statistics (`pipeline import KIND FILE...`).

`KINDS` names what can be imported; `import_events` reads files of one kind and yields each
event as one JSON line (str), validated against the contract. Ids are deterministic, so an
import run twice gives identical output and a replay of both counts each event once. The flip
side: a revised publication gives a month it already gave the same id, so a store that holds
the month keeps its first figures. Within one import an id met again is written once; when its
figures differ (two editions of a publication read together) that is counted as a revision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipeline.adapters.publications import ae_monthly, ambsys, fft_monthly
from pipeline.adapters.publications.common import Tally
from pipeline.core.decode import Rejection, decode
from pipeline.errors import InputError

KINDS: dict[str, str] = {
    "ae-monthly": "A&E attendances and 4-hour performance by provider (monthly CSV)",
    "ambsys": "ambulance response times, AmbSYS time series (CSV)",
    "fft-monthly": "Friends and Family Test counts per answer by provider or site (CSV)",
}
DEFAULT_UNITS = {"ae-monthly": "ae", "ambsys": "999", "fft-monthly": "all"}
REPEATED = "events met again with the same figures (written once)"
REVISED = "events met again with different figures: a revision (the first read is kept)"


def import_events(
    kind: str,
    paths: Sequence[Path],
    *,
    unit_id: str | None = None,
    target: float | None = None,
    tally: Tally | None = None,
) -> Iterator[str]:
    """One JSON line per event read from `paths` (files of `kind`), in file order, each id once.

    `unit_id` overrides the kind's default unit; `target` the ae-monthly 4-hour standard.
    `tally` counts, by reason, the rows and figures skipped or adjusted, and ids met again.
    Raises `LayoutError` for a file in no known layout and `InputError` for a bad cell.
    """
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    unit = unit_id or DEFAULT_UNITS[kind]
    counted = tally if tally is not None else Tally()
    written: dict[str, bytes] = {}  # id -> digest of the event as written
    for path in paths:
        for event in _read(kind, path, unit, target, counted):
            line = json.dumps(event, ensure_ascii=False)
            digest = hashlib.blake2b(line.encode(), digest_size=16).digest()
            first = written.get(event["event_id"])
            if first is not None:
                counted[REPEATED if first == digest else REVISED] += 1
                continue
            written[event["event_id"]] = digest
            outcome = decode(line.encode())
            if isinstance(outcome, Rejection):
                where = f" at {outcome.field}" if outcome.field else ""
                raise InputError(
                    f"{path}: a row of {event['org_id']} gives no valid event "
                    f"({outcome.reason.value}{where}: {outcome.detail})"
                )
            yield line


def _read(
    kind: str, path: Path, unit: str, target: float | None, tally: Tally
) -> Iterator[dict[str, Any]]:
    if kind == "ae-monthly":
        return ae_monthly.read(path, unit, target, tally)
    if kind == "ambsys":
        return ambsys.read(path, unit, tally)
    return fft_monthly.read(path, unit, tally)


__all__ = ["DEFAULT_UNITS", "KINDS", "Tally", "import_events"]
