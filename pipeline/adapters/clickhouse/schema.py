"""The schema's migrations: package data `migrations/NNNN_name.sql` beside this module, read
with importlib.resources, so every kind of install (editable, wheel, `pip install --target`)
finds the same files; applied in version order by `ClickHouseSink.migrate`. Beside them,
`baseline_NNNN.sql`: the schema migrations up to NNNN leave, in one script, which `migrate`
runs instead of them to make a new embedded database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from pipeline.errors import ConfigError

_PACKAGE = "pipeline.adapters.clickhouse"
_MIGRATION_NAME = re.compile(r"[0-9]{4}_[A-Za-z0-9_]+\.sql")
_BASELINE_NAME = re.compile(r"baseline_([0-9]{4})\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Baseline:
    """The schema that every migration up to `version` leaves, made by `statements` alone."""

    version: int
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
    return [
        Migration(int(entry.name[:4]), entry.name.removesuffix(".sql"), _statements(entry))
        for entry in found
    ]


def load_baseline(folder: Traversable | None = None) -> Baseline | None:
    """The latest `baseline_NNNN.sql` of the folder, or None when it holds none."""
    folder = folder or migrations_folder()
    found = (
        sorted(
            (int(m.group(1)), entry)
            for entry in folder.iterdir()
            if (m := _BASELINE_NAME.fullmatch(entry.name))
        )
        if folder.is_dir()
        else []
    )
    if not found:
        return None
    version, entry = found[-1]
    return Baseline(version, _statements(entry))


def _statements(entry: Traversable) -> tuple[str, ...]:
    """A script's statements: `--` comment lines left out, split on `;` at line ends."""
    text = "\n".join(
        line
        for line in entry.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("--")
    )
    return tuple(s.strip() for s in text.split(";\n") if s.strip().rstrip(";"))
