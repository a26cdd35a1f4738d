"""The `pipeline` command (CONTRACT.md §3): parse arguments, call one thing, print."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline import __version__
from pipeline.analysis.spc_csv import add_spc_arguments, run_spc
from pipeline.core.windows import WindowKind
from pipeline.demo import add_demo_arguments, add_report_arguments, run_demo_command, run_report
from pipeline.errors import PipelineError
from pipeline.import_cli import add_import_arguments, run_import
from pipeline.publish_cli import add_publish_arguments, run_publish
from pipeline.runtime.worker_cli import add_worker_arguments, run_worker
from pipeline.simulate import add_simulate_arguments, run_simulate

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    command: Command = args.command
    try:
        return command(args)
    except PipelineError as exc:
        print(f"pipeline {args.command_name}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`pipeline spc … | head`): not an error of ours.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"pipeline {args.command_name}: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipeline",
        description="Catch a hospital unit hitting the target but missing the point.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")

    replay = commands.add_parser("replay", help="run the embedded pipeline on JSON Lines files")
    replay.add_argument("paths", nargs="+", metavar="PATH", help="JSON Lines file, or - for stdin")
    replay.add_argument("--alerts-out", type=Path, metavar="FILE", help="write alerts here")
    replay.add_argument("--summary-json", type=Path, metavar="FILE", help="write the summary")
    _clickhouse_option(replay)
    replay.add_argument("--window", choices=[k.value for k in WindowKind], default=None)
    replay.set_defaults(command=_replay)

    stats = commands.add_parser("stats", help="what ClickHouse holds, as JSON")
    _clickhouse_option(stats)
    stats.set_defaults(command=_stats)

    demo = commands.add_parser(
        "demo", help="simulate a trust and run the whole pipeline in-process, with a report"
    )
    add_demo_arguments(demo)
    demo.set_defaults(command=lambda args: run_demo_command(args, sys.stdout, sys.stderr))

    worker = commands.add_parser("worker", help="the stream processor on Kafka (faust-streaming)")
    add_worker_arguments(worker)
    worker.set_defaults(command=run_worker)

    publish = commands.add_parser("publish", help="validate events and publish them to Kafka")
    add_publish_arguments(publish)
    publish.set_defaults(command=lambda args: run_publish(args, sys.stdout, sys.stderr))

    report = commands.add_parser("report", help="build the HTML report from ClickHouse")
    add_report_arguments(report)
    report.set_defaults(command=lambda args: run_report(args, sys.stdout))

    simulate = commands.add_parser(
        "simulate", help="write a synthetic trust's events and its ground truth"
    )
    add_simulate_arguments(simulate)
    simulate.set_defaults(command=lambda args: run_simulate(args, sys.stdout))

    spc = commands.add_parser(
        "spc", help="Making Data Count XmR chart of a CSV column, as CSV on standard output"
    )
    add_spc_arguments(spc)
    spc.set_defaults(command=lambda args: run_spc(args, sys.stdout))

    importer = commands.add_parser(
        "import", help="contract events (JSON Lines) from NHS England's published statistics"
    )
    add_import_arguments(importer)
    importer.set_defaults(command=lambda args: run_import(args, sys.stdout))

    migrate = commands.add_parser("migrate", help="apply the ClickHouse migrations")
    _clickhouse_option(migrate)
    migrate.set_defaults(command=_migrate)
    return parser


def _clickhouse_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clickhouse",
        metavar="DSN",
        default=None,
        help="chdb:///path or http://user:password@host:8123 (default: PIPELINE_CLICKHOUSE_DSN, "
        "else ./data/clickhouse)",
    )


def _replay(args: argparse.Namespace) -> int:
    from pipeline.runtime.replay import replay

    summary = replay(
        args.paths,
        dsn=args.clickhouse,
        window=WindowKind(args.window) if args.window else None,
        alerts_out=args.alerts_out,
        summary_json=args.summary_json,
        out=sys.stdout,
    )
    return 0 if summary is not None else 1


def _stats(args: argparse.Namespace) -> int:
    from pipeline.wiring import load_settings, open_sink

    sink = open_sink(load_settings(), args.clickhouse)
    try:
        print(json.dumps(sink.stats(), indent=2))
    finally:
        sink.close()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from pipeline.wiring import load_settings, open_sink

    sink = open_sink(load_settings(), args.clickhouse)
    sink.close()
    print(f"ClickHouse schema is current at {sink.database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
