"""`pipeline import KIND FILE... [--out FILE] [--unit UNIT] [--target SHARE]`: contract events
(JSON Lines) from NHS England's published statistics, to standard output or a file.

Exit status 0 when every file was read; 2 (via `PipelineError`) for an unknown layout, which
names the columns expected, or a cell that cannot be read. Nothing is written to `--out` then.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import TextIO

from pipeline.adapters.publications import DEFAULT_UNITS, KINDS, import_events
from pipeline.cli.outputs import check_output_file


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
        metavar="UNIT",
        help="unit_id of the events ("
        + ", ".join(f"{k}: {v}" for k, v in DEFAULT_UNITS.items())
        + "; fft-monthly uses the Site Code when the file has one)",
    )
    parser.add_argument(
        "--target",
        type=float,
        metavar="SHARE",
        help="ae-monthly: the 4-hour standard as a share, instead of the one in force each "
        "month (95%% to March 2023, 76%% in 2023-24, 78%% from April 2024)",
    )


def run_import(args: argparse.Namespace, out: TextIO) -> int:
    """Write the events; to `--out` atomically (a failed import leaves no partial file)."""
    lines = import_events(args.kind, args.files, unit_id=args.unit, target=args.target)
    if args.out is None:
        for line in lines:
            out.write(line + "\n")
        return 0
    check_output_file(args.out)
    handle, temporary = tempfile.mkstemp(dir=args.out.parent, prefix=".import-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            for line in lines:
                file.write(line + "\n")
        os.replace(temporary, args.out)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return 0
