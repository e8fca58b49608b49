"""SQLite's heap is capped per connection and process-wide, and read for /metrics."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from bot.metrics import REGISTRY
from storage.db import Database
from storage.sqlite_memory import (
    CACHE_KIB,
    SOFT_HEAP_LIMIT_BYTES,
    memory_used,
)

ROWS = 3000
ROW_BYTES = 4000


async def _fill(db: Database) -> None:
    """Write about 12 MB of rows, then read every one of them back."""
    async with db.unit_of_work() as session:
        await session.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)"))
        await session.execute(
            text("INSERT INTO blobs (body) VALUES (:body)"),
            [{"body": f"{n:08d}" + "x" * ROW_BYTES} for n in range(ROWS)],
        )
    async with db.unit_of_work() as session:
        total = (await session.execute(text("SELECT sum(length(body)) FROM blobs"))).scalar()
    assert total == ROWS * (ROW_BYTES + 8)


async def test_every_connection_caps_its_page_cache(tmp_path: Path) -> None:
    """A pooled SQLite connection runs with the capped cache and the soft heap limit."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'caps.db'}")
    try:
        async with db.unit_of_work() as session:
            cache = (await session.execute(text("PRAGMA cache_size"))).scalar()
            limit = (await session.execute(text("PRAGMA soft_heap_limit"))).scalar()
        assert cache == -CACHE_KIB
        assert limit == SOFT_HEAP_LIMIT_BYTES
    finally:
        await db.dispose()


async def test_reading_a_large_table_keeps_sqlite_heap_near_the_cache_cap(tmp_path: Path) -> None:
    """After scanning ~12 MB, SQLite holds about one capped cache, not the whole table."""
    before = memory_used()
    assert before is not None, "sqlite3_memory_used should be readable on this build"
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'big.db'}")
    try:
        await _fill(db)
        grown = (memory_used() or 0) - before
    finally:
        await db.dispose()
    # Capped: about 1.1 MB (one 1,024 KiB cache). Uncapped, SQLite's default cache
    # (2,000 KiB) fills on this scan: about 2.1 MB.
    assert grown < 1536 * 1024, f"SQLite heap grew {grown} bytes"


async def test_many_distinct_statements_do_not_pile_up(tmp_path: Path) -> None:
    """A connection keeps `CACHED_STATEMENTS` prepared statements, not Python's default 128.

    SQLAlchemy writes a statement text per IN-list length, so a long-lived connection
    meets many distinct texts.
    """
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'statements.db'}")
    try:
        async with db.unit_of_work() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
        before = memory_used() or 0
        async with db.unit_of_work() as session:
            for length in range(1, 129):
                ids = ", ".join(str(n) for n in range(length))
                query = (
                    f"SELECT a.id, b.body FROM t a JOIN t b ON b.id = a.id WHERE a.id IN ({ids})"
                )
                await session.execute(text(query))
        grown = (memory_used() or 0) - before
    finally:
        await db.dispose()
    # `CACHED_STATEMENTS` (32) kept: ~0.54 MB here; Python's default 128: ~1.28 MB.
    assert grown < 1024 * 1024, f"SQLite heap grew {grown} bytes"


def test_sqlite_heap_is_a_metric() -> None:
    """/metrics reports SQLite's heap of this process."""
    value = REGISTRY.get_sample_value("akhbar_sqlite_memory_bytes")
    assert value is not None and value >= 0
