"""Composition pieces: pushes and digests for the delivery worker, and read views for handlers.

`compose_push(services, chat, deliveries, articles)` is the worker's `Composer` once
`services` is bound (``functools.partial``); `build_digest(services, chat, since)` is the
digest scheduler's `DigestBuilder` the same way.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Final
from weakref import WeakKeyDictionary

from bot.domain import Article, Chat, Delivery, Follow, FollowKind, Story
from bot.follows import article_terms
from bot.services import Services
from handlers.i18n import to_local
from handlers.render import (
    DigestEntry,
    Rendered,
    join_digest,
    render_burst,
    render_digest_entry,
    render_latest,
    render_push,
    render_story_card,
    render_topics,
)
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.chats import FollowRepo
from storage.repos.digests import DigestRepo
from storage.repos.stories import StoryRepo

DIGEST_WINDOW: Final = timedelta(hours=24)
DIGEST_STORIES: Final = 10
TOPICS_PAGE: Final = 5
TOPICS_WINDOW: Final = timedelta(days=3)
LATEST_PAGE: Final = 10
TIMELINE_MAX: Final = 40
RELATED_LIMIT: Final = 5


def _source(article: Article) -> str:
    """An article's source name (may be empty)."""
    return article.source_name or ""


async def _related(services: Services, article: Article, exclude: set[int]) -> list[Article]:
    """Related headlines of the story: other sources first, newest first."""
    found = await services.stories.related(article, RELATED_LIMIT + len(exclude))
    found = [a for a in found if a.id not in exclude and a.duplicate_of is None]
    found.sort(
        key=lambda a: (
            a.story_id != article.story_id,
            a.source_id == article.source_id,
            -_when(a).timestamp(),
        )
    )
    return found[:RELATED_LIMIT]


_CONTEXT_TTL_S = 30.0
_CONTEXT_MAX = 512
# Per database (weakly held: an id() could be reused by a later database in one process).
_push_context: WeakKeyDictionary[
    Database,
    dict[tuple[int, int | None, frozenset[int]], tuple[float, Story | None, list[Article]]],
] = WeakKeyDictionary()


async def _story_and_related(
    services: Services, article: Article, story_id: int | None, ids: set[int]
) -> tuple[Story | None, list[Article]]:
    """The story and related headlines for a push, cached briefly: a fan-out asks once per chat."""
    cache = _push_context.setdefault(services.db, {})
    key = (article.id, story_id, frozenset(ids))
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and now - hit[0] < _CONTEXT_TTL_S:
        return hit[1], hit[2]
    story: Story | None = None
    if story_id is not None:
        async with services.db.unit_of_work() as session:
            story = await StoryRepo(session).get(story_id)
    related = await _related(services, article, ids)
    if len(cache) >= _CONTEXT_MAX:
        cache.clear()
    cache[key] = (now, story, related)
    return story, related


async def compose_push(
    services: Services,
    chat: Chat,
    deliveries: Sequence[Delivery],
    articles: Sequence[Article],
) -> Rendered:
    """One push (with related headlines and "also:" copies) or a burst for one story's rows."""
    items = list(articles)
    if not items:
        async with services.db.unit_of_work() as session:
            wanted = [d.article_id for d in deliveries if d.article_id is not None]
            items = await ArticleRepo(session).get_many(wanted)
    if not items:
        raise LookupError("the articles of these deliveries no longer exist")
    ids = {a.id for a in items}
    originals = [a for a in items if a.duplicate_of is None or a.duplicate_of not in ids]
    copies: dict[int, list[str]] = {}
    for article in items:
        if article.duplicate_of is not None and article.duplicate_of in ids:
            copies.setdefault(article.duplicate_of, []).append(_source(article))
    story_id = next((d.story_id for d in deliveries if d.story_id is not None), None)
    story_id = story_id if story_id is not None else originals[0].story_id
    article = originals[0]
    story, related = await _story_and_related(services, article, story_id, ids)
    lang, tz = chat.language, chat.timezone
    if len(originals) > 1 and story is not None:
        burst = [(a, _source(a), list(a.summary)) for a in originals]
        return render_burst(lang, tz, story, burst)
    also = [name for name in copies.get(article.id, []) if name and name != _source(article)]
    rendered = render_push(
        lang,
        tz,
        article,
        _source(article),
        list(article.summary),
        [(a, _source(a)) for a in related],
        list(dict.fromkeys(also)),
        story,
    )
    return rendered


def _first_line(article: Article) -> str:
    """A one-line summary of an article."""
    if article.summary:
        return article.summary[0]
    return article.lede or ""


_RENDERED_MAX: Final = 4096
RenderKey = tuple[str, str, date, bool, int, tuple[int, ...]]
BlockKey = tuple[str, int, int, tuple[int, ...]]


class DigestWindow:
    """Originals published in a digest window, by story, with keyword matches and rendered
    digests worked out once per window and shared by every chat built from it."""

    def __init__(self, articles: list[Article], stories: dict[int, Story]) -> None:
        """Index the window's originals by story."""
        self.stories = stories
        self.articles = [a for a in articles if a.duplicate_of is None]
        self.by_story: dict[int, list[Article]] = {}
        for article in self.articles:
            if article.story_id is not None:
                self.by_story.setdefault(article.story_id, []).append(article)
        self.when = {a.id: _when(a) for a in self.articles}
        self.stamp = {article_id: when.timestamp() for article_id, when in self.when.items()}
        ordered = sorted(self.articles, key=lambda a: (self.when[a.id], a.id))
        self.rank = {a.id: n for n, a in enumerate(ordered)}  # digest order: oldest, then id
        self._postings: dict[str, set[int]] | None = None
        self._matches: dict[tuple[str, ...], list[Article]] = {}
        self._recent: dict[datetime, dict[int, list[Article]]] = {}
        self.rendered: dict[RenderKey, tuple[str, ...]] = {}
        self.blocks: dict[BlockKey, str] = {}

    def recent(self, since: datetime) -> dict[int, list[Article]]:
        """Each story's originals published at or after `since`."""
        found = self._recent.get(since)
        if found is None:
            found = {}
            when = self.when
            for story_id, items in self.by_story.items():
                fresh = [a for a in items if when[a.id] >= since]
                if fresh:
                    found[story_id] = fresh
            self._recent = {since: found}
        return found

    def keyword_matches(self, terms: tuple[str, ...]) -> list[Article]:
        """Originals whose matching terms include all of `terms` (none for no terms)."""
        found = self._matches.get(terms)
        if found is not None:
            return found
        found = []
        if terms:
            postings = self._index()
            lists = sorted((postings.get(term, set()) for term in set(terms)), key=len)
            ids = set(lists[0]).intersection(*lists[1:])
            found = [a for a in self.articles if a.id in ids]
        self._matches[terms] = found
        return found

    def _index(self) -> dict[str, set[int]]:
        """Term → ids of the originals that have it, built on first use."""
        if self._postings is None:
            postings: dict[str, set[int]] = {}
            for article in self.articles:
                for term in article_terms(article):
                    postings.setdefault(term, set()).add(article.id)
            self._postings = postings
        return self._postings


_WINDOW_TTL_S: Final = 60.0
# Per database (weakly held: an id could be reused by a later object), by window minute.
_windows: WeakKeyDictionary[Database, dict[int, tuple[float, DigestWindow]]] = WeakKeyDictionary()


async def _window(services: Services, since: datetime) -> DigestWindow:
    """The articles since the start of `since`'s minute, shared by every digest built that minute."""
    minute = int(since.timestamp()) // 60
    now = time.monotonic()
    mine = _windows.setdefault(services.db, {})
    hit = mine.get(minute)
    if hit is not None and now - hit[0] < _WINDOW_TTL_S:
        return hit[1]
    async with services.db.unit_of_work() as session:
        articles = await ArticleRepo(session).since(datetime.fromtimestamp(minute * 60, UTC))
        story_ids = {a.story_id for a in articles if a.story_id is not None}
        stories = await StoryRepo(session).get_many(story_ids)
    window = DigestWindow(articles, stories)
    for stale in [k for k, (at, _) in mine.items() if now - at >= _WINDOW_TTL_S]:
        del mine[stale]
    mine[minute] = (now, window)
    return window


def _followed_articles(
    window: DigestWindow,
    follows: list[Follow],
    since: datetime,
    muted: frozenset[int] = frozenset(),
) -> list[Article]:
    """Originals published since `since` in a followed story or matching a keyword follow
    (the follows given: the caller leaves muted ones out), oldest first. Keyword matches
    in a `muted` story are left out too, as pushes leave them out."""
    recent, when, rank = window.recent(since), window.when, window.rank
    story_ids = {f.story_id for f in follows if f.kind is FollowKind.STORY and f.story_id}
    chosen = [a for sid in story_ids for a in recent.get(sid, ())]
    keywords = [f for f in follows if f.kind is FollowKind.KEYWORD]
    if keywords:
        seen = {a.id for a in chosen}
        for follow in keywords:
            for article in window.keyword_matches(follow.terms):
                if article.story_id in muted:
                    continue
                if article.id not in seen and when[article.id] >= since:
                    seen.add(article.id)
                    chosen.append(article)
    chosen.sort(key=lambda a: rank[a.id])
    return chosen


def _top_stories(
    window: DigestWindow, fresh: list[Article], limit: int
) -> tuple[list[tuple[int, list[Article]]], int]:
    """The `limit` stories with most of the articles new to the chat (given in digest
    order), then the most recent; and how many of the articles are not in them (past the
    top, or without a known story)."""
    stories, stamp = window.stories, window.stamp
    by_story: dict[int, list[Article]] = {}
    for article in fresh:
        if article.story_id in stories:
            by_story.setdefault(article.story_id, []).append(article)
    # in digest order, a story's newest article is its last; nsmallest == sorted()[:limit]
    top = heapq.nsmallest(
        limit, by_story.items(), key=lambda item: (-len(item[1]), -stamp[item[1][-1].id])
    )
    return top, len(fresh) - sum(len(items) for _, items in top)


def _digest_entry(window: DigestWindow, story_id: int, items: list[Article]) -> DigestEntry:
    """A story's digest entry: its count, one-line summary and two newest headlines."""
    when = window.when
    newest = sorted(items, key=lambda a: when[a.id], reverse=True)
    return DigestEntry(
        story=window.stories[story_id],
        new_count=len(items),
        summary_line=_first_line(newest[0]),
        headlines=[(a, _source(a)) for a in newest[:2]],
    )


def _story_block(
    window: DigestWindow, lang: str, index: int, story_id: int, items: list[Article]
) -> str:
    """A story's rendered digest block, shared by every chat with the same one at `index`."""
    key: BlockKey = (lang, index, story_id, tuple(a.id for a in items))
    block = window.blocks.get(key)
    if block is None:
        if len(window.blocks) >= _RENDERED_MAX:
            window.blocks.clear()
        block = render_digest_entry(lang, index, _digest_entry(window, story_id, items))
        window.blocks[key] = block
    return block


def compose_digest(
    window: DigestWindow, chat: Chat, chosen: list[Article], got: set[int], local_day: date
) -> list[str]:
    """One chat's digest from its followed articles (in digest order) and those it already
    received in full.

    Top stories by new articles: label, count, one-line summary, two newest headlines;
    received articles, articles without a known story and stories past the top ten count
    towards "N more updates". Chats whose inputs render the same (language, timezone,
    day, articles) share one rendering per window, and stories their blocks.
    """
    fresh = [a for a in chosen if a.id not in got] if got else chosen
    already = len(chosen) - len(fresh)
    key: RenderKey = (
        chat.language,
        chat.timezone,
        local_day,
        chat.empty_digest,
        already,
        tuple(a.id for a in fresh),
    )
    parts = window.rendered.get(key)
    if parts is None:
        top, left = _top_stories(window, fresh, DIGEST_STORIES)
        more = already + left
        parts = ()
        if top or chat.empty_digest:
            lang = chat.language
            blocks = [
                _story_block(window, lang, index, story_id, items)
                for index, (story_id, items) in enumerate(top, 1)
            ]
            parts = tuple(join_digest(lang, chat.timezone, blocks, more, local_day))
        if len(window.rendered) >= _RENDERED_MAX:
            window.rendered.clear()
        window.rendered[key] = parts
    return list(parts)


async def build_digests(
    services: Services, chats: Sequence[Chat], since: datetime
) -> dict[int, list[str]]:
    """Digests of many chats for articles since `since` (HTML parts by chat id; [] when a chat
    has nothing new), as `build_digest` makes each, from two set-based queries.

    The follows of every chat come in one query and what they already received in another;
    the composition of each chat's digest is then pure, from the shared window.
    """
    now = since + DIGEST_WINDOW
    window = await _window(services, since)
    chosen: dict[int, list[Article]] = {}
    got: dict[int, set[int]] = {}
    async with services.db.unit_of_work() as session:
        follows = await FollowRepo(session).for_chats(chat.id for chat in chats)
        for chat in chats:
            theirs = follows.get(chat.id, ())
            mine = [f for f in theirs if not f.muted]
            muted = frozenset(f.story_id for f in theirs if f.muted and f.story_id is not None)
            chosen[chat.id] = _followed_articles(window, mine, since, muted) if mine else []
        wanted = {a.id for items in chosen.values() for a in items}
        if wanted:
            owners = [chat_id for chat_id, items in chosen.items() if items]
            got = await DigestRepo(session).received_article_ids(
                owners, wanted, since - DIGEST_WINDOW
            )
    days: dict[str, date] = {}
    built: dict[int, list[str]] = {}
    for chat in chats:
        day = days.get(chat.timezone)
        if day is None:
            day = days[chat.timezone] = to_local(now, chat.timezone).date()
        built[chat.id] = compose_digest(window, chat, chosen[chat.id], got.get(chat.id, set()), day)
    return built


async def build_digest(services: Services, chat: Chat, since: datetime) -> list[str]:
    """The chat's digest for articles since `since` (HTML parts); [] when there is nothing new.

    Top stories by new articles: label, count, one-line summary, two newest headlines.
    Articles the chat already got in full as pushes only count towards "N more updates".
    With `chat.empty_digest`, an empty digest is rendered instead of [].
    """
    return (await build_digests(services, [chat], since))[chat.id]


def _when(article: Article) -> datetime:
    """The best known time of an article (aware; the epoch when unknown)."""
    found = article.published_at or article.fetched_at
    if found is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


async def topics_view(services: Services, chat: Chat, page: int) -> Rendered:
    """One page of trending stories with Follow buttons."""
    now = services.clock()
    page = max(0, page)
    async with services.db.unit_of_work() as session:
        stories = await StoryRepo(session).trending(
            now - TOPICS_WINDOW, TOPICS_PAGE + 1, page * TOPICS_PAGE
        )
    has_more = len(stories) > TOPICS_PAGE
    return render_topics(chat.language, stories[:TOPICS_PAGE], page, has_more, now)


async def latest_view(services: Services, chat: Chat, page: int = 0) -> Rendered:
    """The newest articles."""
    async with services.db.unit_of_work() as session:
        page = max(0, page)
        articles = await ArticleRepo(session).latest(LATEST_PAGE + 1, page * LATEST_PAGE)
    has_more = len(articles) > LATEST_PAGE
    return render_latest(chat.language, chat.timezone, articles[:LATEST_PAGE], page, has_more)


async def story_view(services: Services, chat: Chat, story_id: int) -> list[Rendered] | None:
    """The full-coverage card of a story, or None when it does not exist."""
    async with services.db.unit_of_work() as session:
        story = await StoryRepo(session).get(story_id)
        if story is None:
            return None
        articles = await ArticleRepo(session).for_story(story_id, TIMELINE_MAX)
    originals = [a for a in articles if a.duplicate_of is None] or articles
    summary = list(originals[0].summary) if originals else []
    timeline = [(a, _source(a)) for a in reversed(originals)]
    return render_story_card(chat.language, chat.timezone, story, summary, timeline)


async def has_follows(services: Services, chat_id: int) -> bool:
    """Whether the chat follows anything."""
    async with services.db.unit_of_work() as session:
        return bool(await FollowRepo(session).for_chat(chat_id))
