"""`pipeline replay`: the embedded runtime over recorded events, with its summary and alerts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pipeline.core.alerts import Alert
from pipeline.core.windows import WindowKind
from pipeline.endpoints import ClickHouseDsn
from pipeline.runtime.embedded import ReplaySummary
from pipeline.wiring import build_embedded, load_settings


def replay(
    paths: Sequence[str],
    *,
    dsn: str | None,
    window: WindowKind | None,
    alerts_out: Path | None,
    summary_json: Path | None,
    out: TextIO,
) -> ReplaySummary:
    """Run the embedded pipeline on `paths` and report; raises PipelineError if it cannot run."""
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
        summary_json.write_text(json.dumps(summary.as_json(), indent=2) + "\n")
    print(format_summary(summary, sink.dsn), file=out)
    return summary


def write_alerts(path: Path, alerts: Sequence[Alert]) -> None:
    """Alerts as JSON Lines, one per line, in window order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for alert in alerts:
            handle.write(alert.to_json() + "\n")


def format_summary(summary: ReplaySummary, dsn: ClickHouseDsn) -> str:
    lines = [
        f"read {summary.read:,} lines: {summary.accepted:,} accepted, "
        f"{summary.rejected:,} rejected, {summary.duplicates:,} duplicates "
        f"({summary.late:,} late, stored and judged again)",
        f"alerts standing: {summary.alerts:,}",
    ]
    for reason, count in sorted(summary.rejected_by_reason.items()):
        lines.append(f"  rejected {reason}: {count:,}")
    lines.append(f"stored in {dsn}")  # masked: no password
    return "\n".join(lines)
