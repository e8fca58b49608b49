"""Search service: user text → matching terms → ranked articles, grouped by story, paged."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Article, Chat, SearchHit, SearchPage, Story
from bot.follows import article_terms
from bot.metrics import SEARCH_SECONDS
from bot.pipeline.mutes import MuteFilter, hides_headline, visible, visible_in_forms
from bot.pipeline.search_query import SearchOptions, parse_search
from bot.pipeline.text import query_groups
from bot.pipeline.xlink import receives_push
from bot.search_index import SearchIndex
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.links import LinkRepo
from storage.repos.mutes import MuteRepo
from storage.repos.search import IndexFeedRepo, SearchRepo
from storage.repos.stories import StoryRepo

MAX_RESULTS = 100  # ranked articles considered for one grouped result list
MAX_PER_GROUP = 5  # matching articles listed under one story
MUTED_TOP_UP = 100  # ranked articles read once more when a chat's mutes left a page short

Group = tuple[Story | None, tuple[Article, ...]]


def group_by_story(
    ranked: list[Article],
    stories: dict[int, Story],
    per_group: int = MAX_PER_GROUP,
    same: Mapping[int, int] | None = None,
) -> list[Group]:
    """Groups in the rank order of their best article; story-less articles stand alone.
    `same` maps a story to the one its group is listed under (linked stories: one group)."""
    order: list[int | tuple[str, int]] = []
    members: dict[int | tuple[str, int], list[Article]] = {}
    same = same or {}
    for article in ranked:
        key: int | tuple[str, int] = (
            same.get(article.story_id, article.story_id)
            if article.story_id is not None
            else ("article", article.id)
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
    """Runs searches: on the search index when it is ready, else against the database."""

    def __init__(
        self,
        db: Database,
        recency_half_life_hours: float = 48.0,
        index: SearchIndex | None = None,
    ) -> None:
        """Use `db` (and `index` when ready); the half-life sets how fast the boost fades."""
        self.db = db
        self.half_life = recency_half_life_hours
        self.index = index

    def start(self) -> None:
        """Keep the search index in step in the background (`akhbar run`)."""
        if self.index is not None:
            self.index.start()

    async def close(self) -> None:
        """Stop the index's catch-up and release its writer lock."""
        if self.index is not None:
            await self.index.close()

    async def ranked(
        self,
        groups: list[tuple[str, ...]],
        *,
        limit: int,
        offset: int = 0,
        now: datetime,
        since: datetime | None = None,
        langs: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """(article id, score) best first, from the index when it can answer, else the database
        (each ranking is timed in the search latency histogram)."""
        with SEARCH_SECONDS.time():
            return await self._ranked(
                groups, limit=limit, offset=offset, now=now, since=since, langs=langs
            )

    async def _ranked(
        self,
        groups: list[tuple[str, ...]],
        *,
        limit: int,
        offset: int,
        now: datetime,
        since: datetime | None,
        langs: Sequence[str] | None,
    ) -> list[tuple[int, float]]:
        """`ranked` without the timing."""
        if self.index is not None:
            answer = await self.index.search(
                groups,
                limit=limit,
                offset=offset,
                now=now,
                recency_half_life_hours=self.half_life,
                since=since,
                langs=langs,
            )
            if answer is not None:
                return answer[0]
        async with self.db.unit_of_work() as session:
            return await SearchRepo(session).search(
                groups,
                limit=limit,
                offset=offset,
                now=now,
                recency_half_life_hours=self.half_life,
                since=since,
                langs=langs,
            )

    async def _linked_coverage(
        self, ranked: list[Article], chat: Chat
    ) -> tuple[list[Article], dict[int, int]]:
        """The chat's results: other-language coverage of matched linked stories added after
        the matches, each linked pair one group; a one-language setting filters the rest."""
        async with self.db.unit_of_work() as session:
            ranked, same = await _expand_links(session, ranked, chat.language)
        return [a for a in ranked if receives_push(chat.news_langs, a.lang)], same

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
        ranked = await self.ranked(
            groups,
            limit=limit,
            offset=offset,
            now=now or datetime.now(UTC),
            since=since,
            langs=langs,
        )
        async with self.db.unit_of_work() as session:
            articles = await ArticleRepo(session).get_many((i for i, _ in ranked), with_text=False)
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
        chat: Chat | None = None,
    ) -> SearchPage:
        """One page of results grouped by story (`page_size` groups per page); for a `chat`,
        in its news languages and without what its mutes hide.

        Options written after the words (`flood 7d`, `lang:ar`) filter the results too.
        """
        page = max(page, 0)
        page_size = max(page_size, 1)
        options = parse_search(query)
        moment = now or datetime.now(UTC)
        mutes = await self._mutes(chat)
        matches = _Matches(
            options, moment, since or options.since(moment), langs or options.langs()
        )
        found = await self._matched(matches, mutes, 0, MAX_RESULTS)
        groups = await self._groups(found.articles, chat, mutes)
        start = page * page_size
        if found.thinned and found.read >= MAX_RESULTS and len(groups) <= start + page_size:
            more = await self._matched(matches, mutes, MAX_RESULTS, MUTED_TOP_UP)
            held = {a.id for a in found.articles}
            extra = [a for a in more.articles if a.id not in held]
            groups = await self._groups(found.articles + extra, chat, mutes)
        return SearchPage(
            query=query,
            groups=tuple(groups[start : start + page_size]),
            page=page,
            has_more=len(groups) > start + page_size,
            total_hint=len(groups),
        )

    async def _mutes(self, chat: Chat | None) -> MuteFilter:
        """The chat's mutes (none without a chat)."""
        if chat is None:
            return MuteFilter()
        async with self.db.unit_of_work() as session:
            return await MuteRepo(session).filter_for(chat.id)

    async def _matched(
        self, matches: _Matches, mutes: MuteFilter, offset: int, limit: int
    ) -> _Found:
        """Ranked matches `offset`..`offset + limit` that the mutes leave visible."""
        hits = await self.hits(
            matches.options.words,
            limit,
            offset=offset,
            now=matches.now,
            since=matches.since,
            langs=matches.langs,
        )
        ranked = [hit.article for hit in hits]
        forms = await self._stored_forms(ranked) if mutes.words else {}
        shown = visible_in_forms(ranked, mutes, forms, article_terms)
        return _Found(shown, len(ranked), len(shown) < len(ranked))

    async def _stored_forms(self, articles: list[Article]) -> dict[int, str]:
        """The stored matching form (`search_text`: headline, lede and body terms) of each
        article, so that word mutes look at the body as pushes and digests do, without
        reading or tokenising the bodies (an article without one falls back to its headline
        and lede)."""
        async with self.db.unit_of_work() as session:
            rows = await IndexFeedRepo(session).rows([a.id for a in articles])
        return {row.id: row.search_text for row in rows}

    async def _groups(
        self, ranked: list[Article], chat: Chat | None, mutes: MuteFilter
    ) -> list[Group]:
        """The matches grouped by story, with a chat's linked coverage (what its mutes leave of
        it); groups whose headline a word mute hides are dropped."""
        same: dict[int, int] = {}
        if chat is not None:
            held = {a.id for a in ranked}
            ranked, same = await self._linked_coverage(ranked, chat)
            added = visible([a for a in ranked if a.id not in held], mutes, article_terms)
            ranked = [a for a in ranked if a.id in held] + added
        story_ids = {a.story_id for a in ranked if a.story_id is not None} | set(same.values())
        stories: dict[int, Story] = {}
        if story_ids:
            async with self.db.unit_of_work() as session:
                stories = await StoryRepo(session).get_many(story_ids)
        groups = group_by_story(ranked, stories, same=same)
        if not mutes.words:
            return groups
        return [g for g in groups if g[0] is None or not hides_headline(mutes, g[0].label)]


@dataclass(frozen=True, slots=True)
class _Matches:
    """What one search ranks: the parsed query, its moment and filters."""

    options: SearchOptions
    now: datetime
    since: datetime | None
    langs: Sequence[str] | None


@dataclass(frozen=True, slots=True)
class _Found:
    """Ranked matches left visible, how many were read, and whether mutes hid any."""

    articles: list[Article]
    read: int
    thinned: bool


LINKED_PER_STORY = 2  # other-language reports added under a matched story


async def _shown_member(session: AsyncSession, members: set[int], lang: str) -> int:
    """The member of a linked group whose headline is shown: one in `lang`, else the lowest id."""
    stories = await StoryRepo(session).get_many(members)
    in_lang = sorted(m for m, story in stories.items() if lang in story.languages)
    return (in_lang or sorted(members))[0]


async def _expand_links(
    session: AsyncSession, ranked: list[Article], lang: str
) -> tuple[list[Article], dict[int, int]]:
    """Matches plus the newest reports of linked stories that had none (after the matches),
    and each linked story's group story."""
    story_ids = {a.story_id for a in ranked if a.story_id is not None}
    partners = await LinkRepo(session).partners(story_ids)
    same: dict[int, int] = {}
    extra: list[Article] = []
    for story_id, found in sorted(partners.items()):
        if story_id in same:
            continue
        members = {story_id} | found
        shown = await _shown_member(session, members, lang)
        same.update((member, shown) for member in members)
        for member in sorted(members - story_ids):
            extra += await ArticleRepo(session).for_story(member, LINKED_PER_STORY)
    return ranked + [a for a in extra if a.duplicate_of is None], same


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


def hit_records(hits: list[SearchHit]) -> list[dict[str, object]]:
    """The JSON objects of `akhbar search --json`, one per hit."""
    return [json.loads(line) for line in hit_lines(hits, as_json=True)]


async def search_command(
    db: Database,
    query: str,
    limit: int = 10,
    *,
    as_json: bool = False,
    since: datetime | None = None,
    langs: Sequence[str] | None = None,
    index_dir: str | None = None,
) -> str:
    """What `akhbar search QUERY [--limit N] [--since 7d] [--lang ar] [--json]` prints."""
    (hits,) = await run_queries(db, [query], limit, since=since, langs=langs, index_dir=index_dir)
    return "\n".join(hit_lines(hits, as_json=as_json))


async def run_queries(
    db: Database,
    queries: list[str],
    limit: int = 10,
    *,
    since: datetime | None = None,
    langs: Sequence[str] | None = None,
    index_dir: str | None = None,
) -> list[list[SearchHit]]:
    """The hits of each query, in order: on the search index in `index_dir` once it has
    caught up with the database (the first run builds it), else on the database."""
    index = SearchIndex(db, index_dir)
    await index.prepare()
    service = SearchService(db, index=index)
    out: list[list[SearchHit]] = []
    try:
        for query in queries:
            options = parse_search(query)
            now = datetime.now(UTC)
            out.append(
                await service.hits(
                    options.words,
                    limit,
                    now=now,
                    since=since or options.since(now),
                    langs=langs or options.langs(),
                )
            )
    finally:
        await index.close()
    return out


async def queries_command(
    db: Database,
    queries: list[str],
    limit: int = 10,
    *,
    since: datetime | None = None,
    langs: Sequence[str] | None = None,
    index_dir: str | None = None,
) -> list[str]:
    """What `akhbar search --queries FILE --json` prints: one JSON line per query, in order."""
    results = await run_queries(db, queries, limit, since=since, langs=langs, index_dir=index_dir)
    return [
        json.dumps({"query": query, "results": hit_records(hits)}, ensure_ascii=False)
        for query, hits in zip(queries, results, strict=True)
    ]
