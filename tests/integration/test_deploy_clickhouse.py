"""ClickHouse for production, checked on the real engine (chDB): the users' settings and grants,
the retention migration, and the replicated/sharded variant of the schema.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink, load_migrations

REPO = Path(__file__).resolve().parents[2]
USERS = REPO / "deploy" / "clickhouse" / "users.d" / "quality-users.xml"
SERVER_CONFIG = REPO / "deploy" / "clickhouse" / "config.d" / "quality.xml"
REPLICATED = REPO / "deploy" / "clickhouse" / "replicated"

EVENT_TTL_DAYS = {
    "incident_reports": ("ingested_at", 400),
    "target_metrics": ("ingested_at", 400),
    "patient_feedback": ("ingested_at", 400),
    "alert_responses": ("ingested_at", 1096),
    "rejected_events": ("received_at", 90),
}
NO_TTL = {
    "unit_windows",
    "mdc_summary",
    "mdc_targets",
    "bright_spots",
    "verdicts",
    "alerts",
    "alert_history",
    "alert_deliveries",
    "response_ledger",
    "incident_revisions",
    "judgements",
    "org_progress",
    "period_events",
    "schema_migrations",
}


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseSink]:
    """A migrated embedded ClickHouse (closed after this module: one chDB path at a time)."""
    path = tmp_path_factory.mktemp("chdb-deploy")
    store = ClickHouseSink(f"chdb://{path}", "quality", "week")
    store.migrate()
    yield store
    store.close()


def _rows(sink: ClickHouseSink, sql: str, **parameters: Any) -> list[dict[str, Any]]:
    return sink.query_dicts(sql, parameters or None)


def _users() -> ET.Element:
    return ET.parse(USERS).getroot()


# --------------------------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------------------------


def test_a_writer_a_migrator_and_a_read_only_user() -> None:
    root = _users()
    users = {user.tag: user for user in root.findall("users/*")}
    assert set(users) == {"pipeline", "pipeline_migrator", "grafana"}
    profiles = {p.tag: p for p in root.findall("profiles/*")}
    writer = profiles[users["pipeline"].findtext("profile", "")]
    assert users["pipeline_migrator"].findtext("profile") == users["pipeline"].findtext("profile")
    reader = profiles[users["grafana"].findtext("profile", "")]
    assert writer.findtext("readonly") == "0"
    assert reader.findtext("readonly") == "1"
    # The Grafana plugin sets max_execution_time on every query: allowed, within bounds.
    constraint = reader.find("constraints/max_execution_time")
    assert constraint is not None and constraint.find("changeable_in_readonly") is not None
    config = ET.parse(SERVER_CONFIG).getroot()
    assert config.findtext("access_control_improvements/settings_constraints_replace_previous") == (
        "true"
    )
    for user in users.values():
        password = user.find("password")
        assert password is not None and password.get("from_env"), "passwords come from env"
        assert not (password.text or "").strip(), "no password in the file"
        assert user.findtext("access_management") == "0"


def _grants(user: str) -> list[str]:
    return [q.text or "" for q in _users().findall(f"users/{user}/grants/query")]


def test_grants_are_limited_to_the_quality_database() -> None:
    for user in ("pipeline", "pipeline_migrator", "grafana"):
        grants = _grants(user)
        assert grants
        for grant in grants:
            assert grant.rstrip().endswith(" ON quality.*"), grant
    reader = " ".join(_grants("grafana"))
    for word in ("INSERT", "ALTER", "CREATE", "DROP", "TRUNCATE"):
        assert word not in reader
    writer = " ".join(_grants("pipeline"))
    for word in ("CREATE DATABASE", "CREATE TABLE", "ALTER TABLE", "INSERT", "SELECT"):
        assert word in writer
    assert "DROP" not in writer


def _privileges(user: str) -> set[str]:
    granted: set[str] = set()
    for grant in _grants(user):
        match = re.fullmatch(r"\s*GRANT (.+) ON quality\.\*\s*", grant)
        assert match, grant
        granted |= {p.strip() for p in match.group(1).split(",")}
    return granted


def _needed(statement: str) -> set[str]:
    """What ClickHouse checks before running `statement` (a migration's kinds of statement;
    EXCHANGE TABLES checks SELECT and DROP TABLE on each table, CREATE TABLE and INSERT as the
    target of the other)."""
    text = " ".join(statement.upper().split())
    reads = {"SELECT"} if " SELECT " in f" {text} " else set()
    for start, needed in (
        ("CREATE DATABASE", {"CREATE DATABASE"}),
        ("CREATE TABLE", {"CREATE TABLE"} | ({"INSERT"} if reads else set())),
        ("ALTER TABLE", {"ALTER TABLE"}),
        ("INSERT INTO", {"INSERT"}),
        ("DROP TABLE", {"DROP TABLE"}),
        ("EXCHANGE TABLES", {"SELECT", "DROP TABLE", "CREATE TABLE", "INSERT"}),
        ("OPTIMIZE TABLE", {"OPTIMIZE"}),
    ):
        if text.startswith(start):
            return needed | reads
    raise AssertionError(f"a kind of migration statement this test does not know: {text[:60]}")


def test_the_migrator_may_run_every_migration_and_the_workers_user_may_not_drop() -> None:
    """`pipeline migrate` runs as pipeline_migrator (docker-compose.yml): its grants cover
    every statement of every migration, besides the bookkeeping `migrate` does itself; the
    workers' user lacks only what the rebuilding migrations need (DROP TABLE)."""
    migrator, writer = _privileges("pipeline_migrator"), _privileges("pipeline")
    needed = {"CREATE DATABASE", "CREATE TABLE", "SELECT", "INSERT"}  # schema_migrations
    for migration in load_migrations():
        for statement in migration.statements:
            needed |= _needed(statement)
    assert needed <= migrator, needed - migrator
    assert "DROP TABLE" in needed  # 0021 and 0331 rebuild tables
    assert migrator - writer == {"DROP TABLE"}


def test_grants_and_settings_are_real_clickhouse(sink: ClickHouseSink) -> None:
    for user in ("pipeline", "pipeline_migrator", "grafana"):
        for grant in _grants(user):
            (row,) = _rows(sink, "SELECT formatQuery({q:String}) AS q", q=f"{grant} TO {user}")
            assert row["q"].startswith("GRANT ")
    known = {r["name"] for r in _rows(sink, "SELECT name FROM system.settings")}
    for profile in _users().findall("profiles/*"):
        names = {child.tag for child in profile if child.tag != "constraints"}
        names |= {child.tag for child in profile.findall("constraints/*")}
        assert names <= known, f"{profile.tag}: unknown settings {names - known}"


# --------------------------------------------------------------------------------------------
# Retention
# --------------------------------------------------------------------------------------------


def test_retention_applies_on_the_embedded_engine(sink: ClickHouseSink) -> None:
    applied = {r["name"] for r in _rows(sink, "SELECT name FROM quality.schema_migrations")}
    assert "0004_retention" in applied
    tables = {
        r["name"]: r["engine_full"]
        for r in _rows(
            sink, "SELECT name, engine_full FROM system.tables WHERE database = 'quality'"
        )
    }
    assert set(tables) == set(EVENT_TTL_DAYS) | NO_TTL
    for table, (column, days) in EVENT_TTL_DAYS.items():
        assert f"TTL toDateTime({column}) + toIntervalDay({days})" in tables[table], table
        assert "ttl_only_drop_parts = 1" in tables[table], table
    for table in NO_TTL:
        assert " TTL " not in tables[table], f"{table} is an aggregate: no TTL"


def test_retention_counts_from_storage_not_event_time(sink: ClickHouseSink) -> None:
    """A replay of years-old events is kept; what was stored 400 days ago goes."""
    client = sink._client
    insert = (
        "INSERT INTO quality.patient_feedback (event_id, org_id, unit_id, occurred_at, source, "
        "rating, ingested_at) VALUES (generateUUIDv4(), 'RXA', {unit:String}, {at:String}, "
        "'test', 1, now64(3) - toIntervalDay({age:UInt32}))"
    )
    for unit, at, age in (
        ("old-event", "2016-01-05 10:00:00", 0),
        ("stored-long-ago", "2016-02-05 10:00:00", 401),
        ("stored-a-year-ago", "2016-03-05 10:00:00", 399),
    ):
        client.command(insert, parameters={"unit": unit, "at": at, "age": age})
    client.command("OPTIMIZE TABLE quality.patient_feedback FINAL")
    kept = {r["unit_id"] for r in _rows(sink, "SELECT unit_id FROM quality.patient_feedback")}
    assert kept == {"old-event", "stored-a-year-ago"}


def test_migrating_again_changes_nothing(sink: ClickHouseSink) -> None:
    assert sink.migrate() == []


# --------------------------------------------------------------------------------------------
# The replicated / sharded variant
# --------------------------------------------------------------------------------------------


def _statements(path: Path) -> list[str]:
    text = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    return [s.strip().rstrip(";") for s in text.split(";\n") if s.strip().rstrip(";")]


def _migration_tables() -> set[str]:
    return {
        m.group(1)
        for migration in load_migrations()
        for statement in migration.statements
        if (m := re.match(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)", statement))
    }


def test_replicated_ddl_parses(sink: ClickHouseSink) -> None:
    files = sorted(REPLICATED.glob("*.sql"))
    assert [f.name for f in files] == [
        "01_local_tables.sql",
        "02_distributed_tables.sql",
        "03_schema_migrations.sql",
    ]
    for path in files:
        for statement in _statements(path):
            (row,) = _rows(sink, "SELECT formatQuery({q:String}) AS q", q=statement)
            assert row["q"]
            if statement.startswith("CREATE"):
                assert "ON CLUSTER '{cluster}'" in statement, statement[:80]


def _single_node(statement: str, database: str) -> str:
    """A replicated local table's DDL as the single-node table it shards."""
    statement = statement.replace(" ON CLUSTER '{cluster}'", "")
    statement = re.sub(r"quality\.(\w+)_local", rf"{database}.\1", statement)
    statement = re.sub(
        r"ReplicatedReplacingMergeTree\('[^']*', '\{replica\}'(?:, (\w+))?\)",
        lambda m: f"ReplacingMergeTree({m.group(1) or ''})".replace("()", ""),
        statement,
    )
    return statement.replace(
        "replicated_deduplication_window", "non_replicated_deduplication_window"
    )


def test_replicated_tables_match_the_migrations(sink: ClickHouseSink) -> None:
    local = [s for s in _statements(REPLICATED / "01_local_tables.sql") if "_local" in s]
    names = {re.search(r"quality\.(\w+)_local", s).group(1) for s in local}  # type: ignore[union-attr]
    assert names == _migration_tables()
    sink._client.command("CREATE DATABASE IF NOT EXISTS replicated_check")
    for statement in local:
        sink._client.command(_single_node(statement, "replicated_check"))

    def shape(database: str) -> dict[str, Any]:
        columns = _rows(
            sink,
            "SELECT table, name, type, position, default_expression, compression_codec "
            "FROM system.columns WHERE database = {db:String} ORDER BY table, position",
            db=database,
        )
        tables = _rows(
            sink,
            "SELECT name, engine, sorting_key, partition_key, primary_key, "
            "replaceRegexpOne(engine_full, '.*?( TTL .*?)? SETTINGS.*', '\\\\1') AS ttl "
            "FROM system.tables WHERE database = {db:String} AND name IN {names:Array(String)} "
            "ORDER BY name",
            db=database,
            names=sorted(names),
        )
        return {"columns": [{k: v for k, v in c.items()} for c in columns if c["table"] in names],
                "tables": tables}  # fmt: skip

    assert shape("replicated_check") == shape("quality")


def test_distributed_tables_shard_a_unit_onto_one_shard() -> None:
    local = {
        re.search(r"quality\.(\w+)_local", s).group(1)  # type: ignore[union-attr]
        for s in _statements(REPLICATED / "01_local_tables.sql")
        if "_local" in s
    }
    distributed = {}
    for statement in _statements(REPLICATED / "02_distributed_tables.sql"):
        match = re.search(
            r"quality\.(\w+) ON CLUSTER .*"
            r"Distributed\('\{cluster\}', quality, (\w+)_local, (.+)\)$",
            statement,
            re.S,
        )
        assert match, statement
        assert match.group(1) == match.group(2)
        distributed[match.group(1)] = match.group(3)
    assert set(distributed) == local
    for table, key in distributed.items():
        if table in {"rejected_events", "alert_deliveries", "judgements", "org_progress"}:
            continue  # no unit
        assert key == "cityHash64(org_id, unit_id)", table


def test_the_cluster_ledger_covers_every_migration() -> None:
    text = (REPLICATED / "03_schema_migrations.sql").read_text()
    marked = {(int(v), n) for v, n in re.findall(r"\((\d+), '(\w+)'\)", text)}
    assert marked == {(m.version, m.name) for m in load_migrations()}
