"""`pipeline migrate`: apply the ClickHouse migrations."""

from __future__ import annotations

import argparse
from typing import TextIO

from pipeline.bootstrap.embedded import load_settings, open_sink
from pipeline.cli.options import add_clickhouse_option


def add_migrate_arguments(parser: argparse.ArgumentParser) -> None:
    add_clickhouse_option(parser)


def run_migrate(args: argparse.Namespace, stdout: TextIO) -> int:
    sink = open_sink(load_settings(), args.clickhouse)
    sink.close()
    print(f"ClickHouse schema is current at {sink.database}", file=stdout)
    return 0
