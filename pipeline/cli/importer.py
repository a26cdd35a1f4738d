"""`pipeline import KIND FILE... [--out FILE] [--unit UNIT] [--target SHARE]`: contract events
(JSON Lines) from NHS England's published statistics, to standard output or a file.

Exit status 0 when every file was read, rows skipped or adjusted included: standard error then
gets a summary (events written; rows and figures skipped or adjusted, counted per reason, never a
cell's content; and that ids are per month, so a revised month adds nothing to a store that
holds it). 1 (via `PipelineError`) for an unknown layout, which names the columns expected, or a
cell that cannot be read: nothing is written to `--out` then.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from pydantic import TypeAdapter, ValidationError

from pipeline.adapters.publications import DEFAULT_UNITS, KINDS, Tally, import_events
from pipeline.cli.arg_types import bounded_float
from pipeline.cli.outputs import check_output_file, refuse_overwriting_inputs
from pipeline.core.event_fields import UnitId
from pipeline.core.privacy import contains_nhs_number

REVISION_NOTE = (
    "note: event ids are per organisation, unit, month (and metric), so a month already in a "
    "store is a duplicate there even when a revised edition changed its figures (the stored "
    "ones stay); to apply a revision, replay every import, revised editions in place of the "
    "old, into a new store"
)


_share = bounded_float(lambda v: 0 < v <= 1, "a share above 0 and at most 1 (95% is 0.95)")


_UNIT_ID = TypeAdapter(UnitId)


def _unit(text: str) -> str:
    try:
        _UNIT_ID.validate_python(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(
            "a unit_id is 1 to 64 letters, digits, '_', '.' or '-', beginning with a letter or "
            "digit"
        ) from None
    if contains_nhs_number(text):  # not echoed: it may be a patient's
        raise argparse.ArgumentTypeError("a unit_id must not hold an NHS number")
    return text


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `pipeline import`."""
    parser.add_argument(
        "kind",
        choices=list(KINDS),
        metavar="KIND",
        help="; ".join(f"{k}: {v}" for k, v in KINDS.items()),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="published CSV file")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here, not to stdout")
    parser.add_argument(
        "--unit",
        type=_unit,
        metavar="UNIT",
        help="unit_id of the events ("
        + ", ".join(f"{k}: {v}" for k, v in DEFAULT_UNITS.items())
        + "; fft-monthly uses the Site Code when the file has one)",
    )
    parser.add_argument(
        "--target",
        type=_share,
        metavar="SHARE",
        help="ae-monthly: the 4-hour standard as a share, instead of the one in force each "
        "month (95%% to March 2023, 76%% in 2023-24, 78%% from April 2024)",
    )


def run_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write the events; to `--out` atomically (a failed import leaves no partial file). Then
    the summary of what was skipped or adjusted, on `err`."""
    refuse_overwriting_inputs({"--out": args.out}, args.files)
    tally = Tally()
    lines = import_events(args.kind, args.files, unit_id=args.unit, target=args.target, tally=tally)
    if args.out is None:
        written = _write(lines, out)
    else:
        check_output_file(args.out)
        handle, temporary = tempfile.mkstemp(dir=args.out.parent, prefix=".import-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                written = _write(lines, file)
            os.replace(temporary, args.out)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    for line in summary(written, len(args.files), tally):
        print(line, file=err)
    return 0


def _write(lines: Iterable[str], out: TextIO) -> int:
    written = 0
    for line in lines:
        out.write(line + "\n")
        written += 1
    return written


def summary(written: int, files: int, tally: Tally) -> list[str]:
    """The lines an import reports: what it wrote, each reason it skipped or adjusted
    something (most frequent first), and the note on revised editions."""
    events = f"{written:,} event{'s' * (written != 1)}"
    lines = [f"pipeline import: {events} from {files:,} file{'s' * (files != 1)}"]
    if tally:
        lines.append("skipped or adjusted:")
        lines += [f"  {count:>8,}  {reason}" for reason, count in tally.most_common()]
    lines.append(REVISION_NOTE)
    return lines
