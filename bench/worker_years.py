"""The running worker's memory over years of history: one `pipeline worker` fed a simulated
trust a year at a time, as a service publishes it.

`pipeline simulate` (default 4 organisations × 6 units × 3 years of 52 weeks) is split by event
time into yearly files. A local broker (deploy/kafka/localkafka.py, a free port, its own state
directory) and one worker on embedded ClickHouse (chDB) are started; each year is published
with kcat (librdkafka's default partitioner, as a service would; `pipeline publish` when kcat
is missing, said in the output), and once the worker has stored every message of the year
(its `pipeline_messages_consumed_total` counts a batch once it is stored, after its
judgement) its resident memory is read from /proc: current (`VmRSS`) and peak (`VmHWM`).

`--restart`: after each year the worker is stopped (SIGTERM) and a fresh one started. A worker
restores each organisation when its first event arrives, so the year's final week (in which
every organisation reports) is published again: duplicates, nothing stored, every organisation
restored (the log's `state restored` lines give the restores' seconds). The fresh worker's
memory is read once it has taken them, and the next year goes to it.

At the end, with the worker stopped, a fresh process reads every event table: each event
published must be stored exactly once (rows = distinct ids = the ids published). Prints a
table and a JSON summary (events, RSS after each year, growth ratio last year / first).

Run: `python -m bench.worker_years [--years 3] [--restart] [--scale 1.0]` (`--scale`: the
simulation's feedback volume, 94% of its events: 0.5 about halves them, shortening the run,
not the history's length).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.faust_floor import PARTITIONS
from bench.worker_throughput import (
    broker,
    consumed,
    metrics,
    peak_rss_mb,
    rss_mb,
    start_worker,
    stop_worker,
)

REPO = Path(__file__).resolve().parents[1]
YEAR = timedelta(weeks=52)
WEEK = timedelta(weeks=1)
Worker = tuple[subprocess.Popen[bytes], int]  # the process and its metrics port


def simulate(work: Path, args: argparse.Namespace) -> list[bytes]:
    """`pipeline simulate`'s events (delivery order), as the command writes them."""
    out = work / "simulated"
    command = [sys.executable, "-m", "pipeline.cli", "simulate", "--out", str(out)]
    command += ["--orgs", str(args.orgs), "--units", str(args.units), "--seed", str(args.seed)]
    command += ["--weeks", str(52 * args.years), "--feedback-scale", str(args.scale)]
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL, timeout=900)
    return (out / "events.jsonl").read_bytes().splitlines()


def occurred(line: bytes) -> datetime:
    return datetime.fromisoformat(json.loads(line)["occurred_at"])


def split_years(lines: list[bytes], years: int) -> tuple[datetime, list[list[bytes]]]:
    """The first event's day, and the lines by 52-week year of event time from it (each in
    delivery order; reports for the last year's final weeks, made later, in the last)."""
    times = [occurred(line) for line in lines]
    start = min(times).replace(hour=0, minute=0, second=0, microsecond=0)
    split: list[list[bytes]] = [[] for _ in range(years)]
    for line, at in zip(lines, times, strict=True):
        split[min(years - 1, (at - start) // YEAR)].append(line)
    return start, split


def final_week(lines: list[bytes], end: datetime) -> list[bytes]:
    """The lines of the week of event time before `end` (every organisation reports in it)."""
    return [line for line in lines if end - WEEK <= occurred(line) < end]


def publish(bootstrap: str, prefix: str, lines: list[bytes], work: Path, how: str) -> None:
    """Every line to its event type's topic, keyed by its organisation."""
    if how == "kcat":
        from tests.support.kcat_publisher import publish_kcat

        events = [json.loads(line) for line in lines]
        publish_kcat(
            bootstrap,
            prefix,
            [(e["event_type"], e["org_id"], line) for e, line in zip(events, lines, strict=True)],
        )
        return
    path = work / "publish.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env.update({"PIPELINE_TOPIC_PREFIX": prefix, "PIPELINE_TOPIC_PARTITIONS": str(PARTITIONS)})
    command = [sys.executable, "-m", "pipeline.cli", "publish", str(path), "--bootstrap", bootstrap]
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, timeout=900)


def launch(bootstrap: str, prefix: str, work: Path, args: argparse.Namespace) -> Worker:
    """A worker started, ready (/readyz) and holding its partitions."""
    settings = argparse.Namespace(
        batch_max=args.batch_max, within=1.0, judge_every=None, profile=None
    )
    process, port, log = start_worker(bootstrap, prefix, work, settings)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5):
                pass
            if metrics(port).get("pipeline_assigned_partitions", 0.0) > 0:
                return process, port
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    stop_worker(process)
    raise RuntimeError("the worker was not ready in time")


def wait_stored(worker: Worker, expected: int, timeout: float) -> float:
    """Seconds until the worker has stored `expected` messages since it started."""
    process, port = worker
    started = time.monotonic()
    while (done := consumed(port)) < expected:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode}")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"worker stored {done:.0f} of {expected} messages in time")
        time.sleep(0.5)
    return time.monotonic() - started


def restore_seconds(log: Path, offset: int) -> list[float]:
    """The seconds of each restore the worker log reports after `offset` (bytes)."""
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    return [float(m) for m in re.findall(r"state restored: .* in ([0-9.]+)s", text)]


def memory(worker: Worker) -> dict[str, float]:
    process, port = worker
    figures = metrics(port)
    return {
        "rss_mb": round(rss_mb(process.pid), 1),
        "peak_rss_mb": round(peak_rss_mb(process.pid), 1),
        "accepted": figures.get("pipeline_events_accepted_total", 0.0),
        "duplicates": figures.get("pipeline_events_duplicate_total", 0.0),
        "rejected": figures.get("pipeline_events_rejected_total", 0.0),
    }


def stored_ids(clickhouse: Path) -> tuple[int, list[str]]:
    """In this (fresh) process: the rows of every event table and the ids they hold."""
    from pipeline.bootstrap.embedded import load_settings, open_sink
    from pipeline.core.stored import EVENT_TABLES

    sink = open_sink(load_settings(), f"chdb://{clickhouse}", existing=True)
    rows, ids = 0, []
    for table in EVENT_TABLES.values():
        rows += sink._scalar(f"SELECT count() FROM {sink.database}.{table}")
        ids += [str(r[0]) for r in sink._rows(f"SELECT event_id FROM {sink.database}.{table}")]
    sink.close()
    return rows, ids


def check_stored(clickhouse: Path, published: set[str]) -> dict[str, int]:
    """Rows, distinct ids, ids missing and ids not published, read by a fresh process (chDB
    is one process per directory)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker_years", "--stored", str(clickhouse)],
        capture_output=True,
        cwd=REPO,
        timeout=600,
        check=True,
    )
    rows, ids = json.loads(done.stdout.decode().strip().splitlines()[-1])
    stored = set(ids)
    return {
        "rows": rows,
        "distinct": len(stored),
        "missing": len(published - stored),
        "unpublished": len(stored - published),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    how = "kcat" if shutil.which("kcat") else "pipeline publish"
    work = Path(tempfile.mkdtemp(prefix="bench-worker-years-"))
    start, years = split_years(simulate(work, args), args.years)
    published = {json.loads(line)["event_id"] for year in years for line in year}
    summary: dict[str, Any] = {"publisher": how, "restart": args.restart, "years": []}
    summary["events"] = sum(len(year) for year in years)
    prefix = f"bench-years-{uuid.uuid4().hex[:8]}"
    try:
        with broker(None) as bootstrap:
            worker = launch(bootstrap, prefix, work, args)
            summary["empty"] = memory(worker)
            statuses = []
            try:
                for number, lines in enumerate(years, 1):
                    before = consumed(worker[1])
                    publish(bootstrap, prefix, lines, work, how)
                    seconds = wait_stored(worker, int(before) + len(lines), args.timeout)
                    row: dict[str, Any] = {"year": number, "events": len(lines)}
                    row |= {"seconds": round(seconds, 1), **memory(worker)}
                    if args.restart:
                        statuses.append(stop_worker(worker[0]))
                        offset = (work / "worker.log").stat().st_size
                        worker = launch(bootstrap, prefix, work, args)
                        again = final_week(lines, start + number * YEAR)
                        publish(bootstrap, prefix, again, work, how)
                        wait_stored(worker, len(again), args.timeout)
                        restored = memory(worker)
                        restores = restore_seconds(work / "worker.log", offset)
                        row["restored"] = {"resent": len(again), **restored}
                        row["restored"]["restore_seconds"] = restores
                    summary["years"].append(row)
                    print(line_of(row), flush=True)
            finally:
                statuses.append(stop_worker(worker[0]))
        summary["exit_statuses"] = statuses
        summary["stored"] = check_stored(work / "clickhouse", published)
    finally:
        if args.keep:
            summary["workdir"] = str(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    first, last = summary["years"][0], summary["years"][-1]
    summary["growth_ratio"] = round(last["rss_mb"] / first["rss_mb"], 3)
    if args.restart:
        ratio = last["restored"]["rss_mb"] / first["restored"]["rss_mb"]
        summary["growth_ratio_restored"] = round(ratio, 3)
    return summary


def line_of(row: dict[str, Any]) -> str:
    text = (
        f"{row['year']:>4} {row['events']:>9,} {row['seconds']:>8.1f} {row['rss_mb']:>8.0f} "
        f"{row['peak_rss_mb']:>8.0f} {row['accepted']:>10,.0f} {row['duplicates']:>6,.0f}"
    )
    if "restored" in row:
        again = row["restored"]
        text += (
            f"   restarted: {again['rss_mb']:>4.0f} MB (peak {again['peak_rss_mb']:.0f}) "
            f"after {again['resent']:,} resent, {again['duplicates']:,.0f} duplicates; "
            f"{len(again['restore_seconds'])} restores, {sum(again['restore_seconds']):.2f} s"
        )
    return text


def exactly_once(summary: dict[str, Any]) -> bool:
    stored = summary["stored"]
    return bool(
        stored["rows"] == stored["distinct"] == summary["events"]
        and stored["missing"] == stored["unpublished"] == 0
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_years", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--years", type=int, default=3, help="52-week years (default: 3)")
    parser.add_argument("--orgs", type=int, default=4)
    parser.add_argument("--units", type=int, default=6, help="units per organisation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="the simulation's feedback volume (default: 1)"
    )
    parser.add_argument("--restart", action="store_true", help="restart the worker every year")
    parser.add_argument("--batch-max", type=int, default=20_000, help="BATCH_MAX_EVENTS")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per wait")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--stored", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stored:
        print(json.dumps(stored_ids(Path(args.stored))))
        return 0
    print(
        f"{'year':>4} {'events':>9} {'seconds':>8} {'RSS MB':>8} {'peak MB':>8} "
        f"{'accepted':>10} {'dupl.':>6}",
        flush=True,
    )
    summary = run(args)
    once = exactly_once(summary)
    summary["stored_exactly_once"] = once
    print(
        f"published with {summary['publisher']}; empty worker {summary['empty']['rss_mb']:.0f} "
        f"MB; RSS year {args.years} / year 1: {summary['growth_ratio']:.2f}"
        + (f" (restarted: {summary['growth_ratio_restored']:.2f})" if args.restart else "")
    )
    stored = summary["stored"]
    print(
        f"stored: {stored['rows']:,} rows, {stored['distinct']:,} distinct ids of "
        f"{summary['events']:,} published ({stored['missing']} missing, "
        f"{stored['unpublished']} not published): "
        + ("every event exactly once" if once else "NOT exactly once")
        + f"; worker exit statuses {summary['exit_statuses']}"
    )
    print(json.dumps(summary))
    return 0 if once else 1


if __name__ == "__main__":
    sys.exit(main())
