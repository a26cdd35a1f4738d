"""Migration 0400: the partitioned tables merge a partition whole once it is quiet."""

from __future__ import annotations

from pathlib import Path

from pipeline.adapters.clickhouse import ClickHouseSink

PARTITIONED = ("patient_feedback", "incident_reports", "target_metrics", "unit_windows")


def _create_queries(sink: ClickHouseSink) -> dict[str, str]:
    rows = sink.query_dicts(
        "SELECT name, partition_key, create_table_query FROM system.tables "
        "WHERE database = {db:String}",
        {"db": sink.database},
    )
    return {r["name"]: r["create_table_query"] for r in rows if r["partition_key"]}


def test_every_partitioned_table_merges_its_quiet_partitions_whole(tmp_path: Path) -> None:
    sink = ClickHouseSink(f"chdb://{tmp_path / 'ch'}", "merges", "week")
    try:
        sink.migrate()
        queries = _create_queries(sink)
    finally:
        sink.close()
    assert set(PARTITIONED) <= set(queries)
    for name, query in queries.items():
        assert "min_age_to_force_merge_seconds = 3600" in query, name
        assert "min_age_to_force_merge_on_partition_only = 1" in query, name
