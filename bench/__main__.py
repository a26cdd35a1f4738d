"""`python -m bench` (`make bench`): list the benchmarks, or run the ones named.

Each benchmark is a module of this package run on its own (`python -m bench.NAME [options]`,
its `--help` says which); some take most of an hour, so none runs unless named:
`python -m bench worker_throughput replay_throughput` runs those two with their defaults, one
after another, and exits with the first non-zero status. Helper modules (no `main`) are not
listed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def benchmarks() -> dict[str, str]:
    """Each runnable benchmark's module name and its docstring's first line."""
    found = {}
    for path in sorted(HERE.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        tree = ast.parse(path.read_text())
        runnable = any(
            isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body
        )
        if runnable:
            found[path.stem] = _summary(ast.get_docstring(tree) or "")
    return found


def _summary(doc: str, limit: int = 100) -> str:
    """The docstring's first paragraph on one line, cut at a word near `limit`."""
    text = " ".join(doc.split("\n\n")[0].split())
    if len(text) <= limit:
        return text
    return text[: text.rfind(" ", 0, limit)] + " ..."


def main(argv: list[str]) -> int:
    known = benchmarks()
    if not argv:
        width = max(map(len, known))
        for name, summary in known.items():
            print(f"{name:<{width}}  {summary}")
        print("\nrun one: python -m bench.NAME [--help]; several: python -m bench NAME...")
        return 0
    unknown = [name for name in argv if name not in known]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; `python -m bench` lists them")
        return 2
    for name in argv:
        print(f"== bench.{name}", flush=True)
        status = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
