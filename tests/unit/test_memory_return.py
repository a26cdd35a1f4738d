"""The worker's allocator choices that hand freed memory back: Arrow's pool and glibc's arenas."""

from __future__ import annotations

import platform
from collections.abc import Iterator

import pyarrow as pa
import pytest

from pipeline.adapters.clickhouse.arrow import arrow_batch, arrow_body, use_returning_memory_pool
from pipeline.bootstrap.allocator import limit_malloc_arenas

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.fixture
def default_pool() -> Iterator[pa.MemoryPool]:
    before = pa.default_memory_pool()
    yield before
    pa.set_memory_pool(before)


@pytest.mark.skipif("jemalloc" not in pa.supported_memory_backends(), reason="no jemalloc")
def test_arrow_allocates_from_jemalloc_once_chosen(default_pool: pa.MemoryPool) -> None:
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    assert use_returning_memory_pool() == "jemalloc"
    assert use_returning_memory_pool() == "jemalloc"  # idempotent
    before = pa.jemalloc_memory_pool().bytes_allocated()
    array = pa.array(["x" * 100] * 1000, type=pa.string())
    assert pa.jemalloc_memory_pool().bytes_allocated() > before
    del array


def test_the_pool_does_not_change_the_bytes_of_an_insert(default_pool: pa.MemoryPool) -> None:
    columns: dict[str, list[object]] = {"event_id": ["a", "b"], "value": [1, 2]}
    types = {"event_id": "String", "value": "Int64"}
    pa.set_memory_pool(pa.system_memory_pool())
    system = arrow_body(arrow_batch(columns, types))
    use_returning_memory_pool()
    assert arrow_body(arrow_batch(columns, types)) == system


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt")
def test_glibc_takes_the_arena_limit() -> None:
    assert limit_malloc_arenas() is True
