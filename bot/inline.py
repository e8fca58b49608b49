"""Inline mode's reads: search results (one article per story) or the latest headlines,
for one reader (their news languages and mutes), a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.domain import Article, Chat, Clock
from bot.follows import article_terms
from bot.pipeline.mutes import MuteFilter, mute_filter, visible
from bot.search import SearchService
from bot.views import reads_article
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.links import LinkRepo
from storage.repos.mutes import MuteRepo

PAGE_SIZE: Final = 10
MAX_PAGES: Final = 5  # deeper pages are answered empty
SCAN_FACTOR: Final = 3  # latest articles read per one shown (some are in other languages)


@dataclass(frozen=True, slots=True)
class InlinePage:
    """Articles for one inline answer and whether a next page exists."""

    articles: tuple[Article, ...]
    has_more: bool


class InlineSearch:
    """Finds the articles an inline query shows."""

    def __init__(self, db: Database, search: SearchService, clock: Clock) -> None:
        """Read through `db` and `search`; `clock` dates the ranking."""
        self.db = db
        self.search = search
        self.clock = clock

    async def find(self, query: str, reader: Chat, page: int = 0) -> InlinePage:
        """Search results for `query` (the best article of each story), or the latest
        articles the reader reads when the query is empty."""
        if not 0 <= page < MAX_PAGES:
            return InlinePage((), False)
        mutes = await self.mutes(reader)
        if not query:
            return await self.latest(reader, page, mutes)
        found = await self.search.search(query, page, PAGE_SIZE, now=self.clock(), chat=reader)
        shown = [visible(items, mutes, article_terms)[:1] for _story, items in found.groups]
        articles = tuple(a for first in shown for a in first)
        return InlinePage(articles, found.has_more and page + 1 < MAX_PAGES)

    async def mutes(self, reader: Chat) -> MuteFilter:
        """The reader's mutes (none when they never used the bot)."""
        async with self.db.unit_of_work() as session:
            return mute_filter(await MuteRepo(session).for_chat(reader.id))

    async def latest(self, reader: Chat, page: int, mutes: MuteFilter) -> InlinePage:
        """The newest articles in the reader's news languages, without muted ones."""
        wanted = (page + 1) * PAGE_SIZE + 1
        async with self.db.unit_of_work() as session:
            articles = await ArticleRepo(session).latest(wanted * SCAN_FACTOR, 0)
            partners = await LinkRepo(session).partners(
                a.story_id for a in articles if a.story_id is not None
            )
        readable = [a for a in articles if reads_article(reader, a, partners)]
        readable = visible(readable, mutes, article_terms)
        shown = readable[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        more = len(readable) > (page + 1) * PAGE_SIZE and page + 1 < MAX_PAGES
        return InlinePage(tuple(shown), more)
