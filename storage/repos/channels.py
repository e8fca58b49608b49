"""Connected channels: chats of type channel that an admin manages from a private chat.

A channel is connected while its row has `managed_by` set (the Telegram user id of the admin
who connected it). Disconnecting clears `managed_by`, pauses the chat, deletes its follows
and skips what it is still owed, so nothing more is sent there.
"""

from __future__ import annotations

from datetime import time

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Chat, ChatType, QuietMode
from storage.mappers import to_chat
from storage.models import ChatRow, FollowRow
from storage.repos.deliveries import DeliveryRepo

_CHANNEL = str(ChatType.CHANNEL)


class ChannelRepo:
    """Connect, list, disconnect and find lost channels."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def connect(
        self,
        chat_id: int,
        *,
        title: str | None,
        managed_by: int,
        language: str,
        timezone: str,
        digest_time: time,
    ) -> Chat:
        """Create or take over the channel's row for `managed_by`; sends to it are on again."""
        row = await self.session.get(ChatRow, chat_id)
        if row is None:
            row = ChatRow(
                id=chat_id,
                quiet_mode=str(QuietMode.HOLD),
                empty_digest=False,
                digest_time=digest_time,
                timezone=timezone,
            )
            self.session.add(row)
        row.type = _CHANNEL
        row.title = title
        row.language = language
        row.managed_by = managed_by
        row.paused = False
        row.blocked = False
        row.next_digest_at = None
        await self.session.flush()
        return to_chat(row)

    async def managed(self, user_id: int) -> list[Chat]:
        """The channels `user_id` connected, by title."""
        rows = await self.session.scalars(
            select(ChatRow)
            .where(ChatRow.managed_by == user_id, ChatRow.type == _CHANNEL)
            .order_by(ChatRow.title, ChatRow.id)
        )
        return [to_chat(r) for r in rows]

    async def disconnect(
        self, chat_id: int, reason: str, manager: int | None = None
    ) -> list[int] | None:
        """Disconnect a connected channel (only if still managed by `manager`, when given):
        its follows go, what it is owed is skipped, the chat is paused. Returns the ids of
        the deleted follows, or None when the channel was not connected (or not theirs)."""
        query = update(ChatRow).where(
            ChatRow.id == chat_id, ChatRow.type == _CHANNEL, ChatRow.managed_by.is_not(None)
        )
        if manager is not None:
            query = query.where(ChatRow.managed_by == manager)
        result = await self.session.execute(query.values(managed_by=None, paused=True))
        if not int(getattr(result, "rowcount", 0) or 0):
            return None
        ids = list(
            await self.session.scalars(select(FollowRow.id).where(FollowRow.chat_id == chat_id))
        )
        await self.session.execute(delete(FollowRow).where(FollowRow.chat_id == chat_id))
        await DeliveryRepo(self.session).skip_chat(chat_id, reason)
        return [int(i) for i in ids]

    async def lost(self, limit: int = 100) -> list[Chat]:
        """Connected channels that Telegram refused (marked blocked after a 403)."""
        rows = await self.session.scalars(
            select(ChatRow)
            .where(
                ChatRow.type == _CHANNEL,
                ChatRow.managed_by.is_not(None),
                ChatRow.blocked.is_(True),
            )
            .order_by(ChatRow.id)
            .limit(limit)
        )
        return [to_chat(r) for r in rows]

    async def unblock(self, chat_id: int) -> bool:
        """Clear a connected channel's blocked mark (the bot can still post there)."""
        result = await self.session.execute(
            update(ChatRow)
            .where(ChatRow.id == chat_id, ChatRow.blocked.is_(True))
            .values(blocked=False)
        )
        return bool(getattr(result, "rowcount", 0))
