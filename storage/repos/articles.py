"""Articles: insert, update, lookups by identity, story timelines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Article
from storage.mappers import to_article
from storage.models import ArticleRow, SourceRow


@dataclass(frozen=True, slots=True)
class ArticleFields:
    """Everything ingest knows about an article before it has an id."""

    url: str
    title: str
    lede: str = ""
    text: str = ""
    lang: str = "en"
    guid: str | None = None
    source_id: int | None = None
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    content_hash: str | None = None
    fingerprint: int | None = None
    image_caption: str | None = None
    summary: Sequence[str] = ()
    search_text: str = ""
    duplicate_of: int | None = None
    fanned_out: bool = False


def _apply(row: ArticleRow, fields: ArticleFields) -> None:
    """Copy every field onto a row."""
    row.url = fields.url
    row.title = fields.title
    row.lede = fields.lede
    row.text = fields.text
    row.lang = fields.lang
    row.guid = fields.guid
    row.source_id = fields.source_id
    if fields.published_at is not None:
        row.published_at = fields.published_at
    if fields.fetched_at is not None:
        row.fetched_at = fields.fetched_at
    row.content_hash = fields.content_hash
    row.fingerprint = fields.fingerprint
    row.image_caption = fields.image_caption
    row.summary = "\n".join(s.replace("\n", " ") for s in fields.summary)
    row.search_text = fields.search_text
    if fields.duplicate_of is not None:
        row.duplicate_of = fields.duplicate_of
    row.fanned_out = row.fanned_out or fields.fanned_out


class ArticleRepo:
    """Read and write articles."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def insert(self, fields: ArticleFields) -> Article:
        """Insert a new article and return it with its id."""
        row = ArticleRow()
        _apply(row, fields)
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
        row = await self.session.scalar(select(ArticleRow).where(ArticleRow.url == url))
        if row is None and guid:
            row = await self.session.scalar(
                select(ArticleRow).where(ArticleRow.source_id == source_id, ArticleRow.guid == guid)
            )
        return None if row is None else to_article(row)

    async def get(self, article_id: int) -> Article | None:
        """One article with its source name."""
        found = await self.get_many([article_id])
        return found[0] if found else None

    async def get_many(self, ids: Iterable[int]) -> list[Article]:
        """Articles by id (with source names), in the order given; missing ids skipped."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        rows = await self.session.execute(
            select(ArticleRow, SourceRow.name)
            .outerjoin(SourceRow, SourceRow.id == ArticleRow.source_id)
            .where(ArticleRow.id.in_(wanted))
        )
        by_id = {row.id: to_article(row, name) for row, name in rows}
        return [by_id[i] for i in wanted if i in by_id]

    async def set_story(self, article_id: int, story_id: int) -> None:
        """Attach an article to a story."""
        await self.session.execute(
            update(ArticleRow).where(ArticleRow.id == article_id).values(story_id=story_id)
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
