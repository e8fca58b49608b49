"""A chat that changed its id (a group upgraded to a supergroup) and the bot's membership.

`ChatMoveRepo.move` carries a chat over to its new id in the caller's transaction: its
settings (when the new id is not known yet), its follows and its outbox rows move, rows
the new chat already has (the same article or digest day) are dropped with the old chat,
and the saved search tokens follow. Rows still owed become pending and due at once, except
rows another process has claimed: a send to the old id can only fail, so that process
moves them again when it hears of the migration.

`set_member` records whether the bot is in a chat (`my_chat_member`): a bot removed from a
group, or blocked in a private chat, marks the chat blocked and skips what it is owed,
exactly as a 403 does; being added back clears the mark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain import ChatType, DeliveryState
from storage.models import CallbackTokenRow, ChatRow, DeliveryRow, FollowRow
from storage.repos.deliveries import DeliveryRepo

_PENDING = str(DeliveryState.PENDING)
_CLAIMED = str(DeliveryState.CLAIMED)
_COPIED = (
    "title",
    "language",
    "timezone",
    "digest_time",
    "quiet_start",
    "quiet_end",
    "quiet_mode",
    "empty_digest",
    "paused",
    "last_digest_on",
    "next_digest_at",
    "created_at",
    "news_langs",
)


@dataclass(frozen=True, slots=True)
class MoveResult:
    """What one move did: follows and outbox rows moved, duplicates dropped, rows due again."""

    moved: bool
    follows: int = 0
    deliveries: int = 0
    dropped: int = 0
    released: int = 0


def _count(result: Any) -> int:
    """Rows an UPDATE or DELETE touched."""
    return int(getattr(result, "rowcount", 0) or 0)


class ChatMoveRepo:
    """Moves a chat to its new id, and records the bot's membership of a chat."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def move(
        self,
        old_id: int,
        new_id: int,
        at: datetime,
        *,
        holder: str | None = None,
        release: Sequence[int] = (),
    ) -> MoveResult:
        """Move chat `old_id` to `new_id`; `release` are rows `holder` claimed for the old id
        (they become pending, due at `at`, wherever they now belong)."""
        released = await self._release(holder, release, at)
        if old_id == new_id:
            return MoveResult(False, released=released)
        old = await self.session.get(ChatRow, old_id)
        if old is None:
            return MoveResult(False, released=released)
        await self._ensure_target(old, new_id)
        follows = await self._move_follows(old_id, new_id)
        deliveries = await self._move_deliveries(old_id, new_id, at)
        await self.session.execute(
            update(CallbackTokenRow)
            .where(CallbackTokenRow.chat_id == old_id)
            .values(chat_id=new_id)
        )
        dropped = _count(
            await self.session.execute(delete(DeliveryRow).where(DeliveryRow.chat_id == old_id))
        )
        await self.session.execute(delete(FollowRow).where(FollowRow.chat_id == old_id))
        await self.session.delete(old)
        await self.session.flush()
        return MoveResult(True, follows, deliveries, dropped, released)

    async def _release(self, holder: str | None, ids: Sequence[int], at: datetime) -> int:
        """The holder's claimed rows of the failed send, pending and due at `at`."""
        if holder is None or not ids:
            return 0
        result = await self.session.execute(
            update(DeliveryRow)
            .where(
                DeliveryRow.id.in_(list(ids)),
                DeliveryRow.state == _CLAIMED,
                DeliveryRow.claimed_by == holder,
            )
            .values(state=_PENDING, claimed_by=None, claim_until=None, next_attempt_at=at)
        )
        return _count(result)

    async def _ensure_target(self, old: ChatRow, new_id: int) -> None:
        """The new chat, a copy of the old one's settings when it is not known yet."""
        target = await self.session.get(ChatRow, new_id)
        if target is None:
            values = {name: getattr(old, name) for name in _COPIED}
            target = ChatRow(id=new_id, type=str(ChatType.SUPERGROUP), blocked=False, **values)
            self.session.add(target)
        else:
            target.blocked = False
        await self.session.flush()

    async def _move_follows(self, old_id: int, new_id: int) -> int:
        """Follows the new chat does not have already (same story or same terms)."""
        mine = aliased(FollowRow)
        clash = exists().where(
            mine.chat_id == new_id,
            or_(mine.story_id == FollowRow.story_id, mine.terms == FollowRow.terms),
        )
        result = await self.session.execute(
            update(FollowRow)
            .where(FollowRow.chat_id == old_id, ~clash)
            .values(chat_id=new_id)
            .execution_options(synchronize_session=False)
        )
        return _count(result)

    async def _move_deliveries(self, old_id: int, new_id: int, at: datetime) -> int:
        """Outbox rows the new chat does not owe already; unclaimed pending ones due at `at`."""
        mine = aliased(DeliveryRow)
        clash = exists().where(
            mine.chat_id == new_id,
            or_(
                and_(mine.article_id.is_not(None), mine.article_id == DeliveryRow.article_id),
                and_(mine.digest_on.is_not(None), mine.digest_on == DeliveryRow.digest_on),
            ),
        )
        ids = list(
            await self.session.scalars(
                select(DeliveryRow.id).where(DeliveryRow.chat_id == old_id, ~clash)
            )
        )
        if not ids:
            return 0
        await self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id.in_(ids))
            .values(chat_id=new_id)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id.in_(ids), DeliveryRow.state == _PENDING)
            .values(next_attempt_at=at)
            .execution_options(synchronize_session=False)
        )
        return len(ids)

    async def set_member(self, chat_id: int, member: bool, reason: str) -> bool:
        """Record whether the bot is in a known chat; False when the chat is unknown or
        nothing changed. Leaving skips every row the chat is still owed."""
        chat = await self.session.get(ChatRow, chat_id)
        if chat is None or bool(chat.blocked) == (not member):
            return False
        chat.blocked = not member
        await self.session.flush()
        if not member:
            await DeliveryRepo(self.session).skip_chat(chat_id, reason)
        return True
