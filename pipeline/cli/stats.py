"""`pipeline stats`: what ClickHouse holds, as JSON."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from pipeline.bootstrap.embedded import load_settings, open_sink
from pipeline.cli.options import add_clickhouse_option


def add_stats_arguments(parser: argparse.ArgumentParser) -> None:
    add_clickhouse_option(parser)


def run_stats(args: argparse.Namespace, stdout: TextIO) -> int:
    sink = open_sink(load_settings(), args.clickhouse, existing=True)
    try:
        print(json.dumps(sink.stats(), indent=2), file=stdout)
    finally:
        sink.close()
    return 0
