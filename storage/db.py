"""Async engine, session factory and the unit-of-work scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from storage.sqlite_memory import CACHED_STATEMENTS, limit_pragmas


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Turn on WAL, foreign keys and a busy timeout, and cap the page cache, per connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    for pragma in limit_pragmas():
        cursor.execute(pragma)
    cursor.close()


def json_dumps(value: Any) -> str:
    """JSON text of a column value (orjson: several times faster than `json` on story state)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a file-based SQLite database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Build an async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg)."""
    kwargs.setdefault("json_serializer", json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        ensure_sqlite_dir(url)
        kwargs.setdefault("connect_args", {"timeout": 30, "cached_statements": CACHED_STATEMENTS})
        if ":memory:" in url or url.endswith("://"):
            kwargs.setdefault("poolclass", NullPool)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """An engine plus its session factory: `unit_of_work()` gives a session (one transaction),
    `autocommit()` one whose statements commit on their own (the send budget's hot row)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        """Create the engine (lazily connecting) for `url`."""
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commit on success, roll back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncSession]:
        """A session whose every statement commits on its own (no BEGIN, no COMMIT): for
        one-statement writes on a hot row, whose lock then ends with the statement on the
        server instead of waiting for this process to send COMMIT."""
        async with self.engine.connect() as connection:
            auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=auto, expire_on_commit=False) as session:
                yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
