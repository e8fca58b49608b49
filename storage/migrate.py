"""Run Alembic migrations programmatically (used by `akhbar db upgrade` and the tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (blocking; call from sync code)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at `url` to `revision` (blocking)."""
    command.downgrade(alembic_config(url), revision)


def revisions(url: str = "sqlite+aiosqlite://") -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Upgrade from async code (runs Alembic's own event loop in a worker thread)."""
    await asyncio.to_thread(upgrade, url, revision)


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Upgrade through an already open synchronous connection (tests, one transaction)."""
    config = alembic_config(str(connection.engine.url))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def downgrade_connection(connection: Connection, revision: str) -> None:
    """Downgrade through an already open synchronous connection."""
    config = alembic_config(str(connection.engine.url))
    config.attributes["connection"] = connection
    command.downgrade(config, revision)
