"""Inline mode's reads: search results (one article per story) or the latest headlines,
for one reader (their news languages and mutes), a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.domain import Article, Chat, Clock
from bot.search import SearchService
from bot.views import latest_page
from storage.db import Database

PAGE_SIZE: Final = 10
MAX_PAGES: Final = 5  # deeper pages are answered empty


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
        if not query:
            async with self.db.unit_of_work() as session:
                newest, more = await latest_page(session, reader, page, PAGE_SIZE)
            return InlinePage(tuple(newest), more and page + 1 < MAX_PAGES)
        found = await self.search.search(query, page, PAGE_SIZE, now=self.clock(), chat=reader)
        articles = tuple(items[0] for _story, items in found.groups if items)
        return InlinePage(articles, found.has_more and page + 1 < MAX_PAGES)
