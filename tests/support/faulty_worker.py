"""`python -m tests.support.faulty_worker OUTAGE_FILE`: `pipeline worker` (configured by the
same PIPELINE_* settings) whose ClickHouse is "down" while OUTAGE_FILE exists."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.bootstrap.worker import build_worker, load_settings
from pipeline.cli.log_repeats import configure_process_logging
from tests.support.faults import outage_sink


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faulty worker")
    parser.add_argument("outage_file", type=Path, help="ClickHouse is down while this exists")
    args = parser.parse_args(argv)
    configure_process_logging()  # as `pipeline worker` logs
    runtime, sink = build_worker(load_settings(), sink_type=outage_sink(args.outage_file))
    try:
        return runtime.run(None)
    finally:
        sink.close()


if __name__ == "__main__":
    sys.exit(main())
