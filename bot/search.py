"""Search service: user text → matching terms → ranked articles, grouped by story, paged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.domain import Article, SearchHit, SearchPage, Story
from bot.pipeline.text import query_groups
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.search import SearchRepo
from storage.repos.stories import StoryRepo

MAX_RESULTS = 100  # ranked articles considered for one grouped result list
MAX_PER_GROUP = 5  # matching articles listed under one story

Group = tuple[Story | None, tuple[Article, ...]]


def group_by_story(
    ranked: list[Article], stories: dict[int, Story], per_group: int = MAX_PER_GROUP
) -> list[Group]:
    """Groups in the rank order of their best article; story-less articles stand alone."""
    order: list[int | tuple[str, int]] = []
    members: dict[int | tuple[str, int], list[Article]] = {}
    for article in ranked:
        key: int | tuple[str, int] = (
            article.story_id if article.story_id is not None else ("article", article.id)
        )
        if key not in members:
            members[key] = []
            order.append(key)
        if len(members[key]) < per_group:
            members[key].append(article)
    return [
        (stories.get(key) if isinstance(key, int) else None, tuple(members[key])) for key in order
    ]


class SearchService:
    """Runs searches against the database."""

    def __init__(self, db: Database, recency_half_life_hours: float = 48.0) -> None:
        """Use `db`; the half-life sets how fast the recency boost fades."""
        self.db = db
        self.half_life = recency_half_life_hours

    async def hits(
        self,
        query: str,
        limit: int = 10,
        *,
        offset: int = 0,
        now: datetime | None = None,
        since: datetime | None = None,
        langs: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        """The best matching articles with their scores, best first (optionally filtered)."""
        groups = query_groups(query)
        if not groups or limit <= 0:
            return []
        async with self.db.unit_of_work() as session:
            ranked = await SearchRepo(session).search(
                groups,
                limit=limit,
                offset=offset,
                now=now or datetime.now(UTC),
                recency_half_life_hours=self.half_life,
                since=since,
                langs=langs,
            )
            articles = await ArticleRepo(session).get_many(i for i, _ in ranked)
        scores = dict(ranked)
        return [SearchHit(article=a, score=scores[a.id]) for a in articles]

    async def search(
        self,
        query: str,
        page: int = 0,
        page_size: int = 5,
        *,
        now: datetime | None = None,
        since: datetime | None = None,
        langs: Sequence[str] | None = None,
    ) -> SearchPage:
        """One page of results grouped by story (`page_size` groups per page)."""
        page = max(page, 0)
        page_size = max(page_size, 1)
        hits = await self.hits(query, MAX_RESULTS, now=now, since=since, langs=langs)
        ranked = [hit.article for hit in hits]
        story_ids = {a.story_id for a in ranked if a.story_id is not None}
        stories: dict[int, Story] = {}
        if story_ids:
            async with self.db.unit_of_work() as session:
                stories = await StoryRepo(session).get_many(story_ids)
        groups = group_by_story(ranked, stories)
        start = page * page_size
        return SearchPage(
            query=query,
            groups=tuple(groups[start : start + page_size]),
            page=page,
            has_more=len(groups) > start + page_size,
            total_hint=len(groups),
        )


def hit_lines(hits: list[SearchHit], *, as_json: bool = False) -> list[str]:
    """Printable lines for `akhbar search`: JSON objects or `score  date  title  url`."""
    lines: list[str] = []
    for hit in hits:
        article = hit.article
        published = article.published_at.isoformat() if article.published_at else ""
        if as_json:
            record = {
                "id": article.id,
                "score": round(hit.score, 6),
                "title": article.title,
                "url": article.url,
                "published": published,
                "story": article.story_id,
                "source": article.source_name,
                "lang": article.lang,
            }
            lines.append(json.dumps(record, ensure_ascii=False))
        else:
            lines.append(f"{hit.score:8.3f}  {published[:16]}  {article.title}  {article.url}")
    return lines


async def search_command(
    db: Database, query: str, limit: int = 10, *, as_json: bool = False
) -> str:
    """What `akhbar search QUERY [--limit N] [--json]` prints."""
    hits = await SearchService(db).hits(query, limit)
    return "\n".join(hit_lines(hits, as_json=as_json))
