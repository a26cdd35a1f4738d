"""The house rules that code review alone would let slip: the layering of docs/architecture.md."""

from __future__ import annotations

import ast
from collections.abc import Iterator
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
    "threading",
    "asyncio",
    "subprocess",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module `tree` imports when it runs (function-local imports included; those under
    `if TYPE_CHECKING:` are not run, so they are left out)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            yield from (i for n in node.orelse for i in _imports(n, module, is_package))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                # `from package import module` needs the module (the package is half-imported
                # already when a module inside it runs); any other name needs the package.
                yield submodule if submodule in MODULES else base
        else:
            yield from _imports(node, module, is_package)


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    return set(_imports(tree, module, path.name == "__init__.py"))


GRAPH = {module: imports_of(module) for module in MODULES}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_core_imports_nothing_outside_the_core() -> None:
    offenders = {
        f"{module}: {name}"
        for module, names in GRAPH.items()
        if _within(module, "pipeline.core")
        for name in names
        if (_within(name, "pipeline") and not _within(name, "pipeline.core"))
        or any(_within(name, bad) for bad in FORBIDDEN_IN_CORE)
    }
    assert not offenders


def _adapter(name: str) -> str | None:
    """The adapter a module belongs to: `pipeline.adapters.<adapter>[.…]`."""
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["pipeline", "adapters"] else None


def test_adapters_never_import_each_other() -> None:
    offenders = {
        f"{module}: {name}"
        for module, names in GRAPH.items()
        if _adapter(module) is not None
        for name in names
        if _adapter(name) is not None and _adapter(name) != _adapter(module)
    }
    assert not offenders


def test_adapters_import_no_runtime_roots_or_commands() -> None:
    above = ("pipeline.runtime", "pipeline.bootstrap", "pipeline.cli", "pipeline.report")
    offenders = {
        f"{module}: {name}"
        for module, names in GRAPH.items()
        if _within(module, "pipeline.adapters")
        for name in names
        if any(_within(name, layer) for layer in above)
    }
    assert not offenders


def test_the_runtime_never_imports_the_composition_roots_or_the_commands() -> None:
    offenders = {
        f"{module}: {name}"
        for module, names in GRAPH.items()
        if not (_within(module, "pipeline.bootstrap") or _within(module, "pipeline.cli"))
        for name in names
        if _within(name, "pipeline.bootstrap") or _within(name, "pipeline.cli")
    }
    assert not offenders


def test_only_the_commands_import_the_composition_roots() -> None:
    importers = {
        module
        for module, names in GRAPH.items()
        if any(_within(name, "pipeline.bootstrap") for name in names)
    }
    assert all(_within(m, "pipeline.cli") or _within(m, "pipeline.bootstrap") for m in importers)


def test_there_is_no_import_cycle() -> None:
    edges = {m: {n for n in names if n in MODULES and n != m} for m, names in GRAPH.items()}
    cycles = [sorted(component) for component in _strongly_connected(edges) if len(component) > 1]
    assert not cycles


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def test_the_architecture_test_sees_the_whole_package() -> None:
    assert "pipeline.core.detection.stats" in MODULES
    assert "pipeline.core.engine" in GRAPH["pipeline.runtime.batching"]
    assert "pipeline.core.detection.base" in GRAPH["pipeline.core.detection.unit"]


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


def test_unit_tests_start_no_process_and_open_no_database() -> None:
    """Tests that need chDB, a subprocess or a broker belong in tests/integration."""
    unit_tests = Path(__file__).resolve().parent
    offenders = set()
    for path in unit_tests.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders |= {
                f"{path.name}: {name}"
                for name in names
                if _within(name, "subprocess") or _within(name, "chdb")
            }
            if isinstance(node, ast.Name) and node.id == "ClickHouseSink":
                offenders.add(f"{path.name}: ClickHouseSink")
    assert not offenders
