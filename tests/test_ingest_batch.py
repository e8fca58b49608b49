"""Batched ingest writes: repository batch methods and batch ≡ one-by-one, on both engines."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.fetch import Fetcher
from bot.ingest import IngestReport, IngestService
from bot.settings import Settings
from bot.stories import StoryService
from storage.db import Database
from storage.models import ArticleRow, StoryRow
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.sources import SourceRepo
from storage.repos.stories import StoryFigures, StoryRepo
from tests.conftest import _drop_schema, make_database
from tests.test_ingest import WORDS, prose

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)


def fields(i: int, source_id: int | None, **kw: Any) -> ArticleFields:
    """Distinct article fields number i."""
    base: dict[str, Any] = {
        "url": f"https://n.example/{i}",
        "title": f"Title {i}",
        "text": f"Body {i}",
        "guid": f"g{i}",
        "source_id": source_id,
        "published_at": T0,
        "fetched_at": T0,
        "content_hash": f"h{i}",
        "summary": (f"First {i}.", f"Second\n{i}."),
        "search_text": f"word{i} common",
    }
    base.update(kw)
    return ArticleFields(**base)


async def test_batch_repo_methods(db: Database) -> None:
    """insert_many/find_existing_many/reserve_ids/create_many/save_many/set_story_many: what
    one statement per batch stores is what each row's own lookup finds."""
    async with db.unit_of_work() as s:
        src = await SourceRepo(s).add("https://n.example/feed", "N")
        stories = StoryRepo(s)
        story_ids = await stories.create_many([("Story A", T0), ("Story B", T0)])
        assert len(set(story_ids)) == 2
        repo = ArticleRepo(s)
        first = await repo.insert_many(
            [fields(1, src.id, story_id=story_ids[0]), fields(2, src.id, story_id=story_ids[1])]
        )
        reserved = await repo.reserve_ids(2)
        assert reserved[0] > max(first) and reserved == sorted(reserved)
        second = await repo.insert_many(
            [fields(3, src.id, story_id=story_ids[0]), fields(4, None, guid="g1")], ids=reserved
        )
        assert second == reserved
        (single,) = await repo.insert_many([fields(5, src.id)])
        assert single > max(second)

    async with db.unit_of_work() as s:
        repo = ArticleRepo(s)
        found = await repo.find_existing_many(
            [
                ("https://n.example/2", src.id, None),  # by url
                ("https://other.example/x", src.id, "g3"),  # by guid, same source
                ("https://other.example/y", None, "g1"),  # by guid, no source
                ("https://other.example/z", src.id + 1000, "g1"),  # guid of another source
                ("https://n.example/1", None, "nope"),  # url wins over guid
                ("https://missing.example/", src.id, None),
            ]
        )
        assert [a.id if a else None for a in found] == [
            first[1],
            second[0],
            second[1],
            None,
            first[0],
            None,
        ]
        assert [a.url for a in found if a] == [
            "https://n.example/2",
            "https://n.example/3",
            "https://n.example/4",
            "https://n.example/1",
        ]
        one = await repo.get(first[0])
        assert one is not None and one.story_id == story_ids[0]
        assert one.summary == ("First 1.", "Second 1.")
        assert [a.id for a in await repo.for_story(story_ids[0])] == sorted(
            [first[0], second[0]], reverse=True
        )
        await repo.set_story_many([(single, story_ids[1])])
        await StoryRepo(s).save_many(
            [
                StoryFigures(
                    story_id=story_ids[1],
                    label="B!",
                    article_count=2,
                    source_count=1,
                    languages=["en", "ar", "en"],
                    last_seen=T0,
                    state={"key": story_ids[1], "x": [1, 2]},
                )
            ]
        )

    async with db.unit_of_work() as s:
        assert {a.id for a in await ArticleRepo(s).for_story(story_ids[1])} == {first[1], single}
        states = await StoryRepo(s).active_states(T0)
        assert states == [(story_ids[1], {"key": story_ids[1], "x": [1, 2]})]
        b = await StoryRepo(s).get(story_ids[1])
        assert b is not None and b.label == "B!" and b.article_count == 2
        raw = await s.scalar(select(StoryRow.state).where(StoryRow.id == story_ids[0]))
        assert raw is None  # created without state: SQL NULL, not JSON null
        # the full-text index saw rows inserted by insert_many (triggers / expression index)
        if db.dialect == "sqlite":
            query = "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'common'"
        else:
            query = (
                "SELECT count(*) FROM articles WHERE to_tsvector('simple', search_text) @@ "
                "to_tsquery('simple', 'common')"
            )
        assert await s.scalar(text(query)) == 5


async def test_reserve_ids_holds_the_sqlite_write_lock(tmp_path: Path) -> None:
    """After reserve_ids, no other SQLite connection can insert until the unit of work ends."""
    db, _ = await make_database("sqlite", tmp_path)
    path = str(tmp_path / "test.db")
    try:
        async with db.unit_of_work() as s:
            ids = await ArticleRepo(s).reserve_ids(3)
            other = sqlite3.connect(path, timeout=0.05)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO stories(label) VALUES ('x')")
            other.close()
            await ArticleRepo(s).insert_many([fields(i, None) for i in range(3)], ids=ids)
        async with db.unit_of_work() as s:
            assert await ArticleRepo(s).count() == 3
    finally:
        await db.dispose()


def records(seed: int, n: int) -> list[dict[str, Any]]:
    """A record stream with repeats, edits, guid reuse and syndicated copies across sources."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        roll = rng.random()
        if out and roll < 0.15:
            out.append(dict(rng.choice(out)))  # exact repeat
        elif out and roll < 0.3:
            edited = dict(rng.choice(out))
            edited["text"] = prose(rng.randint(10_000, 20_000))  # same identity, new content
            out.append(edited)
        elif out and roll < 0.4:
            copy = dict(rng.choice(out))  # syndicated: same text, another outlet and url
            copy["source"] = "copier" if copy["source"] != "copier" else "origin"
            copy["url"] = f"https://copy.example/{i}"
            copy["id"] = f"c{i}"
            out.append(copy)
        elif out and roll < 0.45:
            reused = dict(rng.choice(out))  # same guid and source, another url
            reused["url"] = f"https://moved.example/{i}"
            out.append(reused)
        else:
            out.append(
                {
                    "id": f"r{i}",
                    "title": f"{WORDS[i % len(WORDS)]} {WORDS[(3 * i) % len(WORDS)]} report {i}",
                    "text": prose(i % 40),  # topics repeat, so stories gather articles
                    "published": f"2024-05-01T{10 + i // 60:02d}:{i % 60:02d}:00",
                    "url": f"https://origin.example/{i}",
                    "source": "origin" if i % 3 else "other",
                    "lang": "en",
                }
            )
    return out


async def ingest_with(db: Database, batch_size: int, stream: list[dict[str, Any]]) -> IngestReport:
    """Ingest a record stream in two runs (the second sees stored articles)."""
    settings = Settings(allow_private_sources=True)
    stories = StoryService(db, now=lambda: NOW)
    await stories.load()
    async with Fetcher(allow_private=True) as fetcher:
        service = IngestService(
            db, fetcher, stories, settings, clock=lambda: NOW, batch_size=batch_size
        )
        half = len(stream) // 2
        report = await service.ingest_records(stream[:half])
        return report.merge(await service.ingest_records(stream[half:]))


async def snapshot(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Stored articles and stories, as comparable tuples."""
    async with db.unit_of_work() as s:
        arts = await s.scalars(select(ArticleRow).order_by(ArticleRow.id))
        articles = [
            (
                a.id,
                a.url,
                a.guid,
                a.source_id,
                a.title,
                a.text,
                a.content_hash,
                a.fingerprint,
                a.story_id,
                a.duplicate_of,
                a.summary,
                a.search_text,
                a.published_at,
            )
            for a in arts
        ]
        rows = await s.scalars(select(StoryRow).order_by(StoryRow.id))
        stories = [(r.id, r.label, r.article_count, r.source_count, r.languages) for r in rows]
    return articles, stories


async def test_batched_ingest_equals_one_by_one(db: Database, tmp_path: Path) -> None:
    """Batches of 200 store exactly what batches of one store: identities, edits, links, stories."""
    stream = records(7, 160)
    batched = await ingest_with(db, 200, stream)
    kind = "sqlite" if db.dialect == "sqlite" else "postgres"
    (tmp_path / "single").mkdir()
    other, schema = await make_database(kind, tmp_path / "single")
    try:
        single = await ingest_with(other, 1, stream)
        assert (batched.new, batched.updated, batched.duplicate, batched.syndicated) == (
            single.new,
            single.updated,
            single.duplicate,
            single.syndicated,
        )
        assert batched.new_article_ids == single.new_article_ids
        assert batched.updated > 0 and batched.duplicate > 0 and batched.syndicated > 0
        got, want = await snapshot(db), await snapshot(other)
        assert got == want
        articles, stories = got
        assert all(a[8] is not None for a in articles)  # every article has its story
        assert len(stories) < len(articles)
    finally:
        await other.dispose()
        if schema:
            await _drop_schema(schema)
