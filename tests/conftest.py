"""Shared fixtures: a migrated database on SQLite and on PostgreSQL (own schema per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import Database, create_engine
from storage.migrate import upgrade_connection

POSTGRES_URL = os.environ.get(
    "AKHBAR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def _postgres_schema_database() -> tuple[Database, str]:
    """Create a fresh schema and a Database whose connections use it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        await admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    await admin.dispose()
    db = Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    return db, schema


async def _drop_schema(schema: str) -> None:
    """Drop a test schema and everything in it."""
    admin = create_engine(POSTGRES_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await admin.dispose()


async def make_database(kind: str, tmp_path: Path) -> tuple[Database, str | None]:
    """A migrated Database of `kind` ('sqlite' or 'postgres') and its schema (PostgreSQL)."""
    schema: str | None = None
    if kind == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    else:
        db, schema = await _postgres_schema_database()
    async with db.engine.begin() as conn:
        await conn.run_sync(upgrade_connection)
    return db, schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database; every test gets its own (file or schema)."""
    database, schema = await make_database(request.param, tmp_path)
    try:
        yield database
    finally:
        await database.dispose()
        if schema:
            await _drop_schema(schema)
