"""The schema's migrations: package data `migrations/NNNN_name.sql` beside this module, read
with importlib.resources, so every kind of install (editable, wheel, `pip install --target`)
finds the same files; applied in version order by `ClickHouseSink.migrate`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from pipeline.errors import ConfigError

_PACKAGE = "pipeline.adapters.clickhouse"
_MIGRATION_NAME = re.compile(r"[0-9]{4}_[A-Za-z0-9_]+\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def migrations_folder() -> Traversable:
    """The package's `migrations/` folder (package data)."""
    return resources.files(_PACKAGE).joinpath("migrations")


def load_migrations(folder: Traversable | None = None) -> list[Migration]:
    """Ordered DDL files `NNNN_name.sql`; statements split on `;` at line ends.

    Raises ConfigError when the folder holds none: an install without its migrations must not
    pass for one whose schema is current.
    """
    folder = folder or migrations_folder()
    found = (
        sorted(
            (entry for entry in folder.iterdir() if _MIGRATION_NAME.fullmatch(entry.name)),
            key=lambda entry: entry.name,
        )
        if folder.is_dir()
        else []
    )
    if not found:
        raise ConfigError(f"no ClickHouse migrations found in {folder}: the install is incomplete")
    migrations = []
    for entry in found:
        text = "\n".join(
            line
            for line in entry.read_text(encoding="utf-8").splitlines()
            if not line.lstrip().startswith("--")
        )
        statements = tuple(s.strip() for s in text.split(";\n") if s.strip().rstrip(";"))
        migrations.append(
            Migration(int(entry.name[:4]), entry.name.removesuffix(".sql"), statements)
        )
    return migrations
