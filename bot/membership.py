"""Membership service: a chat that moved to a new id, and the bot leaving or rejoining a chat.

Telegram tells the bot both ways: a `migrate_to_chat_id`/`migrate_from_chat_id` service
message when a group becomes a supergroup (and a send to the old id fails with
ChatMigrated, handled by the delivery worker the same way), and a `my_chat_member` update
when the bot is removed from a group, blocked in a private chat, or added back.
"""

from __future__ import annotations

import logging

from bot.domain import Clock
from storage.db import Database
from storage.repos.chat_moves import ChatMoveRepo, MoveResult

log = logging.getLogger(__name__)


class MembershipService:
    """Moves chats to their new ids and records whether the bot is in a chat."""

    def __init__(self, db: Database, clock: Clock) -> None:
        """Use `db`; rows moved to a new id are due at `clock()`."""
        self.db = db
        self.clock = clock

    async def readdress(self, old_id: int, new_id: int) -> MoveResult:
        """Move a chat's settings, follows and owed rows from `old_id` to `new_id`."""
        async with self.db.unit_of_work() as session:
            moved = await ChatMoveRepo(session).move(old_id, new_id, self.clock())
        if moved.moved:
            log.info(
                "chat %s migrated to %s: %d follows, %d outbox rows moved",
                old_id,
                new_id,
                moved.follows,
                moved.deliveries,
            )
        return moved

    async def set_member(self, chat_id: int, member: bool) -> bool:
        """The bot joined (True) or left (False) a chat; whether a known chat changed."""
        reason = "bot removed from the chat" if not member else "bot added back"
        async with self.db.unit_of_work() as session:
            changed = await ChatMoveRepo(session).set_member(chat_id, member, reason)
        if changed:
            log.info("chat %s: %s", chat_id, "bot is back" if member else "bot removed; sends stop")
        return changed
