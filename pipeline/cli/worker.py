"""`pipeline worker`: the stream processor on Kafka, writing to ClickHouse (CONTRACT.md §3).

`add_worker_arguments(parser)` declares the command's options; `run_worker(args)` runs it and
returns the exit status (0 after a clean stop by SIGTERM or SIGINT). A missing
PIPELINE_PSEUDONYMISATION_KEY or bad settings raise ConfigError before anything starts.
"""

from __future__ import annotations

import argparse
import logging

from pipeline.cli.options import add_clickhouse_option
from pipeline.runtime.early_stop import EarlyStop
from pipeline.settings import Settings

log = logging.getLogger("pipeline.worker")


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Consume events from Kafka (<prefix>.<event_type> topics), validate, deduplicate and "
        "judge them, store them in ClickHouse and route alerts (<prefix>.alerts, ClickHouse, "
        "Alertmanager) and dead letters (<prefix>.dead_letter). Configured by PIPELINE_* "
        "environment variables; stops cleanly on SIGTERM."
    )
    add_clickhouse_option(parser)
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="port for /metrics, /livez, /readyz and /healthz (default: PIPELINE_METRICS_PORT, "
        f"else {Settings.model_fields['metrics_port'].default}; 0 turns it off)",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0 to 65535)")
    return port


def run_worker(args: argparse.Namespace) -> int:
    """Run the worker until it is stopped; raises PipelineError when it cannot start. A
    SIGTERM or SIGINT while it starts stops it once started, exit 0."""
    with EarlyStop() as early_stop:
        # Imported here, not above, so that the other commands never load faust or aiokafka.
        from pipeline.bootstrap.worker import build_worker, load_settings

        settings = load_settings()
        logging.getLogger().setLevel(settings.log_level)
        runtime, sink = build_worker(settings, getattr(args, "clickhouse", None))
        try:
            if early_stop.received is not None:
                log.info("stopped before consuming anything (%s)", early_stop.received.name)
                return 0
            return runtime.run(getattr(args, "metrics_port", None), early_stop)
        finally:
            sink.close()
