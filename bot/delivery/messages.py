"""What a chat's claimed rows become: messages (a story's burst folded into one), composed.

`group_messages` is pure: a chat's article rows of one story for one forum topic become
one message (the first row is the one recorded as sent, the others are folded into it);
digests stay alone. `FirstCompose` lets the first chat of a batch compose a set of articles alone, so
the composer's per-article caches are filled once before the other chats ask.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bot.domain import Article, Chat, Delivery, DeliveryKind
from bot.presentation.message import Rendered

Composer = Callable[[Chat, Sequence[Delivery], Sequence[Article]], Awaitable[Rendered]]
DigestComposer = Callable[[Chat, Delivery], Awaitable[Sequence[Rendered]]]

WARMED_MAX = 4096  # composer warm-up keys remembered within one pass


@dataclass(slots=True)
class Message:
    """One message to send for a chat: its rows (first = the one recorded as sent)."""

    rows: list[Delivery]
    articles: list[Article] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        """All row ids."""
        return [r.id for r in self.rows]

    @property
    def thread_id(self) -> int | None:
        """The forum topic an article message goes to (its rows share it)."""
        return self.rows[0].thread_id


def group_messages(rows: Sequence[Delivery], articles: dict[int, Article]) -> list[Message]:
    """Fold a chat's article rows by story and topic into one message each; digests stay
    alone."""
    messages: list[Message] = []
    by_story: dict[tuple[int, int | None], Message] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.kind == DeliveryKind.DIGEST:
            messages.append(Message([row]))
            continue
        article = articles.get(row.article_id) if row.article_id is not None else None
        key = (row.story_id, row.thread_id) if row.story_id is not None else None
        if key is not None and key in by_story:
            target = by_story[key]
            target.rows.append(row)
        else:
            target = Message([row])
            messages.append(target)
            if key is not None:
                by_story[key] = target
        if article is not None:
            target.articles.append(article)
    return messages


class FirstCompose:
    """Runs a composer so that the first message for a set of articles is composed alone.

    Composers cache per article (story, related items), so letting one task fill the
    cache before the other chats of the batch compose the same articles saves each of
    them the same database reads.
    """

    def __init__(self, compose: Composer) -> None:
        """Wrap `compose`."""
        self.compose = compose
        self._locks: dict[tuple[int, ...], asyncio.Lock] = {}
        self._warmed: set[tuple[int, ...]] = set()

    async def __call__(self, chat: Chat, message: Message) -> Rendered:
        """Compose a push; the first one for a set of articles goes alone."""
        key = tuple(sorted(a.id for a in message.articles))
        if key in self._warmed:
            return await self.compose(chat, message.rows, message.articles)
        async with self._locks.setdefault(key, asyncio.Lock()):
            rendered = await self.compose(chat, message.rows, message.articles)
            self._warmed.add(key)
            return rendered

    def trim(self) -> None:
        """Forget warmed keys once there are too many (locks in use are kept)."""
        if len(self._warmed) > WARMED_MAX:
            self._warmed.clear()
            self._locks = {k: lock for k, lock in self._locks.items() if lock.locked()}

    def clear(self) -> None:
        """Forget everything (the end of a pass)."""
        self._locks.clear()
        self._warmed.clear()
