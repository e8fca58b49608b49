"""SQLite's own heap in this process: a reading for metrics, and caps on what it keeps.

Each pooled SQLite connection keeps a page cache (2 MiB by default) that fills as the
database grows, and SQLite never gives it back while the connection lives. Akhbar caps
every connection's cache (`CACHE_KIB`) and sets a process-wide soft heap limit
(`SOFT_HEAP_LIMIT_BYTES`) past which SQLite recycles cache pages instead of allocating
more. Pages it drops are still in the kernel's file cache, so a re-read costs a copy,
not a disk read.

Each connection also keeps its prepared statements (Python's `sqlite3` keeps 128 by
default), 10-40 KiB each; SQLAlchemy writes a new statement text for every length of an
IN list, so over hours a connection's cache fills with them. `CACHED_STATEMENTS` keeps the
most recently used ones; an evicted one is prepared again (tens of microseconds).
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Any, Final

CACHE_KIB: Final = 1024
SOFT_HEAP_LIMIT_BYTES: Final = 12 * 1024 * 1024
CACHED_STATEMENTS: Final = 32


@lru_cache(maxsize=1)
def _memory_used_function() -> Any:
    """`sqlite3_memory_used` of the SQLite library Python's `sqlite3` is linked with, or None."""
    try:
        import _sqlite3

        library = ctypes.CDLL(_sqlite3.__file__)
        function = library.sqlite3_memory_used
    except (ImportError, OSError, AttributeError):
        return None
    function.restype = ctypes.c_int64
    function.argtypes = []
    return function


def memory_used() -> int | None:
    """Bytes SQLite has allocated in this process (all connections), or None if unreadable."""
    function = _memory_used_function()
    return None if function is None else int(function())


def limit_pragmas(cache_kib: int = CACHE_KIB, heap_limit: int = SOFT_HEAP_LIMIT_BYTES) -> list[str]:
    """The PRAGMAs that cap one connection's page cache and the process's SQLite heap."""
    return [f"PRAGMA cache_size=-{int(cache_kib)}", f"PRAGMA soft_heap_limit={int(heap_limit)}"]
