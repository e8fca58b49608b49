"""Fakes shared by the delivery and digest tests: a clock, a sender with faults, data builders."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from bot.domain import Article, Chat, ChatType, Delivery
from bot.presentation.message import Keyboard, Rendered
from storage.db import Database
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.chats import ChatRepo
from storage.repos.stories import StoryRepo

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """A settable UTC clock; `sleep` advances it instead of waiting."""

    now: datetime = T0

    def __call__(self) -> datetime:
        """The current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        """Let other tasks run, then make sure at least `seconds` have passed."""
        target = self.now + timedelta(seconds=seconds)
        await asyncio.sleep(0)
        self.now = max(self.now, target)


@dataclass
class Sent:
    """One message the fake sender accepted."""

    chat_id: int
    text: str
    html: bool
    message_id: int
    at: datetime
    thread_id: int | None = None
    preview: object = None


@dataclass
class FakeSender:
    """An in-memory `Sender`: records sends; per-chat queues of exceptions to raise first."""

    clock: FakeClock
    faults: dict[int, list[Exception]] = field(default_factory=dict)
    always: dict[int, Exception] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    calls: int = 0

    async def send(
        self,
        chat_id: int,
        text: str,
        buttons: Keyboard,
        preview: object,
        *,
        html: bool = True,
        thread_id: int | None = None,
    ) -> int:
        """Raise a queued fault for this chat, or record the message."""
        self.calls += 1
        await asyncio.sleep(0)
        if chat_id in self.always:
            raise self.always[chat_id]
        queue = self.faults.get(chat_id)
        if queue:
            raise queue.pop(0)
        message_id = len(self.sent) + 1000
        self.sent.append(Sent(chat_id, text, html, message_id, self.clock(), thread_id, preview))
        return message_id

    def to(self, chat_id: int) -> list[Sent]:
        """Messages one chat received."""
        return [s for s in self.sent if s.chat_id == chat_id]


async def compose(chat: Chat, rows: Sequence[Delivery], articles: Sequence[Article]) -> Rendered:
    """A tiny composer: '<b>N new</b>: titles' with a plain twin."""
    titles = ", ".join(a.title for a in articles)
    return Rendered(f"<b>{len(rows)} new</b>: {titles}", plain=f"{len(rows)} new: {titles}")


async def make_chat(
    db: Database,
    chat_id: int,
    *,
    type: ChatType = ChatType.PRIVATE,
    timezone: str = "UTC",
    digest_time: time = time(8, 0),
    **settings: object,
) -> Chat:
    """Create a chat with settings."""
    async with db.unit_of_work() as s:
        await ChatRepo(s).ensure(chat_id, type=type, timezone=timezone, digest_time=digest_time)
        chat = await ChatRepo(s).update(chat_id, **settings) if settings else None
        return chat or (await ChatRepo(s).get(chat_id))  # type: ignore[return-value]


async def make_story(db: Database, label: str = "story") -> int:
    """Create a story; returns its id."""
    async with db.unit_of_work() as s:
        return (await StoryRepo(s).create(label, T0)).id


async def make_article(
    db: Database, story_id: int | None, title: str, *, duplicate_of: int | None = None
) -> Article:
    """Insert an article in a story (not yet fanned out)."""
    async with db.unit_of_work() as s:
        repo = ArticleRepo(s)
        art = await repo.insert(
            ArticleFields(
                url=f"https://news.example/{title.replace(' ', '-')}",
                title=title,
                duplicate_of=duplicate_of,
                published_at=T0,
            )
        )
        if story_id is not None:
            await repo.set_story(art.id, story_id)
        found = await repo.get(art.id)
        assert found is not None
        return found
