"""`pipeline replay`: the embedded runtime over recorded events, with its summary and alerts."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pipeline.bootstrap.embedded import build_embedded, load_settings
from pipeline.cli.options import add_clickhouse_option
from pipeline.cli.outputs import check_output_file, refuse_overwriting_inputs, writing
from pipeline.core.alerts import Alert
from pipeline.core.windows import WindowKind
from pipeline.endpoints import ClickHouseDsn
from pipeline.runtime.embedded import ReplaySummary, check_readable


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="JSON Lines file, or - for stdin")
    parser.add_argument(
        "--alerts-out",
        type=Path,
        metavar="FILE",
        help="write the standing alerts here (the latest version of each), as JSON Lines",
    )
    parser.add_argument(
        "--summary-json", type=Path, metavar="FILE", help="write the summary here, as JSON"
    )
    add_clickhouse_option(parser)
    parser.add_argument(
        "--window",
        choices=[k.value for k in WindowKind],
        default=None,
        help="the window the alerts are judged on (default: PIPELINE_WINDOW, else week)",
    )


def run_replay(args: argparse.Namespace, stdout: TextIO) -> int:
    replay(
        args.paths,
        dsn=args.clickhouse,
        window=WindowKind(args.window) if args.window else None,
        alerts_out=args.alerts_out,
        summary_json=args.summary_json,
        out=stdout,
    )
    return 0


def replay(
    paths: Sequence[str],
    *,
    dsn: str | None,
    window: WindowKind | None,
    alerts_out: Path | None,
    summary_json: Path | None,
    out: TextIO,
) -> ReplaySummary:
    """Run the embedded pipeline on `paths` and report; raises PipelineError if it cannot run
    (the output files, and that every input can be opened, are checked before the store is
    opened or any input read)."""
    refuse_overwriting_inputs({"--alerts-out": alerts_out, "--summary-json": summary_json}, paths)
    for path in (alerts_out, summary_json):
        if path is not None:
            check_output_file(path)
    check_readable(paths)  # before the store is made: a mistyped path leaves no empty store
    settings = load_settings()
    runner, sink = build_embedded(settings, dsn, window)
    try:
        summary = runner.run(paths)
        alerts = runner.final_alerts()
    finally:
        sink.close()
    if alerts_out is not None:
        write_alerts(alerts_out, alerts)
    if summary_json is not None:
        with writing(summary_json):
            summary_json.write_text(json.dumps(summary.as_json(), indent=2) + "\n")
    print(format_summary(summary, sink.dsn), file=out)
    return summary


def write_alerts(path: Path, alerts: Sequence[Alert]) -> None:
    """Alerts as JSON Lines, one per line, in window order."""
    with writing(path), path.open("w", encoding="utf-8") as handle:
        for alert in alerts:
            handle.write(alert.to_json() + "\n")


def format_summary(summary: ReplaySummary, dsn: ClickHouseDsn) -> str:
    lines = [
        f"read {summary.read:,} lines: {summary.accepted:,} accepted ({summary.late:,} of them "
        f"late, after their window closed: counted in it all the same), "
        f"{summary.rejected:,} rejected, {summary.duplicates:,} duplicates",
        f"alerts standing: {summary.alerts:,}",
    ]
    for reason, count in sorted(summary.rejected_by_reason.items()):
        lines.append(f"  rejected {reason}: {count:,}")
    for failure, count in sorted(summary.judging_failures.items()):
        lines.append(
            f"judging failed for organisation {failure.org_id} ({failure.error}), {count:,} "
            "times: its alerts may be missing (see the log; docs/worker.md, Operations)"
        )
    lines.append(f"stored in {dsn}")  # masked: no password
    return "\n".join(lines)
