"""Start-up time and memory of the step's restore as history grows (0, 300k, 3M events).

What grows with history is the worker's restore (on start-up and on every rebalance): faust's
own start does not depend on it. This benchmark measures, each in a fresh process as the worker
would be, from interpreter start to an engine restored from ClickHouse (embedded chDB: its
memory counts in the process, as in the worker's tests):

- `small`: the step's restore from the small stored state (pipeline/core/engine_state.py),
  which judges only the organisations whose stored judgement does not cover what it restored;
- `judge-all`: the same restore with the judgement marks ignored (every organisation judged
  again, as before marks were stored), for contrast;
- `payloads`: the earlier restore that re-read every stored payload (for contrast, up to
  `--payload-limit` events of history).

Each mode reports wall-clock seconds and CPU seconds (user and system, every thread: chDB's
too) from interpreter start; on a loaded machine the CPU ratio moves less than the wall one.

History: a simulated trust replayed through the embedded pipeline (real windows, alerts and
recent events), plus older rows inserted by ClickHouse itself (`INSERT … SELECT FROM
numbers(N)`) up to the total: years of history the windows already summarise. Of those rows,
one in `REVISED_EVERY` is an incident report revised once (two revisions, both once in force)
and one in `RESPONSE_EVERY` an alert response, each with the small-state row the step writes
for it (`incident_revisions`, `response_ledger`); the rest is patient feedback. Each size has
a directory of its own, built before any is measured; then every case (size and mode) is
opened once a round, the order turning each round, `--repeat` rounds: the machine is shared,
and a change in its load then falls on every size alike (measured one size after another, a
single run's ratio swung by ±0.1). Ratios within one run matter.

Settled history: after growing it, the history is opened in fresh processes, each kept open
until no merge is under way and its part count has been steady for 10 s, until one finds
nothing to merge, as a worker's months of history are merged by the time of a deploy.
ClickHouse merges fresh parts within seconds of a process opening them (not in the process that
inserted them), so `--unsettled`, which measures right after the inserts as this benchmark did
before, has its first measuring processes merge while they are timed (the `parts` and `merging`
columns are read when a measurement ends).

Run: `python -m bench.startup_state [--sizes 0,300000,3000000] [--repeat 5] [--unsettled]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.startup_settling import merge_state, settle, watch_merges

STARTED = time.perf_counter()
REPO = Path(__file__).resolve().parents[1]
ORGS = ("R1K", "RJ1", "RXA")
REVISED_EVERY = 200  # history rows per revised incident report (two revisions each)
RESPONSE_EVERY = 1_000  # history rows per alert response


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def measure(dsn: str, mode: str) -> dict[str, float]:
    """In this (fresh) process: open, migrate and restore; seconds since interpreter start."""
    from pipeline.bootstrap.embedded import engine_factory, load_settings, open_sink
    from pipeline.runtime.step import Step

    sink = open_sink(load_settings(), dsn)
    step = Step(engine_factory(load_settings()), sink)
    if mode == "judge-all":
        sink.judged_marks = lambda owns: []  # type: ignore[method-assign]
    if mode in ("small", "judge-all"):
        step.restore()
    else:
        engine = step.engine
        engine.restore(sink.stored_payloads(), sink.latest_alerts(), step._clock())
    seconds = time.perf_counter() - STARTED
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "rss_mb": _rss_mb(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
        "ids_in_memory": float(step.engine.remembered_ids),
        "windows": float(step.engine.window_count()),
        "responses": float(len(sink.responses(lambda org: True))),
        "revisions": float(sink._scalar("SELECT count() FROM quality.incident_revisions")),
    }
    figures["parts"], figures["merges"] = map(float, merge_state(sink))
    sink.close()
    return figures


def replay_base(base: Path, events_file: Path) -> None:
    from pipeline.bootstrap.embedded import build_embedded, load_settings

    runner, sink = build_embedded(load_settings(), dsn=f"chdb://{base}")
    runner.run([str(events_file)])
    sink.close()


def build_history(directory: Path, total: int) -> int:
    """Grow the (copied) chDB directory to `total` events (0: empty, migrated)."""
    from pipeline.bootstrap.embedded import load_settings, open_sink

    if total == 0:
        open_sink(load_settings(), f"chdb://{directory}").close()
        return 0
    sink = open_sink(load_settings(), f"chdb://{directory}")
    stored = int(sum(sink.stats()["events"].values()))
    extra = added = max(0, total - stored)
    if extra:
        orgs = "[" + ",".join(f"'{o}'" for o in ORGS) + "]"
        revised, responses = extra // REVISED_EVERY, extra // RESPONSE_EVERY
        _revised_reports(sink, orgs, stored, revised)
        _responses(sink, orgs, stored, responses)
        extra -= 2 * revised + responses
        sink._command(
            "INSERT INTO quality.patient_feedback (event_id, org_id, unit_id, occurred_at, "
            "source, rating, late, origin, payload) "
            "SELECT id, org, 'ED', at, 'bench', rating, 0, 'bench', concat("
            '\'{"schema_version":1,"event_type":"patient_feedback","event_id":"\', '
            'toString(id), \'","org_id":"\', org, \'","unit_id":"ED","occurred_at":"\', '
            'formatDateTime(at, \'%Y-%m-%dT%H:%i:%S+00:00\'), \'","source":"bench","rating":\', '
            "toString(rating), '}') FROM (SELECT generateUUIDv4(number) AS id, "
            f"{orgs}[number % 3 + 1] AS org, "
            "toDateTime64('2019-01-07 00:00:00', 6, 'UTC') + toIntervalSecond(number * 41 % "
            "(86400 * 1400)) AS at, toUInt8(number % 5 + 1) AS rating "
            f"FROM numbers({extra}))"
        )
    if added:
        # The step judged those responses as they came and stored its marks: do the same.
        from pipeline.bootstrap.embedded import engine_factory
        from pipeline.runtime.step import Step

        Step(engine_factory(load_settings()), sink).restore()
    sink.close()
    return stored + added


def _uuid(group: str, offset: int) -> str:
    """A deterministic id per row (the same in the event and in its small-state row)."""
    return (
        f"toUUID(concat('00000000-0000-4000-{group}-', leftPad(hex(number + {offset}), 12, '0')))"
    )


def _revised_reports(sink: Any, orgs: str, offset: int, reports: int) -> None:
    """`reports` incident reports in two revisions each, stored and in force in turn."""
    select = (
        f"SELECT {_uuid('9000', offset)} AS id, {orgs}[intDiv(number, 2) % 3 + 1] AS org, "
        f"concat('B-', toString(intDiv(number, 2) + {offset})) AS ref, "
        "toUInt32(number % 2 + 1) AS rev, toDateTime64('2019-01-07 00:00:00', 6, 'UTC') + "
        "toIntervalSecond(intDiv(number, 2) * 97 % (86400 * 1400) + number % 2 * 86400) AS at "
        f"FROM numbers({2 * reports})"
    )
    sink._command(
        "INSERT INTO quality.incident_reports (event_id, org_id, unit_id, occurred_at, source, "
        "category, harm, late, origin, payload, report_ref, revision) "
        "SELECT id, org, 'ED', at, 'bench', 'fall', 'low', 0, 'bench', concat("
        '\'{"schema_version":1,"event_type":"incident_report","event_id":"\', toString(id), '
        '\'","org_id":"\', org, \'","unit_id":"ED","occurred_at":"\', '
        "formatDateTime(at, '%Y-%m-%dT%H:%i:%S+00:00'), "
        '\'","source":"bench","category":"fall","harm":"low","report_ref":"\', ref, '
        "'\",\"revision\":', toString(rev), '}'), ref, rev FROM (" + select + ")"
    )
    sink._command(
        "INSERT INTO quality.incident_revisions (org_id, report_ref, event_id, revision, "
        "unit_id, occurred_at, harm, category) "
        "SELECT org, ref, id, rev, 'ED', at, 'low', 'fall' FROM (" + select + ")"
    )


def _responses(sink: Any, orgs: str, offset: int, count: int) -> None:
    """`count` alert responses (to alerts of long ago), stored and in the ledger."""
    select = (
        f"SELECT {_uuid('a000', offset)} AS id, {orgs}[number % 3 + 1] AS org, "
        "concat('bench-', toString(number % 500)) AS alert, "
        "toDateTime64('2019-01-07 00:00:00', 6, 'UTC') + toIntervalSecond(number * 89 "
        f"% (86400 * 1400)) AS at FROM numbers({count})"
    )
    sink._command(
        "INSERT INTO quality.alert_responses (event_id, org_id, unit_id, occurred_at, source, "
        "alert_id, response, late, origin, payload) "
        "SELECT id, org, 'ED', at, 'bench', alert, 'acknowledged', 0, 'bench', concat("
        '\'{"schema_version":1,"event_type":"alert_response","event_id":"\', toString(id), '
        '\'","org_id":"\', org, \'","unit_id":"ED","occurred_at":"\', '
        "formatDateTime(at, '%Y-%m-%dT%H:%i:%S+00:00'), "
        '\'","source":"bench","alert_id":"\', alert, \'","response":"acknowledged"}\') '
        "FROM (" + select + ")"
    )
    sink._command(
        "INSERT INTO quality.response_ledger (org_id, alert_id, event_id, unit_id, response, "
        "occurred_at) SELECT org, alert, id, 'ED', 'acknowledged', at FROM (" + select + ")"
    )


def in_process(*args: str) -> str:
    """One chDB directory per process: each step runs in a fresh one (its stderr, progress and
    errors, passes through)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.startup_state", *args],
        stdout=subprocess.PIPE,
        cwd=REPO,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.startup_state {args[0]} failed (exit {done.returncode})")
    return done.stdout.decode().strip().splitlines()[-1]


def run_measure(dsn: str, mode: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.startup_state", "--measure", dsn, mode],
        capture_output=True,
        cwd=REPO,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-3000:])
    result: dict[str, float] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,300000,3000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--payload-limit", type=int, default=300_000)
    parser.add_argument("--measure", nargs=2, metavar=("DSN", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--replay", nargs=2, metavar=("DIR", "EVENTS"), help=argparse.SUPPRESS)
    parser.add_argument("--grow", nargs=2, metavar=("DIR", "TOTAL"), help=argparse.SUPPRESS)
    parser.add_argument("--watch-merges", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument(
        "--unsettled",
        action="store_true",
        help="measure right after inserting the history, unsettled",
    )
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return 0
    if args.replay:
        replay_base(Path(args.replay[0]), Path(args.replay[1]))
        print("{}")
        return 0
    if args.grow:
        print(json.dumps(build_history(Path(args.grow[0]), int(args.grow[1]))))
        return 0
    if args.watch_merges:
        print(json.dumps(watch_merges(Path(args.watch_merges))))
        return 0
        return 0
    from pipeline.simulation import SimulationConfig, simulate_trust

    sizes = sorted(int(s) for s in args.sizes.split(","))
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        events_file = work / "events.jsonl"
        trust = simulate_trust(SimulationConfig(orgs=3, units_per_org=6, weeks=64, seed=7))
        with events_file.open("w") as handle:
            for event in trust.events:
                handle.write(json.dumps(event) + "\n")
        held: dict[int, int] = {}
        cases: list[tuple[int, str]] = []
        for size in sizes:
            # a directory of its own per size (a copied chDB directory does not open again)
            directory = work / f"history-{size}"
            if size:
                in_process("--replay", str(directory), str(events_file))
            held[size] = int(in_process("--grow", str(directory), str(size)))
            if not args.unsettled:
                settle(directory)
            modes = ["small", "judge-all"] if size else ["small"]
            modes += ["payloads"] if 0 < size <= args.payload_limit else []
            cases += [(size, mode) for mode in modes]
        # Interleaved: each round opens every case once, the order turning by one a round, so
        # a change in the machine's load falls on every size alike.
        runs: dict[tuple[int, str], list[dict[str, float]]] = {case: [] for case in cases}
        for round_ in range(args.repeat):
            turn = round_ % len(cases)
            for size, mode in cases[turn:] + cases[:turn]:
                directory = work / f"history-{size}"
                runs[size, mode].append(run_measure(f"chdb://{directory}", mode))
        rows: list[dict[str, Any]] = []
        for (size, mode), done in runs.items():
            row = {k: statistics.median(r[k] for r in done) for k in done[0]}
            rows.append({"history": float(held[size]), **row, "mode": mode})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    empty = next(r for r in rows if r["history"] == 0 and r["mode"] == "small")
    print(
        f"median of {args.repeat} fresh processes each, in interleaved rounds; ratios to the "
        "empty start-up"
    )
    print(
        f"{'history':>10} {'restore':>9} {'seconds':>8} {'x empty':>8} {'CPU s':>6} "
        f"{'x empty':>8} {'RSS MB':>7} "
        f"{'peak MB':>8} {'ids held':>9} {'windows':>8} {'responses':>9} {'revisions':>9} "
        f"{'parts':>6} {'merging':>7}"
    )
    for r in rows:
        print(
            f"{int(r['history']):>10,} {r['mode']:>9} {r['seconds']:>8.2f} "
            f"{r['seconds'] / empty['seconds']:>8.2f} {r['cpu_seconds']:>6.2f} "
            f"{r['cpu_seconds'] / empty['cpu_seconds']:>8.2f} "
            f"{r['rss_mb']:>7.0f} {r['peak_rss_mb']:>8.0f} "
            f"{int(r['ids_in_memory']):>9,} {int(r['windows']):>8,} "
            f"{int(r['responses']):>9,} {int(r['revisions']):>9,} "
            f"{int(r['parts']):>6} {r['merges']:>7.0f}"
        )
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
