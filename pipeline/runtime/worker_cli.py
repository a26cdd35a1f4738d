"""`pipeline worker`: the stream processor on Kafka, writing to ClickHouse (CONTRACT.md §3).

`add_worker_arguments(parser)` declares the command's options; `run_worker(args)` runs it and
returns the exit status (0 after a clean stop by SIGTERM or SIGINT). A missing
PIPELINE_PSEUDONYMISATION_KEY or bad settings raise ConfigError before anything starts.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pipeline.errors import PipelineError

log = logging.getLogger("pipeline.worker")


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Consume events from Kafka (<prefix>.<event_type> topics), validate, deduplicate and "
        "judge them, store them in ClickHouse and route alerts (<prefix>.alerts, ClickHouse, "
        "Alertmanager) and dead letters (<prefix>.dead_letter). Configured by PIPELINE_* "
        "environment variables; stops cleanly on SIGTERM."
    )
    parser.add_argument(
        "--clickhouse",
        metavar="DSN",
        default=None,
        help="chdb:///path or http://user:password@host:8123 (default: PIPELINE_CLICKHOUSE_DSN, "
        "else ./data/clickhouse)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="port for /metrics and /healthz (default: PIPELINE_METRICS_PORT; 0 turns it off)",
    )


def run_worker(args: argparse.Namespace) -> int:
    """Run the worker until it is stopped; raises PipelineError when it cannot start."""
    from pipeline.wiring import build_worker, load_settings

    settings = load_settings()
    logging.getLogger().setLevel(settings.log_level)
    runtime, sink = build_worker(settings, getattr(args, "clickhouse", None))
    try:
        return runtime.run(getattr(args, "metrics_port", None))
    finally:
        sink.close()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pipeline.runtime.worker_cli`: the same command without the `pipeline` CLI."""
    parser = argparse.ArgumentParser(prog="pipeline worker")
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return run_worker(args)
    except PipelineError as exc:
        print(f"pipeline worker: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
