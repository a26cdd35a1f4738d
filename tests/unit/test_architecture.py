"""The house rules that code review alone would let slip."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"
FORBIDDEN_IN_CORE = (
    "faust",
    "kafka",
    "aiokafka",
    "clickhouse_connect",
    "chdb",
    "prometheus_client",
    "urllib",
    "http",
    "socket",
    "os",
    "time",
    "pipeline.adapters",
    "pipeline.runtime",
    "pipeline.settings",
    "pipeline.bootstrap",
    "pipeline.cli",
    "pipeline.simulation",
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_core_imports_no_transport_storage_metrics_clock_or_io() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / "core").rglob("*.py")
        for name in imported_modules(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IN_CORE)
    }
    assert not offenders


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    }
    assert readers <= {"settings.py"}


def test_the_core_reads_no_clock() -> None:
    readers = {
        str(path.relative_to(PACKAGE))
        for path in (PACKAGE / "core").rglob("*.py")
        if any(
            call in path.read_text() for call in ("datetime.now", "datetime.utcnow", "date.today")
        )
    }
    assert not readers
