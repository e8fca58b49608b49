"""Migrations: the stairway (up/down/up per revision) and models == migrations, on both engines."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.fts import include_object
from storage.migrate import downgrade_connection, revisions, upgrade_connection
from storage.models import Base
from tests.conftest import _drop_schema, _postgres_schema_database

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def _empty_database(kind: str, tmp_path: Path) -> tuple[Database, str | None]:
    """An empty (unmigrated) database of the given kind."""
    if kind == "sqlite":
        return Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"), None
    return await _postgres_schema_database()


def _stairway(connection: Connection) -> None:
    """Upgrade one step, downgrade it, upgrade it again, for every revision."""
    previous = "base"
    for revision in revisions():
        upgrade_connection(connection, revision)
        downgrade_connection(connection, previous)
        upgrade_connection(connection, revision)
        previous = revision


def _diff(connection: Connection) -> list[object]:
    """Differences autogenerate finds between the migrated schema and the models."""
    context = MigrationContext.configure(
        connection, opts={"include_object": include_object, "compare_type": True}
    )
    return list(compare_metadata(context, Base.metadata))


@pytest.mark.parametrize("kind", ENGINES)
async def test_stairway_then_models_match(kind: str, tmp_path: Path) -> None:
    """Every revision goes up, down and up again; the result matches the models exactly."""
    db, schema = await _empty_database(kind, tmp_path)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_stairway)
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await conn.run_sync(_diff)
        assert {"articles", "stories", "sources", "chats", "follows", "deliveries"} <= tables
        assert diff == []
    finally:
        await db.dispose()
        if schema:
            await _drop_schema(schema)


@pytest.mark.parametrize("kind", ENGINES)
async def test_downgrade_to_base_removes_everything(kind: str, tmp_path: Path) -> None:
    """Downgrading to base leaves only Alembic's own table."""
    db, schema = await _empty_database(kind, tmp_path)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(upgrade_connection)
            await conn.run_sync(lambda c: downgrade_connection(c, "base"))
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
    finally:
        await db.dispose()
        if schema:
            await _drop_schema(schema)


def test_history_is_linear() -> None:
    """One head, one base, no branches."""
    revs = revisions()
    assert len(revs) == len(set(revs)) >= 1


def _search_index_sql(connection: Connection) -> str:
    """The definition of the PostgreSQL full-text index, as the server reports it."""
    return str(
        connection.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND indexname = 'ix_articles_search_tsv'"
        ).scalar_one()
    )


@pytest.mark.postgres
async def test_stored_search_vector_up_and_down(tmp_path: Path) -> None:
    """0002 indexes a stored vector that follows search_text; going down restores 0001's index."""
    db, schema = await _empty_database("postgres", tmp_path)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: upgrade_connection(c, "0002"))
            at_head = await conn.run_sync(_search_index_sql)
            await conn.exec_driver_sql(
                "INSERT INTO articles (url, title, lede, text, lang, published_at, fetched_at,"
                " search_text, fanned_out) VALUES ('u', 't', '', '', 'en', now(), now(),"
                " 'flood warn', false)"
            )
            await conn.exec_driver_sql("UPDATE articles SET search_text = 'drought warn'")
            vector = await conn.scalar(text("SELECT search_tsv::text FROM articles"))
            await conn.run_sync(lambda c: downgrade_connection(c, "0001"))
            at_0001 = await conn.run_sync(_search_index_sql)
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("articles")}
            )
        assert "(search_tsv)" in at_head
        assert vector == "'drought' 'warn'"
        assert "to_tsvector" in at_0001 and "search_tsv" not in columns
    finally:
        await db.dispose()
        if schema:
            await _drop_schema(schema)


@pytest.mark.parametrize("kind", ENGINES)
async def test_validators_to_text_keeps_rows_and_links(kind: str, tmp_path: Path) -> None:
    """0003 retypes ETag/Last-Modified without copying `sources`: articles keep their source,
    a 3,000-character ETag then stores, and going down cuts it to the old limit."""
    db, schema = await _empty_database(kind, tmp_path)
    long_etag = "e" * 3000
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: upgrade_connection(c, "0002"))
            await conn.exec_driver_sql(
                "INSERT INTO sources (id, name, url, kind, poll_seconds, enabled, paused,"
                " fetch_full_pages, error_count, created_at) VALUES (1, 's', 'http://s', 'feed',"
                " 300, true, false, 0, 0, '2026-01-01')"
            )
            await conn.exec_driver_sql(
                "INSERT INTO articles (id, source_id, url, title, lede, text, lang, published_at,"
                " fetched_at, search_text, fanned_out) VALUES (1, 1, 'u', 't', '', '', 'en',"
                " '2026-01-01', '2026-01-01', '', false)"
            )
            await conn.run_sync(lambda c: upgrade_connection(c, "0003"))
            await conn.execute(text("UPDATE sources SET etag = :e"), {"e": long_etag})
            source_id = await conn.scalar(text("SELECT source_id FROM articles"))
            stored = await conn.scalar(text("SELECT etag FROM sources"))
            await conn.run_sync(lambda c: downgrade_connection(c, "0002"))
            after_down = await conn.scalar(text("SELECT length(etag) FROM sources"))
            linked_after_down = await conn.scalar(text("SELECT source_id FROM articles"))
        assert source_id == 1 and stored == long_etag and linked_after_down == 1
        assert after_down == 500
    finally:
        await db.dispose()
        if schema:
            await _drop_schema(schema)


@pytest.mark.parametrize("kind", ENGINES)
async def test_links_and_vectors_up_and_down(kind: str, tmp_path: Path) -> None:
    """0005 stores vector bytes, links two stories (a deleted story takes its links along),
    keeps a chat's news languages; going down keeps the articles and chats themselves."""
    db, schema = await _empty_database(kind, tmp_path)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: upgrade_connection(c, "0005"))
            if kind == "sqlite":
                await conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            await conn.exec_driver_sql(
                "INSERT INTO stories (id, label, article_count, source_count, languages,"
                " first_seen, last_seen, closed) VALUES (1, 'a', 1, 1, 'en', '2026-01-01',"
                " '2026-01-01', false), (2, 'b', 1, 1, 'ar', '2026-01-01', '2026-01-01', false)"
            )
            await conn.execute(
                text(
                    "INSERT INTO articles (id, url, title, lede, text, lang, published_at,"
                    " fetched_at, search_text, fanned_out, story_id, embedding) VALUES (1, 'u',"
                    " 't', '', '', 'en', '2026-01-01', '2026-01-01', '', false, 1, :e)"
                ),
                {"e": b"\x01\x00\xff"},
            )
            await conn.exec_driver_sql(
                "INSERT INTO chats (id, type, language, timezone, digest_time, quiet_mode,"
                " empty_digest, paused, blocked, created_at, news_langs) VALUES (5, 'private',"
                " 'ar', 'UTC', '08:00', 'hold', false, false, false, '2026-01-01', 'both')"
            )
            await conn.exec_driver_sql(
                "INSERT INTO story_links (story_a, story_b, score, linked_at)"
                " VALUES (1, 2, 0.8, '2026-01-01')"
            )
            vector = await conn.scalar(text("SELECT embedding FROM articles"))
            langs = await conn.scalar(text("SELECT news_langs FROM chats"))
            await conn.exec_driver_sql("DELETE FROM stories WHERE id = 2")
            links_left = await conn.scalar(text("SELECT count(*) FROM story_links"))
            await conn.run_sync(lambda c: downgrade_connection(c, "0004"))
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            counts = await conn.scalar(
                text("SELECT (SELECT count(*) FROM articles) + (SELECT count(*) FROM chats)")
            )
        assert bytes(vector) == b"\x01\x00\xff" and langs == "both"
        assert links_left == 0
        assert "story_links" not in tables and counts == 2
    finally:
        await db.dispose()
        if schema:
            await _drop_schema(schema)
