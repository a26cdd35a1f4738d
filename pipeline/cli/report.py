"""`pipeline report`: build the HTML report from what ClickHouse holds."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from pipeline.bootstrap.embedded import load_settings, open_sink
from pipeline.cli.options import add_clickhouse_option
from pipeline.cli.outputs import check_output_file
from pipeline.report import build_report

DEFAULT_REPORT = Path("data") / "report.html"


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    add_clickhouse_option(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_REPORT,
        metavar="FILE",
        help=f"the HTML file to write (default: {DEFAULT_REPORT})",
    )


def run_report(args: argparse.Namespace, stdout: TextIO) -> int:
    """Build the report from what ClickHouse holds (embedded or server)."""
    out = check_output_file(Path(args.out))
    sink = open_sink(load_settings(), args.clickhouse, existing=True)
    try:
        path = build_report(sink, out)
    finally:
        sink.close()
    print(f"report written to {path.resolve()} ({path.stat().st_size / 1024:,.0f} KB)", file=stdout)
    return 0
