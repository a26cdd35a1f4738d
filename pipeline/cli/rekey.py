"""`pipeline rekey [--clickhouse DSN] [--dry-run]`: stored pseudonyms under the current key chain.

After a rotation (PIPELINE_PSEUDONYMISATION_KEY the new key, PIPELINE_PSEUDONYMISATION_PREVIOUS_KEYS
the old ones, oldest first), rewrites every stored patient pseudonym made by the old keys into
the one the whole chain makes, which is what the worker now makes for the same patient. Prints
a JSON report; exit 0, or 1 when it cannot run (no key, ClickHouse unreachable).
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from pipeline.adapters.clickhouse.rekey import rekey, stored_key_ids
from pipeline.bootstrap.embedded import load_settings, open_sink, pseudonymisation_key
from pipeline.cli.options import add_clickhouse_option


def add_rekey_arguments(parser: argparse.ArgumentParser) -> None:
    add_clickhouse_option(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be re-keyed, change nothing"
    )


def run_rekey(args: argparse.Namespace, stdout: TextIO) -> int:
    settings = load_settings()
    keys = pseudonymisation_key(settings, required=True).keys
    sink = open_sink(settings, args.clickhouse)
    try:
        report = rekey(sink, keys, dry_run=args.dry_run).as_json()
        report["dry_run"] = bool(args.dry_run)
        report["stored_by_key_id"] = stored_key_ids(sink)
    finally:
        sink.close()
    print(json.dumps(report, indent=2), file=stdout)
    return 0
