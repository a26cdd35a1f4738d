"""Benchmark: the Grafana dashboards' ClickHouse queries on a large synthetic trust.

Generates ~25 million patient_feedback rows (and the matching incidents, target reports, unit
windows, alerts and responses) into a chDB directory (`tests.support.grafana_data.generate`),
runs every panel's query (expanded as Grafana would: `tests.support.grafana`) three times and
prints the median time per panel and the data size on disk.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.grafana import (
    clickhouse_targets,
    context_for,
    expand,
    load_dashboards,
    render,
)
from tests.support.grafana_data import Scale, generate


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


REFERENCE_QUERIES = {
    "`pipeline stats`: distinct event ids per table": (
        "SELECT (SELECT uniqExact(event_id) FROM {db}.patient_feedback), "
        "(SELECT uniqExact(event_id) FROM {db}.incident_reports), "
        "(SELECT uniqExact(event_id) FROM {db}.target_metrics), "
        "(SELECT uniqExact(event_id) FROM {db}.alert_responses)"
    ),
    "one unit's weekly positive share from raw feedback": (
        "SELECT toStartOfWeek(occurred_at, 1) AS week, "
        "countIf(rating <= 2) / countIf(rating <= 5) AS positive_share "
        "FROM {db}.patient_feedback FINAL WHERE org_id = 'RAA' AND unit_id = 'ED' "
        "GROUP BY week ORDER BY week"
    ),
    "positive share per unit-week for the whole trust from raw feedback": (
        "SELECT org_id, unit_id, toStartOfWeek(occurred_at, 1) AS week, "
        "countIf(rating <= 2) / countIf(rating <= 5) AS positive_share "
        "FROM {db}.patient_feedback GROUP BY org_id, unit_id, week"
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="chDB directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--small", action="store_true", help="the test's scale, for a dry run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import clickhouse_connect

    from pipeline.adapters.clickhouse import ClickHouseSink

    scale = Scale.small() if args.small else Scale.bench()
    path = args.dir or Path(tempfile.mkdtemp(prefix="bench-dashboards-"))
    dsn = f"chdb://{path}"
    database = "quality"
    try:
        sink = ClickHouseSink(dsn, database, "week")
        sink.migrate()
        sink.close()
        client = clickhouse_connect.get_client(dsn=dsn)
        print(f"generating {scale} into {path} ...", file=sys.stderr)
        for table, seconds in generate(client, database, scale).items():
            print(f"  {table:<18} {seconds:7.1f} s", file=sys.stderr)
        for table in ("patient_feedback", "incident_reports"):
            client.command(f"OPTIMIZE TABLE {database}.{table} FINAL")

        def run(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in client.query(sql).result_rows]

        counts = run(
            "SELECT table, sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes) "
            f"FROM system.parts WHERE database = '{database}' AND active GROUP BY table "
            "ORDER BY table"
        )
        print("\n| table | rows | on disk | uncompressed |\n|---|---:|---:|---:|")
        for table, rows, on_disk, raw in counts:
            print(f"| {table} | {rows:,} | {_human(on_disk)} | {_human(raw)} |")
        active = sum(on_disk for _, _, on_disk, _ in counts)
        print(
            f"\nactive parts on disk: {_human(active)} (the directory: {_human(_dir_size(path))}, "
            "with the parts merged away by OPTIMIZE not yet removed)\n"
        )

        time_from, time_to = scale.start, scale.end
        dashboards = load_dashboards()
        print("| dashboard | query | rows | median ms | max ms |\n|---|---|---:|---:|---:|")

        def timed(label: str, dashboard_uid: str, sql: str) -> None:
            times, rows = [], 0
            for _ in range(args.repeat):
                began = time.perf_counter()
                rows = len(run(sql))
                times.append((time.perf_counter() - began) * 1000)
            print(
                f"| {dashboard_uid} | {label} | {rows:,} | {statistics.median(times):.0f} | "
                f"{max(times):.0f} |"
            )

        for dashboard in dashboards.values():
            # A variable's query refers only to the variables before it, so the opening
            # state of the whole dashboard expands it as Grafana would.
            ctx = context_for(dashboard, time_from, time_to, run, interval_s=86400)
            for variable in dashboard.get("templating", {}).get("list", []):
                if variable.get("type") == "query":
                    sql = expand(variable["query"]["rawSql"], ctx)
                    timed(f"variable ${variable['name']}", dashboard["uid"], sql)
        for target in clickhouse_targets(dashboards):
            dashboard = next(d for d in dashboards.values() if d["uid"] == target.dashboard_uid)
            ctx = context_for(dashboard, time_from, time_to, run, interval_s=86400)
            timed(target.panel_title, target.dashboard_uid, render(target, dashboard, ctx, run))
        # For contrast, queries on the raw events (the panels read the aggregates).
        for label, sql in REFERENCE_QUERIES.items():
            timed(label, "(raw events)", sql.format(db=database))
        client.close()
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
