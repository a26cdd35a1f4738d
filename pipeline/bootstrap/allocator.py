"""glibc's malloc arenas, limited once when a long-running process starts (a composition
root's choice, like the collector's).

glibc gives each thread that allocates while another holds an arena a new arena, up to eight
per core, and an arena keeps the memory freed in it. In the worker, embedded ClickHouse's
threads, the store thread and the engine's each fill their own arena during a catch-up's
batches, and what the batches freed stays resident afterwards: measured on a running worker
after a simulated year (`bench.worker_years`), 16 arenas held 87-93 MB of which 29 MB was in
use. Two arenas: measured in docs/operations.md, "Worker memory".
"""

from __future__ import annotations

import ctypes
import ctypes.util

MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """At most `arenas` glibc malloc arenas from now on (call it before the process starts
    its threads: an arena made earlier stays). Returns whether the C library took the limit:
    False where it is not glibc (musl has no arenas to limit)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not hasattr(libc, "malloc_trim"):  # glibc has both; musl neither
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
