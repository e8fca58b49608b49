"""Pushes: one article (with related headlines and "also:" copies) or a story's burst,
rendered for one chat. The delivery worker's `Composer` is `PushComposer.compose`.

The story and related headlines of an article are cached briefly per composer object:
a fan-out to many chats asks for the same article once per chat. Entries older than
`CONTEXT_TTL_S` are dropped whenever one is stored, so the cache holds only the last
half-minute's articles (each entry keeps up to ten related articles with their text),
never `CONTEXT_MAX` expired ones.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from bot.domain import Article, Chat, Delivery, Story
from bot.follows import article_terms
from bot.pipeline.mutes import visible
from bot.pipeline.xlink import Coverage
from bot.presentation.digest import article_time, source_name
from bot.presentation.message import Rendered
from bot.presentation.previews import push_preview
from bot.presentation.render import render_burst, render_push
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.mutes import MuteRepo
from storage.repos.stories import StoryRepo

if TYPE_CHECKING:
    from bot.stories import StoryService

RELATED_LIMIT: Final = 5
RELATED_SPARE: Final = 5  # extra related headlines kept in the cache for chats that mute some
CONTEXT_TTL_S: Final = 30.0
CONTEXT_MAX: Final = 512

PushContextKey = tuple[int, int | None, frozenset[int]]


class PushComposer:
    """Composes pushes from the database, with a short-lived cache of push context."""

    def __init__(self, db: Database, stories: StoryService) -> None:
        """Read through `db`; related headlines come from `stories`."""
        self.db = db
        self.stories = stories
        self._context: dict[
            PushContextKey, tuple[float, Story | None, list[Article], Coverage | None]
        ] = {}

    async def _related(self, article: Article, exclude: set[int]) -> list[Article]:
        """Related headlines of the story: other sources first, newest first."""
        found = await self.stories.related(article, RELATED_LIMIT + RELATED_SPARE + len(exclude))
        found = [a for a in found if a.id not in exclude and a.duplicate_of is None]
        found.sort(
            key=lambda a: (
                a.story_id != article.story_id,
                a.source_id == article.source_id,
                -article_time(a).timestamp(),
            )
        )
        return found[: RELATED_LIMIT + RELATED_SPARE]

    async def _unmuted(self, chat: Chat, related: list[Article]) -> list[Article]:
        """The related headlines the chat's mutes leave, at most `RELATED_LIMIT`."""
        if not related:
            return related
        async with self.db.unit_of_work() as session:
            mutes = await MuteRepo(session).filter_for(chat.id)
        return visible(related, mutes, article_terms)[:RELATED_LIMIT]

    async def _story_and_related(
        self, article: Article, story_id: int | None, ids: set[int]
    ) -> tuple[Story | None, list[Article], Coverage | None]:
        """The story, related headlines and coverage for a push, cached briefly: a fan-out
        asks once per chat."""
        cache = self._context
        key = (article.id, story_id, frozenset(ids))
        now = time.monotonic()
        hit = cache.get(key)
        if hit is not None and now - hit[0] < CONTEXT_TTL_S:
            return hit[1], hit[2], hit[3]
        story: Story | None = None
        covered: Coverage | None = None
        if story_id is not None:
            async with self.db.unit_of_work() as session:
                story = await StoryRepo(session).get(story_id)
            covered = await self.stories.coverage(story_id)
        related = await self._related(article, ids)
        for stale in [k for k, hit in cache.items() if now - hit[0] >= CONTEXT_TTL_S]:
            del cache[stale]
        if len(cache) >= CONTEXT_MAX:
            cache.clear()
        cache[key] = (now, story, related, covered)
        return story, related, covered

    @property
    def cached(self) -> int:
        """How many push contexts the cache holds."""
        return len(self._context)

    async def compose(
        self, chat: Chat, deliveries: Sequence[Delivery], articles: Sequence[Article]
    ) -> Rendered:
        """One push (with related headlines and "also:" copies) or a burst for one story's
        rows, with the first article's link preview as the chat chose."""
        items = list(articles)
        if not items:
            async with self.db.unit_of_work() as session:
                wanted = [d.article_id for d in deliveries if d.article_id is not None]
                items = await ArticleRepo(session).get_many(wanted)
        if not items:
            raise LookupError("the articles of these deliveries no longer exist")
        ids = {a.id for a in items}
        originals = [a for a in items if a.duplicate_of is None or a.duplicate_of not in ids]
        copies: dict[int, list[str]] = {}
        for article in items:
            if article.duplicate_of is not None and article.duplicate_of in ids:
                copies.setdefault(article.duplicate_of, []).append(source_name(article))
        story_id = next((d.story_id for d in deliveries if d.story_id is not None), None)
        story_id = story_id if story_id is not None else originals[0].story_id
        article = originals[0]
        story, related, covered = await self._story_and_related(article, story_id, ids)
        lang, tz = chat.language, chat.timezone
        link = push_preview(chat.preview, article)
        if len(originals) > 1 and story is not None:
            burst = [(a, source_name(a), list(a.summary)) for a in originals]
            return replace(render_burst(lang, tz, story, burst), link=link)
        related = await self._unmuted(chat, related)
        also = [
            name for name in copies.get(article.id, []) if name and name != source_name(article)
        ]
        rendered = render_push(
            lang,
            tz,
            article,
            source_name(article),
            list(article.summary),
            [(a, source_name(a)) for a in related],
            list(dict.fromkeys(also)),
            story,
            covered,
        )
        return replace(rendered, link=link)
