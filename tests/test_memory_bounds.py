"""What keeps a long-running bot's memory from growing (issue #11, `benchmarks/soak.py`).

The push composer's context cache holds only unexpired entries, and the bot process caps
glibc's malloc arenas so memory freed in its many threads is reused (checked in a fresh
interpreter: arenas are per process and fixed once made).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest

from bot import allocator, pushes
from bot.domain import Article
from bot.ingest.offloop import OffLoop, shutdown_workers
from bot.pushes import CONTEXT_TTL_S, PushComposer
from tests.e2e import REPO_ROOT


class FakeStories:
    """Related headlines for any article: ten others, each with a body."""

    async def related(self, article: Article, limit: int) -> list[Article]:
        """`limit` articles other than `article`."""
        return [
            Article(id=1000 + n, source_id=None, url=f"https://r.test/{n}", title=f"Related {n}")
            for n in range(limit)
        ]


def article(n: int) -> Article:
    """A pushed article of no story."""
    return Article(id=n, source_id=None, url=f"https://a.test/{n}", title=f"Article {n}")


async def test_push_contexts_older_than_their_ttl_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each article pushed keeps its context for `CONTEXT_TTL_S`; a later store drops it
    (before, expired contexts stayed until 512 had piled up)."""
    now = [1000.0]
    monkeypatch.setattr(pushes.time, "monotonic", lambda: now[0])
    composer = PushComposer(db=None, stories=FakeStories())  # type: ignore[arg-type]
    for n in range(1, 6):
        await composer._push_context(article(n), None, {n})
    assert composer.cached == 5
    now[0] += CONTEXT_TTL_S
    await composer._push_context(article(6), None, {6})
    assert composer.cached == 1
    now[0] += CONTEXT_TTL_S / 2
    await composer._push_context(article(7), None, {7})
    assert composer.cached == 2


def test_an_operators_arena_setting_is_left_alone() -> None:
    """MALLOC_ARENA_MAX in the environment wins over the bot's own cap."""
    assert allocator.arena_cap_wanted({})
    assert not allocator.arena_cap_wanted({"MALLOC_ARENA_MAX": "8"})
    assert not allocator.cap_malloc_arenas({"MALLOC_ARENA_MAX": "8"})


def arenas_with_busy_threads(count: int = 12) -> int:
    """malloc arenas of this process while `count` threads hold malloc'd blocks at once."""
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    ready = threading.Barrier(count + 1)
    done = threading.Event()

    def work() -> None:
        """Allocate outside pymalloc (blocks over 512 bytes), then wait."""
        kept = [bytearray(4096) for _ in range(64)]
        ready.wait()
        done.wait()
        del kept

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    ready.wait()
    try:
        with tempfile.NamedTemporaryFile(suffix=".xml") as out:
            stream = libc.fopen(out.name.encode(), b"w")
            libc.malloc_info(0, ctypes.c_void_p(stream))
            libc.fclose(ctypes.c_void_p(stream))
            return Path(out.name).read_text().count("<heap nr=")
    finally:
        done.set()
        for thread in threads:
            thread.join()


ARENAS_OF_BUSY_THREADS = textwrap.dedent(
    """
    import sys
    from bot.allocator import cap_malloc_arenas
    capped = cap_malloc_arenas() if sys.argv[1] == "cap" else False  # before any thread
    from tests.test_memory_bounds import arenas_with_busy_threads
    print(capped, arenas_with_busy_threads())
    """
)


def arenas_of_twelve_threads(cap: bool) -> tuple[str, int]:
    """(whether capped, malloc arenas) of a fresh interpreter with twelve allocating threads."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", ARENAS_OF_BUSY_THREADS, "cap" if cap else "default"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    capped, heaps = done.stdout.split()
    return capped, int(heaps)


@pytest.mark.skipif(allocator._libc() is None, reason="glibc's malloc only")
def test_the_bot_process_caps_malloc_arenas() -> None:
    """Twelve threads allocating at once share `ARENA_MAX` arenas, not one each."""
    assert arenas_of_twelve_threads(cap=False)[1] > allocator.ARENA_MAX  # what glibc does
    capped, heaps = arenas_of_twelve_threads(cap=True)
    assert capped == "True"
    assert heaps <= allocator.ARENA_MAX


@pytest.mark.skipif(allocator._libc() is None, reason="glibc's malloc only")
async def test_worker_processes_cap_malloc_arenas_too() -> None:
    """The ingest worker process (spawned, so a fresh allocator) shares `ARENA_MAX` arenas."""
    offloop = OffLoop(heavy_chars=1, processes=1)
    try:
        heaps = await offloop.run(1, arenas_with_busy_threads)
    finally:
        shutdown_workers()
    assert heaps <= allocator.ARENA_MAX


FREED_BELOW_THE_TOP = textwrap.dedent(
    """
    import sys
    from bot.allocator import trim_malloc
    def rss_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    blocks = [bytearray(64 * 1024) for _ in range(1024)]  # 64 MiB, below mmap's threshold
    del blocks[:-1]  # all but the last, which pins the arena's top: nothing trims by itself
    before = rss_kib()
    trimmed = trim_malloc() if sys.argv[1] == "trim" else False
    print(trimmed, before - rss_kib())
    """
)


def released_after_free(trim: bool) -> tuple[str, int]:
    """(trim's answer, KiB of RSS given back) after freeing 64 MiB below the heap's top."""
    done = subprocess.run(
        [sys.executable, "-c", FREED_BELOW_THE_TOP, "trim" if trim else "keep"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    trimmed, released = done.stdout.split()
    return trimmed, int(released)


@pytest.mark.skipif(allocator._libc() is None, reason="glibc's malloc only")
def test_trim_hands_freed_heap_pages_back() -> None:
    """Memory freed below a live block stays resident until `trim_malloc` returns it."""
    assert released_after_free(trim=False)[1] < 8 * 1024
    trimmed, released = released_after_free(trim=True)
    assert trimmed == "True"
    assert released > 48 * 1024
