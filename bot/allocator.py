"""glibc malloc settings for the long-running bot process.

Two settings, both measured with `benchmarks/soak.py`:

Arena cap. glibc gives each new thread that allocates its own malloc arena, up to eight per core.
A running bot has about twenty threads (the loop's default executor running feed parsing,
SQLite and extraction, aiosqlite's connection threads, Tantivy's indexing threads), and
memory freed inside a thread's arena stays mapped unless it lies at the arena's top. In
`benchmarks/soak.py` the bytes in use stayed flat while the free bytes kept in arenas grew
by about 0.7 MiB a minute; with two arenas the free bytes stayed under 10 MiB and RSS
levelled off after a few minutes. Threads then share arenas; their allocations serialise
on arena locks, which costs nothing measurable here (Python code holds the GIL anyway).

Periodic trim. Even with two arenas, chunks freed below an arena's top stay resident until
glibc reuses them; `malloc_trim(0)` hands their whole pages back (madvise), which
it does on its own only for the main arena's top. Called every `TRIM_SECONDS` in a
worker thread (it takes each arena's lock in turn, never the event loop), it took
4-6 MiB off the RSS at each call in the soak.

An operator's `MALLOC_ARENA_MAX` (read by glibc itself at start-up) is left as it is.
Elsewhere than glibc (musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from collections.abc import Mapping
from typing import Final

log = logging.getLogger("akhbar.allocator")

M_ARENA_MAX: Final = -8  # mallopt parameter number, glibc's malloc.h
ARENA_MAX: Final = 2
ARENA_MAX_ENV: Final = "MALLOC_ARENA_MAX"
TRIM_SECONDS: Final = 60.0


def arena_cap_wanted(environ: Mapping[str, str]) -> bool:
    """Whether to cap arenas: not when the operator set MALLOC_ARENA_MAX."""
    return ARENA_MAX_ENV not in environ


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (has `gnu_get_libc_version` and `mallopt`)."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    return libc


def cap_malloc_arenas(environ: Mapping[str, str] = os.environ) -> bool:
    """Cap glibc's malloc arenas at `ARENA_MAX`; True when the cap was set.

    Call it before the process starts threads: glibc fixes its arena limit the first time a
    ninth arena would be made, and arenas made before the call stay.
    """
    if not arena_cap_wanted(environ):
        return False
    libc = _libc()
    if libc is None:
        return False
    if libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(ARENA_MAX)) != 1:
        log.warning("mallopt(M_ARENA_MAX, %d) was refused", ARENA_MAX)
        return False
    return True


def trim_malloc() -> bool:
    """Return the free pages of every malloc arena to the system; True when any were."""
    libc = _libc()
    return libc is not None and libc.malloc_trim(ctypes.c_size_t(0)) == 1
