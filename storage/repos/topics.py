"""Forum topics and link previews of chats: the forum flag, the digest topic, the preview
setting, and forgetting a topic that was closed or deleted."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Chat, DeliveryState, PreviewMode
from storage.models import ChatRow, DeliveryRow, FollowRow
from storage.repos.chats import ChatRepo

#: Outbox states whose rows are still owed (their topic may still change).
OWED = (str(DeliveryState.PENDING), str(DeliveryState.CLAIMED))


@dataclass(frozen=True, slots=True)
class ForgottenTopic:
    """What forgetting a topic changed: follows, the digest topic and owed rows."""

    follows: int
    digest: bool
    deliveries: int

    @property
    def changed(self) -> bool:
        """Whether anything still pointed at the topic."""
        return bool(self.follows or self.digest)


def _count(result: object) -> int:
    """Rows an UPDATE touched."""
    return int(getattr(result, "rowcount", 0) or 0)


class TopicRepo:
    """Writes the forum and preview settings of chats."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def _set(self, chat_id: int, **values: object) -> Chat | None:
        """Set columns of one chat; the updated chat (None when unknown)."""
        return await ChatRepo(self.session).update(chat_id, **values)

    async def set_forum(self, chat_id: int, is_forum: bool) -> Chat | None:
        """Record whether the chat is a forum (a non-forum has no digest topic)."""
        if is_forum:
            return await self._set(chat_id, is_forum=True)
        return await self._set(chat_id, is_forum=False, digest_thread_id=None)

    async def set_digest_thread(self, chat_id: int, thread_id: int | None) -> Chat | None:
        """The forum topic digests go to (None: the general topic)."""
        return await self._set(chat_id, digest_thread_id=thread_id)

    async def set_preview(self, chat_id: int, mode: PreviewMode) -> Chat | None:
        """Where pushes show the article's link preview."""
        return await self._set(chat_id, preview=str(mode))

    async def set_follow_thread(self, chat_id: int, follow_id: int, thread_id: int | None) -> bool:
        """Deliver one of the chat's follows into `thread_id`; False if it is not theirs."""
        result = await self.session.execute(
            update(FollowRow)
            .where(FollowRow.id == follow_id, FollowRow.chat_id == chat_id)
            .values(thread_id=thread_id)
        )
        return _count(result) > 0

    async def forget_thread(self, chat_id: int, thread_id: int) -> ForgottenTopic:
        """Point the chat's follows, digest and owed rows in `thread_id` at the general topic."""
        follows = await self.session.execute(
            update(FollowRow)
            .where(FollowRow.chat_id == chat_id, FollowRow.thread_id == thread_id)
            .values(thread_id=None)
        )
        digest = await self.session.execute(
            update(ChatRow)
            .where(ChatRow.id == chat_id, ChatRow.digest_thread_id == thread_id)
            .values(digest_thread_id=None)
        )
        owed = await self.session.execute(
            update(DeliveryRow)
            .where(
                DeliveryRow.chat_id == chat_id,
                DeliveryRow.thread_id == thread_id,
                DeliveryRow.state.in_(OWED),
            )
            .values(thread_id=None)
        )
        return ForgottenTopic(_count(follows), _count(digest) > 0, _count(owed))
