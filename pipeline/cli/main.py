"""The `pipeline` command (CONTRACT.md §3): parse arguments, call one thing, print.

Exit status: 0 done; 1 a runtime failure (an unreadable file, ClickHouse or Kafka unreachable,
bad settings); 2 a usage error (unknown or malformed options, as argparse reports them, or
option values that make no sense: `UsageError`); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pipeline import __version__
from pipeline.cli.demo import add_demo_arguments, run_demo_command
from pipeline.cli.importer import add_import_arguments, run_import
from pipeline.cli.log_repeats import configure_process_logging
from pipeline.cli.migrate import add_migrate_arguments, run_migrate
from pipeline.cli.options import HelpFormatter
from pipeline.cli.publish import add_publish_arguments, run_publish
from pipeline.cli.rekey import add_rekey_arguments, run_rekey
from pipeline.cli.replay import add_replay_arguments, run_replay
from pipeline.cli.report import add_report_arguments, run_report
from pipeline.cli.simulate import add_simulate_arguments, run_simulate
from pipeline.cli.spc import add_spc_arguments, run_spc
from pipeline.cli.stats import add_stats_arguments, run_stats
from pipeline.cli.worker import add_worker_arguments, run_worker
from pipeline.errors import PipelineError, UsageError

Command = Callable[[argparse.Namespace], int]
FAILED = 1
USAGE_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_process_logging()
    command: Command = args.command
    try:
        return command(args)
    except UsageError as exc:
        print(f"pipeline {args.command_name}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except PipelineError as exc:
        print(f"pipeline {args.command_name}: {exc}", file=sys.stderr)
        return FAILED
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
        description="Catch a hospital unit hitting the target but missing the point. Exit "
        "status: 0 done, 1 failed, 2 usage error, 130 interrupted.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        dest="command_name", required=True, metavar="COMMAND", help="one of these"
    )

    def command(name: str, help: str) -> argparse.ArgumentParser:
        # The one-line help also opens the command's own --help, which otherwise says nothing
        # of what the command is for.
        return commands.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            formatter_class=HelpFormatter,
        )

    replay = command("replay", help="run the embedded pipeline on JSON Lines files")
    add_replay_arguments(replay)
    replay.set_defaults(command=lambda args: run_replay(args, sys.stdout))

    stats = command("stats", help="what ClickHouse holds, as JSON")
    add_stats_arguments(stats)
    stats.set_defaults(command=lambda args: run_stats(args, sys.stdout))

    demo = command(
        "demo", help="simulate a trust and run the whole pipeline in-process, with a report"
    )
    add_demo_arguments(demo)
    demo.set_defaults(command=lambda args: run_demo_command(args, sys.stdout, sys.stderr))

    worker = command("worker", help="the stream processor on Kafka (faust-streaming)")
    add_worker_arguments(worker)
    worker.set_defaults(command=run_worker)

    publish = command("publish", help="validate events and publish them to Kafka")
    add_publish_arguments(publish)
    publish.set_defaults(command=lambda args: run_publish(args, sys.stdout, sys.stderr))

    report = command("report", help="build the HTML report from ClickHouse")
    add_report_arguments(report)
    report.set_defaults(command=lambda args: run_report(args, sys.stdout))

    simulate = command("simulate", help="write a synthetic trust's events and its ground truth")
    add_simulate_arguments(simulate)
    simulate.set_defaults(command=lambda args: run_simulate(args, sys.stdout))

    spc = command(
        "spc", help="Making Data Count XmR chart of a CSV column, as CSV on standard output"
    )
    add_spc_arguments(spc)
    spc.set_defaults(command=lambda args: run_spc(args, sys.stdout))

    importer = command(
        "import", help="contract events (JSON Lines) from NHS England's published statistics"
    )
    add_import_arguments(importer)
    importer.set_defaults(command=lambda args: run_import(args, sys.stdout, sys.stderr))

    migrate = command("migrate", help="apply the ClickHouse migrations")
    add_migrate_arguments(migrate)
    migrate.set_defaults(command=lambda args: run_migrate(args, sys.stdout))

    rekey = command("rekey", help="rewrite stored patient pseudonyms under the current key chain")
    add_rekey_arguments(rekey)
    rekey.set_defaults(command=lambda args: run_rekey(args, sys.stdout))
    return parser


if __name__ == "__main__":
    sys.exit(main())
