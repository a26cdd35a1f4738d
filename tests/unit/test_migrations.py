"""The ClickHouse migrations are package data; an install without them fails loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.adapters.clickhouse import load_migrations, migrations_folder
from pipeline.adapters.clickhouse.schema import load_baseline
from pipeline.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"


def test_the_migrations_are_read_from_the_package() -> None:
    migrations = load_migrations()
    versions = [m.version for m in migrations]

    assert versions == sorted(set(versions)) and versions[0] == 1
    assert all(m.statements for m in migrations)
    assert Path(str(migrations_folder())).resolve().is_relative_to(PACKAGE.resolve())


def test_a_folder_without_migrations_is_an_error_not_a_current_schema(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("not a migration")

    with pytest.raises(ConfigError, match="no ClickHouse migrations found"):
        load_migrations(tmp_path)


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no ClickHouse migrations found"):
        load_migrations(tmp_path / "absent")


def test_the_baseline_stands_for_migrations_of_the_package_and_only_makes_tables(
    tmp_path: Path,
) -> None:
    baseline = load_baseline()

    assert baseline is not None
    assert baseline.version in {m.version for m in load_migrations()}
    assert all(s.startswith("CREATE TABLE {db}.") for s in baseline.statements)
    assert len(baseline.statements) > 10
    (tmp_path / "0001_only.sql").write_text("CREATE TABLE {db}.t (v UInt8) ENGINE = Log;\n")
    assert load_baseline(tmp_path) is None
