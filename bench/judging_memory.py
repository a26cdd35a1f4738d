"""What judging's reuse stores (`pipeline.core.detection.resume`) hold as a worker's history
grows: one engine fed JSON Lines files in turn (say, a simulated year each) in batches, judged
after each batch as a caught-up worker is; after each file the stores' size (every object
reachable from them, counted once), the process's resident memory and the file's CPU.

Compare trees alternately in one period: the figures are a ratio of the same run's, and the CPU
moves with the machine's load. The bench reads `pipeline` from PYTHONPATH, so it can run a
base tree's code: `PYTHONPATH=BASE python bench/judging_memory.py FILE...`.

Run: `python -m bench.judging_memory FILE [FILE ...] [--batch 2000]`.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.decode import RawMessage
from pipeline.core.detection import resume
from pipeline.core.engine import Engine, EngineConfig

KEY = b"judging-memory-bench-key-0123456"
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def reachable_bytes(root: object, seen: set[int]) -> int:
    """`sys.getsizeof` over everything reachable from `root` through containers and slots,
    each object once across calls sharing `seen` (the objects must stay alive meanwhile)."""
    total, stack = 0, [root]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif hasattr(item, "__slots__"):
            stack.extend(getattr(item, s) for s in item.__slots__ if hasattr(item, s))
        elif hasattr(item, "__dict__"):
            stack.append(item.__dict__)
    return total


def store_names() -> dict[int, str]:
    """Each store's module and variable name, by the store's id."""
    names = {}
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("pipeline"):
            continue
        for name, value in vars(module).items():
            memo = getattr(value, "_memo", value)
            if isinstance(memo, resume.Memo):
                names[id(memo)] = f"{module.__name__.rsplit('.', 1)[-1]}.{name}"
    return names


def resident_mb() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--batch", type=int, default=2_000)
    args = parser.parse_args()
    engine = Engine(EngineConfig(), KEY)
    names = store_names()
    for number, path in enumerate(args.files, 1):
        lines = path.read_bytes().splitlines()
        started = time.process_time()
        for start in range(0, len(lines), args.batch):
            batch = lines[start : start + args.batch]
            engine.process(
                [RawMessage(line, f"{number}:{start + i}") for i, line in enumerate(batch)], NOW
            )
        cpu = time.process_time() - started
        gc.collect()
        seen: set[int] = set()
        sizes = [(reachable_bytes(m._store, seen), len(m._store), m) for m in resume._stores]
        largest = sorted(sizes, key=lambda size: -size[0])[:4]
        top = ", ".join(f"{names.get(id(m), '?')} {b >> 20} MB/{n}" for b, n, m in largest)
        print(
            f"file {number}: CPU {cpu:.1f} s, RSS {resident_mb()} MB, stores "
            f"{sum(b for b, _, _ in sizes) >> 20} MB in {sum(n for _, n, _ in sizes)} entries "
            f"({top})",
            flush=True,
        )


if __name__ == "__main__":
    main()
