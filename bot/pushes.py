"""Pushes: one article (with related headlines and "also:" copies) or a story's burst,
rendered for one chat. The delivery worker's `Composer` is `PushComposer.compose`.

The story and related headlines of an article are cached briefly per composer object:
a fan-out to many chats asks for the same article once per chat. Entries older than
`CONTEXT_TTL_S` are dropped whenever one is stored, so the cache holds only the last
half-minute's articles (each entry keeps up to ten related articles with their text),
never `CONTEXT_MAX` expired ones.

Identical pushes are rendered once: a fan-out sends the same articles with the same context
to chats that mostly share a language, timezone, preview setting and related headlines, so
a render is kept (at most `RENDER_MAX`) under those inputs and the context it was made from,
and every chat with the same inputs gets the same `Rendered`.

A push's related headlines leave out what the chat muted. The delivery worker hands each
claim's chats to `prepare`, which reads all their mutes in one query; a push uses them
while fresh (`MUTES_TTL_S`) and reads its chat's mutes alone otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from bot.domain import Article, Chat, Delivery, PreviewMode, Story
from bot.follows import article_terms
from bot.pipeline.mutes import MuteFilter, filters_by_chat, mute_filter, visible
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

RENDER_MAX: Final = 512  # renders kept; all are dropped when this many are held
# A chat's mutes read for a claim (`prepare`) serve its pushes this long; a claim covers
# about five seconds of sends, and a mute set meanwhile counts from the next claim.
MUTES_TTL_S: Final = 10.0
MUTES_MAX: Final = 50_000  # chats whose mutes are held; all are dropped beyond this
NO_MUTES: Final = mute_filter(())  # shared by the chats that muted nothing

PushContextKey = tuple[int, int | None, frozenset[int]]
PushContext = tuple[float, Story | None, list[Article], Coverage | None]
# What a push's render depends on: the articles, the story id, when its context was read,
# the chat's language, timezone and preview setting, and the related headlines it shows.
RenderKey = tuple[tuple[Article, ...], int | None, float, str, str, PreviewMode, tuple[int, ...]]


class PushComposer:
    """Composes pushes from the database, with a short-lived cache of push context."""

    def __init__(self, db: Database, stories: StoryService) -> None:
        """Read through `db`; related headlines come from `stories`."""
        self.db = db
        self.stories = stories
        self._context: dict[PushContextKey, PushContext] = {}
        self._renders: dict[RenderKey, Rendered] = {}
        self._mutes: dict[int, tuple[float, MuteFilter]] = {}  # chat -> (read at, filter)

    async def prepare(self, chat_ids: list[int]) -> None:
        """Read the mutes of a claim's chats in one query, for their pushes' related
        headlines (one read per push halved the send rate at 1,000 msg/s)."""
        async with self.db.unit_of_work() as session:
            found = filters_by_chat(await MuteRepo(session).for_chats(chat_ids))
        now = time.monotonic()
        if len(self._mutes) + len(chat_ids) > MUTES_MAX:
            self._mutes.clear()
        for chat_id in chat_ids:
            self._mutes[chat_id] = (now, found.get(chat_id, NO_MUTES))

    async def _mute_filter(self, chat_id: int) -> MuteFilter:
        """The chat's mutes: as its claim read them when fresh, else read now."""
        held = self._mutes.get(chat_id)
        if held is not None and time.monotonic() - held[0] < MUTES_TTL_S:
            return held[1]
        async with self.db.unit_of_work() as session:
            return await MuteRepo(session).filter_for(chat_id)

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
        mutes = await self._mute_filter(chat.id)
        return visible(related, mutes, article_terms)[:RELATED_LIMIT]

    async def _push_context(
        self, article: Article, story_id: int | None, ids: set[int]
    ) -> PushContext:
        """When the push context was read, with the story, related headlines and coverage;
        cached briefly, as a fan-out asks once per chat."""
        cache = self._context
        key = (article.id, story_id, frozenset(ids))
        now = time.monotonic()
        hit = cache.get(key)
        if hit is not None and now - hit[0] < CONTEXT_TTL_S:
            return hit
        story: Story | None = None
        covered: Coverage | None = None
        if story_id is not None:
            async with self.db.unit_of_work() as session:
                story = await StoryRepo(session).get(story_id)
            covered = await self.stories.coverage(story_id)
        related = await self._related(article, ids)
        for stale in [k for k, hit in cache.items() if now - hit[0] >= CONTEXT_TTL_S]:
            del cache[stale]
        renders = self._renders  # a render made from an expired context is never asked again
        for gone in [k for k in renders if now - k[2] >= CONTEXT_TTL_S]:
            del renders[gone]
        if len(cache) >= CONTEXT_MAX:
            cache.clear()
        entry = cache[key] = (now, story, related, covered)
        return entry

    @property
    def cached(self) -> int:
        """How many push contexts the cache holds."""
        return len(self._context)

    @property
    def renders_kept(self) -> int:
        """How many renders are memoised."""
        return len(self._renders)

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
        read_at, story, related, covered = await self._push_context(article, story_id, ids)
        is_burst = len(originals) > 1 and story is not None
        if not is_burst:
            related = await self._unmuted(chat, related)
        shown = () if is_burst else tuple(a.id for a in related)
        key = (tuple(items), story_id, read_at, chat.language, chat.timezone, chat.preview, shown)
        rendered = self._renders.get(key)
        if rendered is None:
            if story is not None and is_burst:
                rendered = _burst(chat, story, originals)
            else:
                rendered = _push(chat, article, related, copies.get(article.id, []), story, covered)
            if len(self._renders) >= RENDER_MAX:
                self._renders.clear()
            self._renders[key] = rendered
        return rendered


def _burst(chat: Chat, story: Story, originals: list[Article]) -> Rendered:
    """A story's new articles folded into one message, with the first one's link preview."""
    burst = [(a, source_name(a), list(a.summary)) for a in originals]
    rendered = render_burst(chat.language, chat.timezone, story, burst)
    return replace(rendered, link=push_preview(chat.preview, originals[0]))


def _push(
    chat: Chat,
    article: Article,
    related: list[Article],
    copies: list[str],
    story: Story | None,
    covered: Coverage | None,
) -> Rendered:
    """One article with its related headlines, the sources of its copies ("also:") and its
    link preview."""
    name = source_name(article)
    also = [other for other in copies if other and other != name]
    rendered = render_push(
        chat.language,
        chat.timezone,
        article,
        name,
        list(article.summary),
        [(a, source_name(a)) for a in related],
        list(dict.fromkeys(also)),
        story,
        covered,
    )
    return replace(rendered, link=push_preview(chat.preview, article))
