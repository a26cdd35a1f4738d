"""`pipeline demo`.

The demo needs no services: it simulates a trust (several organisations and units, over a year,
with planted episodes), writes the events as JSON Lines, runs them through the embedded pipeline
on a fresh embedded ClickHouse, prints the alerts and writes the HTML report.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pipeline.bootstrap.embedded import build_embedded, load_settings
from pipeline.cli.replay import format_summary
from pipeline.core.alerts import Alert, AlertStatus
from pipeline.errors import InputError
from pipeline.report import build_report
from pipeline.report.text import day
from pipeline.simulation import SimulationConfig, TruthEpisode, simulate_trust

DEFAULT_OUT_DIR = Path("data") / "demo"
DEFAULT_SEED = 20


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=DEFAULT_OUT_DIR,
        metavar="DIR",
        help=f"where events.jsonl, the embedded database and report.html go "
        f"(default: {DEFAULT_OUT_DIR}; its clickhouse/ is recreated)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the simulated trust"
    )


def run_demo_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return run_demo(Path(args.out_dir), stdout, stderr, seed=int(args.seed))


class _Steps:
    """'[2/5] Running the pipeline … done in 3.1s' lines on the error stream."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self._stream, self._total, self._number = stream, total, 0
        self._started = time.monotonic()
        self.started = self._started

    def begin(self, text: str) -> None:
        self._number += 1
        self._started = time.monotonic()
        print(f"[{self._number}/{self._total}] {text} …", file=self._stream, flush=True)

    def done(self, text: str = "") -> None:
        took = time.monotonic() - self._started
        print(
            f"      done in {took:.1f}s{'  ' + text if text else ''}", file=self._stream, flush=True
        )


def run_demo(
    out_dir: Path = DEFAULT_OUT_DIR,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    seed: int = DEFAULT_SEED,
) -> int:
    """Simulate, run, print and report; returns the exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    steps = _Steps(err, 4)
    out_dir = out_dir.resolve()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out_dir}: {exc.strerror}") from exc

    steps.begin(f"Simulating a trust (seed {seed})")
    trust = simulate_trust(demo_config(seed))
    events_path = out_dir / "events.jsonl"
    with events_path.open("w", encoding="utf-8") as handle:
        for event in trust.events:
            handle.write(json.dumps(event, separators=(",", ":")) + "\n")
    units = {(e["org_id"], e["unit_id"]) for e in trust.events}
    orgs = {org for org, _ in units}
    steps.done(
        f"{len(trust.events):,} events, {len(orgs)} organisations, {len(units)} units "
        f"-> {events_path}"
    )

    steps.begin("Running the pipeline on an embedded ClickHouse")
    database = out_dir / "clickhouse"
    shutil.rmtree(database, ignore_errors=True)
    settings = load_settings()
    if settings.pseudonymisation_key is None:  # synthetic data: a one-off key, and no warning
        settings = load_settings(pseudonymisation_key=secrets.token_hex(32))
    runner, sink = build_embedded(settings, dsn=f"chdb://{database}")
    try:
        summary = runner.run([str(events_path)])
        alerts = runner.final_alerts()
        steps.done(f"{summary.read:,} events read")

        steps.begin("Writing the report")
        report = build_report(sink, out_dir / "report.html")
        steps.done(f"{report.stat().st_size / 1024:,.0f} KB")
    finally:
        sink.close()

    width = _width(out)
    steps.begin("Comparing the alerts with what was planted")
    caught = _truth_lines(trust.truth, alerts, width)
    steps.done()

    print(file=out)
    print(format_alerts(alerts, width), file=out)
    print(file=out)
    for line in format_summary(summary, sink.dsn).splitlines():
        print(textwrap.fill(line, width=width, subsequent_indent="  "), file=out)
    kinds = Counter(a.kind for a in alerts)
    if kinds:
        by_kind = "; ".join(f"{n} {k.label.lower()}" for k, n in sorted(kinds.items()))
        print(
            textwrap.fill(f"alerts by kind: {by_kind}", width=width, subsequent_indent="  "),
            file=out,
        )
    for line in caught:
        print(line, file=out)
    print(f"\nreport: {report}", file=out)
    print(f"finished in {time.monotonic() - steps.started:.1f}s", file=err)
    return 0


def _width(stream: TextIO) -> int:
    isatty = getattr(stream, "isatty", None)
    columns = shutil.get_terminal_size((100, 24)).columns if isatty and isatty() else 100
    return max(60, min(columns, 140))


def format_alerts(alerts: Sequence[Alert], width: int = 100) -> str:
    """The alerts as a plain-text table: one heading line each, the summary wrapped below."""
    if not alerts:
        return "No alerts: nothing met the conditions for one."
    lines = [f"{len(alerts)} alerts (severity, status, kind, unit, weeks):", ""]
    ordered = sorted(
        alerts,
        key=lambda a: (
            a.status != AlertStatus.OPEN,
            -a.severity.rank,
            a.window_start,
            a.org_id,
            a.unit_id,
        ),
    )
    number_width = len(str(len(ordered)))
    indent = " " * (number_width + 2)
    for number, a in enumerate(ordered, start=1):
        when = f"{day(a.window_start)} to {day(a.window_end, end=True)}"
        head = (
            f"{number:>{number_width}}. {a.severity.value.upper():<6} {a.status.value:<8} "
            f"{a.kind.label.lower():<37} "
            f"{a.org_id}/{a.unit_id}  {when}"
        )
        lines.append(head if len(head) <= width else head[: width - 1] + "…")
        lines.extend(
            textwrap.wrap(a.summary, width=width, initial_indent=indent, subsequent_indent=indent)
        )
        lines.append("")
    return "\n".join(lines).rstrip()


def demo_config(seed: int) -> SimulationConfig:
    """Three organisations of six units over 56 weeks (a year and a season), delivered out of
    order with 1% duplicates, at 70% of the usual feedback volume so the demo runs in seconds."""
    return SimulationConfig(seed=seed, weeks=56, feedback_scale=0.7, shuffle=True, duplicates=0.01)


def _truth_lines(truth: Sequence[TruthEpisode], alerts: Sequence[Alert], width: int) -> list[str]:
    """What the simulator planted and whether an alert of the same kind found it."""

    def found(episode: TruthEpisode) -> bool:
        return any(
            a.kind == episode.kind
            and (a.org_id, a.unit_id) == (episode.org_id, episode.unit_id)
            and a.window_start < episode.end
            and a.window_end > episode.start
            for a in alerts
        )

    planted = [e for e in truth if e.detectable and not e.decoy]
    decoys = [e for e in truth if e.decoy]
    caught = [e for e in planted if found(e)]
    fooled = [e for e in decoys if found(e)]
    lines = textwrap.wrap(
        f"planted episodes (detectable): {len(caught)} of {len(planted)} found by an alert of "
        f"their kind; decoys that raised one: {len(fooled)} of {len(decoys)}",
        width=width,
        subsequent_indent="  ",
    )
    seen: set[tuple[str, str, str]] = set()
    for e in sorted(planted, key=lambda e: (e.start, e.org_id, e.unit_id)):
        if (e.org_id, e.unit_id, e.description) in seen:
            continue  # one deterioration can be several kinds of truth
        seen.add((e.org_id, e.unit_id, e.description))
        mark = (
            "found"
            if any(
                found(t)
                for t in planted
                if t.description == e.description and (t.org_id, t.unit_id) == (e.org_id, e.unit_id)
            )
            else "missed"
        )
        text = f"  {mark:<6} {e.org_id}/{e.description}"
        lines.extend(textwrap.wrap(text, width=width, subsequent_indent=" " * 9))
    return lines
