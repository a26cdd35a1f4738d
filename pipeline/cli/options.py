"""Options more than one command takes, declared once."""

from __future__ import annotations

import argparse


def add_clickhouse_option(parser: argparse.ArgumentParser) -> None:
    """`--clickhouse DSN`: where the command's ClickHouse is (embedded chDB or a server)."""
    parser.add_argument(
        "--clickhouse",
        metavar="DSN",
        default=None,
        help="chdb:///path or http://user:password@host:8123 (default: PIPELINE_CLICKHOUSE_DSN, "
        "else ./data/clickhouse)",
    )
