"""`pipeline spc`: Making Data Count XmR charts of a CSV column, as CSV on standard output."""

from __future__ import annotations

import argparse
from datetime import date
from typing import TextIO

from pipeline.analysis.spc_csv import chart_csv, parse_timestamp
from pipeline.core.spc import MIN_FIX_AFTER_N_POINTS, Direction


def add_spc_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `pipeline spc` arguments (contract §3) to `parser`."""
    parser.add_argument("csv", metavar="CSV", help="input CSV file with a header row; - for stdin")
    parser.add_argument(
        "--date-col", required=True, metavar="COL", help="the column of ISO dates or date-times"
    )
    parser.add_argument(
        "--value-col", required=True, metavar="COL", help="the column of the measure to chart"
    )
    parser.add_argument(
        "--facet-col", metavar="COL", help="a column: one independent chart per value in it"
    )
    parser.add_argument(
        "--improvement-direction",
        choices=[Direction.INCREASE.value, Direction.DECREASE.value],
        default=Direction.INCREASE.value,
        help="which way is better (default: increase)",
    )
    parser.add_argument("--target", type=float, metavar="VALUE", help="adds the assurance verdict")
    parser.add_argument(
        "--fix-after-n-points",
        type=int,
        metavar="N",
        help=f"limits from the first N points of each segment (N >= {MIN_FIX_AFTER_N_POINTS}; "
        "without it, from all its points)",
    )
    parser.add_argument(
        "--rebase",
        type=_rebase_date,
        nargs="+",
        action="extend",
        default=[],
        metavar="DATE",
        help="start a new segment, with its own limits, at these dates",
    )


def run_spc(args: argparse.Namespace, stdout: TextIO) -> int:
    """Run `pipeline spc` with parsed `args`, writing the chart rows as CSV to `stdout`.

    Returns 0. Raises InputError (one line, naming the file, line and column where it can) for
    a file that cannot be read, a missing column, an empty cell, a value that is not a number, a
    date that is not ISO, a date repeated within a facet, a --rebase date found nowhere, or an
    unusable --target or --fix-after-n-points.
    """
    chart_csv(
        args.csv,
        date_col=args.date_col,
        value_col=args.value_col,
        facet_col=args.facet_col,
        improvement=Direction(args.improvement_direction),
        target=args.target,
        fix_after_n_points=args.fix_after_n_points,
        rebase=args.rebase,
        out=stdout,
    )
    return 0


def _rebase_date(text: str) -> date:
    try:
        return parse_timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date (YYYY-MM-DD) or date-time"
        ) from None
