"""`ClickHouseSink.migrate`: the package's migrations (schema.py), applied once each and
recorded in `schema_migrations`; a new embedded database starts from the package's baseline.
Mixed into `ClickHouseSink` (pipeline/adapters/clickhouse/__init__.py), which sets what is
declared here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pipeline.adapters.clickhouse.schema import Migration, load_baseline, load_migrations
from pipeline.endpoints import ClickHouseDsn


class Migrating:
    """What `migrate` reads of the sink is declared here."""

    database: str
    dsn: ClickHouseDsn
    _command: Callable[[str], None]
    _rows: Callable[[str], Sequence[Sequence[Any]]]
    _scalar: Callable[[str], int]
    _forget_shapes: Callable[[], None]

    def migrate(self, migrations: Sequence[Migration] | None = None) -> list[str]:
        """Apply the migrations (the package's, by default) not yet applied; returns their
        names. Safe to run repeatedly; one that fails is not recorded (those before it are).
        A new embedded database starts from the package's baseline (schema.py)."""
        db = self.database
        self._command(f"CREATE DATABASE IF NOT EXISTS {db}")
        self._command(
            f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, "
            "applied_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY version"
        )
        done = {row[0] for row in self._rows(f"SELECT version FROM {db}.schema_migrations")}
        applied = []
        if migrations is None:
            migrations = load_migrations()
            if not done and self.dsn.embedded:
                applied = self._apply_baseline(migrations)
                done = {m.version for m in migrations if m.name in applied}
        for migration in migrations:
            if migration.version in done:
                continue
            statements = [statement.replace("{db}", db) for statement in migration.statements]
            statements.append(
                f"INSERT INTO {db}.schema_migrations (version, name) VALUES "
                f"({migration.version}, '{migration.name}')"
            )
            if self.dsn.embedded:  # a script: in order, stopping at the first error
                self._command(";\n".join(statements))  # (a server takes one per request)
            else:
                for statement in statements:
                    self._command(statement)
            applied.append(migration.name)
        self._forget_shapes()
        return applied

    def _apply_baseline(self, migrations: Sequence[Migration]) -> list[str]:
        """The baseline and the ledger rows of the migrations it stands for, in one script, if
        the database holds no table but the ledger; returns those migrations' names."""
        db = self.database
        baseline = load_baseline()
        if baseline is None:
            return []
        covered = [m for m in migrations if m.version <= baseline.version]
        if baseline.version not in {m.version for m in covered}:
            return []  # not the package's migrations
        if self._scalar(f"SELECT count() FROM system.tables WHERE database = '{db}'") != 1:
            return []  # tables made before (a first migration cut short): migrate one by one
        statements = [statement.replace("{db}", db) for statement in baseline.statements]
        rows = ", ".join(f"({m.version}, '{m.name}')" for m in covered)
        statements.append(f"INSERT INTO {db}.schema_migrations (version, name) VALUES {rows}")
        self._command(";\n".join(statements))
        return [m.name for m in covered]
