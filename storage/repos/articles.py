"""Articles: insert, update, lookups by identity, story timelines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, false, func, insert, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot.domain import Article, ArticleDraft
from bot.pipeline.storable import storable_key, storable_key_optional
from storage.mappers import article_columns, to_article
from storage.models import ArticleRow, SourceRow

ARTICLES = cast(Table, ArticleRow.__table__)
LOOKUP_CHUNK = 500  # bound parameters per IN (...) list, well under SQLite's limit
TITLES_CHUNK = 100  # stories per statement when reading their newest titles


# What ingest hands storage: the domain's draft, mapped to columns by `article_columns`.
ArticleFields = ArticleDraft

IdentityKey = tuple[str, int | None, str | None]  # (canonical url, source id, guid)


def _values(fields: ArticleFields, now: datetime) -> dict[str, Any]:
    """Every column of a new article as Core insert parameters (same keys for every row)."""
    values = article_columns(fields)
    values["published_at"] = fields.published_at or now
    values["fetched_at"] = fields.fetched_at or now
    values["story_id"] = fields.story_id
    return values


def _chunks(items: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterable[Sequence[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _apply(row: ArticleRow, fields: ArticleFields) -> None:
    """Copy every field onto a row (stored times, duplicate link and story kept when unset)."""
    values = article_columns(fields)
    if values["duplicate_of"] is None:
        del values["duplicate_of"]
    values["fanned_out"] = bool(row.fanned_out) or fields.fanned_out
    for name, value in values.items():
        setattr(row, name, value)
    if fields.published_at is not None:
        row.published_at = fields.published_at
    if fields.fetched_at is not None:
        row.fetched_at = fields.fetched_at


async def reserve_ids(session: AsyncSession, table: Table, count: int) -> list[int]:
    """`count` fresh ids of `table` (integer primary key `id`), ascending, to insert with.

    PostgreSQL draws them from the column's serial sequence (safe under concurrency).
    SQLite first takes the database write lock with a no-op UPDATE, so no other connection
    can insert until this unit of work ends, then continues after the largest id, as
    SQLite itself would.
    """
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        result = await session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": count},
        )
        return sorted(int(i) for i in result.scalars())
    await session.execute(update(table).where(false()).values(id=table.c.id))
    top = int(await session.scalar(select(func.max(table.c.id))) or 0)
    return list(range(top + 1, top + 1 + count))


class ArticleRepo:
    """Read and write articles."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def insert(self, fields: ArticleFields) -> Article:
        """Insert a new article and return it with its id."""
        row = ArticleRow()
        _apply(row, fields)
        if fields.story_id is not None:
            row.story_id = fields.story_id
        self.session.add(row)
        await self.session.flush()
        return to_article(row)

    async def replace(self, article_id: int, fields: ArticleFields) -> Article | None:
        """Overwrite an article's content (same identity), keeping its story."""
        row = await self.session.get(ArticleRow, article_id)
        if row is None:
            return None
        _apply(row, fields)
        await self.session.flush()
        return to_article(row)

    async def find_existing(
        self, url: str, source_id: int | None, guid: str | None
    ) -> Article | None:
        """The stored article with this canonical URL, or this guid from this source."""
        url, guid = storable_key(url), storable_key_optional(guid)
        row = await self.session.scalar(select(ArticleRow).where(ArticleRow.url == url))
        if row is None and guid:
            row = await self.session.scalar(
                select(ArticleRow).where(ArticleRow.source_id == source_id, ArticleRow.guid == guid)
            )
        return None if row is None else to_article(row)

    async def insert_many(
        self, items: Sequence[ArticleFields], ids: Sequence[int] | None = None
    ) -> list[int]:
        """Insert new articles with one executemany (Core, through the table so FTS triggers
        fire); return their ids in input order. `ids` are ids from `reserve_ids`, else the
        database issues them (INSERT … RETURNING, sorted by parameter order)."""
        if not items:
            return []
        now = datetime.now(UTC)
        rows = [_values(f, now) for f in items]
        if ids is not None:
            if len(ids) != len(rows):
                raise ValueError("insert_many: one id per article")
            for row, article_id in zip(rows, ids, strict=True):
                row["id"] = article_id
            await self.session.execute(insert(ARTICLES), rows)
            return list(ids)
        result = await self.session.execute(
            insert(ARTICLES).returning(ARTICLES.c.id, sort_by_parameter_order=True), rows
        )
        return [int(i) for i in result.scalars()]

    async def reserve_ids(self, count: int) -> list[int]:
        """`count` fresh article ids, ascending, for rows this unit of work will insert."""
        return await reserve_ids(self.session, ARTICLES, count)

    async def find_existing_many(self, keys: Sequence[IdentityKey]) -> list[Article | None]:
        """`find_existing` for many (url, source_id, guid) keys at once, in input order.

        One `url IN (…)` query per chunk, then one `source_id = ? AND guid IN (…)` query
        per source for the keys whose URL is not stored.
        """
        if not keys:
            return []
        keys = [(storable_key(u), sid, storable_key_optional(g)) for u, sid, g in keys]
        by_url: dict[str, Article] = {}
        for chunk in _chunks(list(dict.fromkeys(url for url, _sid, _guid in keys))):
            rows = await self.session.execute(select(ARTICLES).where(ARTICLES.c.url.in_(chunk)))
            for row in rows:
                article = to_article(cast(ArticleRow, row))
                by_url[article.url] = article
        guids: dict[int | None, dict[str, None]] = {}
        for url, source_id, guid in keys:
            if guid and url not in by_url:
                guids.setdefault(source_id, {})[guid] = None
        by_guid: dict[tuple[int | None, str], Article] = {}
        for source_id, wanted in guids.items():
            owner = (
                ARTICLES.c.source_id.is_(None)
                if source_id is None
                else ARTICLES.c.source_id == source_id
            )
            for chunk in _chunks(list(wanted)):
                rows = await self.session.execute(
                    select(ARTICLES).where(owner, ARTICLES.c.guid.in_(chunk))
                )
                for row in rows:
                    article = to_article(cast(ArticleRow, row))
                    if article.guid is not None:
                        by_guid[(source_id, article.guid)] = article
        out: list[Article | None] = []
        for url, source_id, guid in keys:
            found = by_url.get(url)
            if found is None and guid:
                found = by_guid.get((source_id, guid))
            out.append(found)
        return out

    async def get(self, article_id: int) -> Article | None:
        """One article with its source name."""
        found = await self.get_many([article_id])
        return found[0] if found else None

    async def newest_titles(self, story_ids: Iterable[int], per_story: int) -> dict[int, list[str]]:
        """The titles of each story's newest `per_story` original articles (no bodies read):
        one limited index walk per story, `TITLES_CHUNK` stories to a statement."""
        wanted = sorted(set(story_ids))
        found: dict[int, list[str]] = {}
        for start in range(0, len(wanted), TITLES_CHUNK):
            parts = [
                select(ArticleRow.story_id, ArticleRow.title)
                .where(ArticleRow.story_id == story_id, ArticleRow.duplicate_of.is_(None))
                .order_by(ArticleRow.published_at.desc())
                .limit(per_story)
                .subquery()
                for story_id in wanted[start : start + TITLES_CHUNK]
            ]
            statement = union_all(*(select(part.c.story_id, part.c.title) for part in parts))
            for story_id, title in await self.session.execute(statement):
                found.setdefault(int(story_id), []).append(title or "")
        return found

    async def get_many(self, ids: Iterable[int], *, with_text: bool = True) -> list[Article]:
        """Articles by id (with source names), in the order given; missing ids skipped.

        Without `with_text` the body is not read (left empty): search results show the
        headline, summary and lede, and a hundred bodies are most of what such a read costs.
        """
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        query = (
            select(ArticleRow, SourceRow.name)
            .outerjoin(SourceRow, SourceRow.id == ArticleRow.source_id)
            .where(ArticleRow.id.in_(wanted))
        )
        if not with_text:
            query = query.options(defer(ArticleRow.text, raiseload=True))
        rows = await self.session.execute(query)
        by_id = {row.id: to_article(row, name, with_text=with_text) for row, name in rows}
        return [by_id[i] for i in wanted if i in by_id]

    async def set_story(self, article_id: int, story_id: int) -> None:
        """Attach an article to a story."""
        await self.session.execute(
            update(ArticleRow).where(ArticleRow.id == article_id).values(story_id=story_id)
        )

    async def set_story_many(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Attach many (article id, story id) pairs with one executemany."""
        params = [{"b_id": a, "b_story": s} for a, s in pairs]
        if params:
            await self.session.execute(
                update(ARTICLES)
                .where(ARTICLES.c.id == bindparam("b_id"))
                .values(story_id=bindparam("b_story")),
                params,
            )

    async def for_story(self, story_id: int, limit: int = 50) -> list[Article]:
        """A story's articles, newest first."""
        rows = await self.session.execute(
            select(ArticleRow, SourceRow.name)
            .outerjoin(SourceRow, SourceRow.id == ArticleRow.source_id)
            .where(ArticleRow.story_id == story_id)
            .order_by(ArticleRow.published_at.desc(), ArticleRow.id.desc())
            .limit(limit)
        )
        return [to_article(row, name) for row, name in rows]

    async def latest(self, limit: int = 10, offset: int = 0) -> list[Article]:
        """The newest articles that are not syndicated copies."""
        rows = await self.session.execute(
            select(ArticleRow, SourceRow.name)
            .outerjoin(SourceRow, SourceRow.id == ArticleRow.source_id)
            .where(ArticleRow.duplicate_of.is_(None))
            .order_by(ArticleRow.published_at.desc(), ArticleRow.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [to_article(row, name) for row, name in rows]

    async def since(self, since: datetime, story_ids: Iterable[int] | None = None) -> list[Article]:
        """Articles published since a time, optionally only in the given stories, oldest first."""
        query = (
            select(ArticleRow, SourceRow.name)
            .outerjoin(SourceRow, SourceRow.id == ArticleRow.source_id)
            .where(ArticleRow.published_at >= since)
            .order_by(ArticleRow.published_at, ArticleRow.id)
        )
        if story_ids is not None:
            query = query.where(ArticleRow.story_id.in_(list(story_ids)))
        rows = await self.session.execute(query)
        return [to_article(row, name) for row, name in rows]

    async def duplicates_of(self, article_id: int) -> list[Article]:
        """Syndicated copies linked to an original."""
        rows = await self.session.execute(
            select(ArticleRow, SourceRow.name)
            .outerjoin(SourceRow, SourceRow.id == ArticleRow.source_id)
            .where(ArticleRow.duplicate_of == article_id)
            .order_by(ArticleRow.id)
        )
        return [to_article(row, name) for row, name in rows]

    async def recent_fingerprints(
        self, since: datetime, limit: int = 50_000
    ) -> list[tuple[int, int]]:
        """(id, fingerprint) of recent originals, for near-duplicate detection."""
        rows = await self.session.execute(
            select(ArticleRow.id, ArticleRow.fingerprint)
            .where(
                ArticleRow.fetched_at >= since,
                ArticleRow.fingerprint.is_not(None),
                ArticleRow.duplicate_of.is_(None),
            )
            .order_by(ArticleRow.id.desc())
            .limit(limit)
        )
        return [(i, fp) for i, fp in rows if fp is not None]

    async def count(self) -> int:
        """How many articles are stored."""
        return int(await self.session.scalar(select(func.count(ArticleRow.id))) or 0)
