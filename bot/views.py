"""Read views for the Telegram handlers: trending topics, latest articles, a story's card,
whether a chat follows anything, and the operator figures — read here, rendered by the
pure `bot.presentation.render`, so handlers never open a unit of work themselves."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from bot.domain import Chat, Clock, Stats
from bot.presentation.digest import source_name
from bot.presentation.message import Rendered
from bot.presentation.render import render_latest, render_story_card, render_topics
from bot.stats import collect_stats
from storage.db import Database
from storage.repos.articles import ArticleRepo
from storage.repos.chats import FollowRepo
from storage.repos.stories import StoryRepo

TOPICS_PAGE: Final = 5
TOPICS_WINDOW: Final = timedelta(days=3)
LATEST_PAGE: Final = 10
TIMELINE_MAX: Final = 40


class ReadViews:
    """Database reads behind the browsing commands and buttons, rendered for one chat."""

    def __init__(self, db: Database, clock: Clock) -> None:
        """Read through `db`; `clock` dates the trending window and the figures."""
        self.db = db
        self.clock = clock

    async def topics(self, chat: Chat, page: int) -> Rendered:
        """One page of trending stories with Follow buttons."""
        now = self.clock()
        page = max(0, page)
        async with self.db.unit_of_work() as session:
            stories = await StoryRepo(session).trending(
                now - TOPICS_WINDOW, TOPICS_PAGE + 1, page * TOPICS_PAGE
            )
        has_more = len(stories) > TOPICS_PAGE
        return render_topics(chat.language, stories[:TOPICS_PAGE], page, has_more, now)

    async def latest(self, chat: Chat, page: int = 0) -> Rendered:
        """The newest articles."""
        page = max(0, page)
        async with self.db.unit_of_work() as session:
            articles = await ArticleRepo(session).latest(LATEST_PAGE + 1, page * LATEST_PAGE)
        has_more = len(articles) > LATEST_PAGE
        return render_latest(chat.language, chat.timezone, articles[:LATEST_PAGE], page, has_more)

    async def story(self, chat: Chat, story_id: int) -> list[Rendered] | None:
        """The full-coverage card of a story, or None when it does not exist."""
        async with self.db.unit_of_work() as session:
            story = await StoryRepo(session).get(story_id)
            if story is None:
                return None
            articles = await ArticleRepo(session).for_story(story_id, TIMELINE_MAX)
        originals = [a for a in articles if a.duplicate_of is None] or articles
        summary = list(originals[0].summary) if originals else []
        timeline = [(a, source_name(a)) for a in reversed(originals)]
        return render_story_card(chat.language, chat.timezone, story, summary, timeline)

    async def has_follows(self, chat_id: int) -> bool:
        """Whether the chat follows anything."""
        async with self.db.unit_of_work() as session:
            return bool(await FollowRepo(session).for_chat(chat_id))

    async def stats(self) -> Stats:
        """The operator figures for /stats, as of now."""
        return await collect_stats(self.db, self.clock())
