"""Channel service: channels an admin connects from a private chat, and what they receive.

A connected channel is an ordinary chat row (type channel) with `managed_by` set; its follows
and digest go through the same follow, fan-out, digest and outbox code as any chat. Telegram
checks (is the bot an admin that may post, is the user an admin) are done by the handlers
before they call this service.
"""

from __future__ import annotations

import logging

from bot.chats import ChatError
from bot.domain import Chat, DeliveryMode, Follow
from bot.follows import FollowMatcher
from bot.presentation.channels import is_digest_mode
from storage.db import Database
from storage.repos.channels import ChannelRepo
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.stories import StoryRepo

log = logging.getLogger(__name__)

MAX_CHANNELS = 20  # channels one admin may connect


class ChannelService:
    """Connects, lists and disconnects channels; switches a channel's digest mode."""

    def __init__(self, db: Database, follows: FollowMatcher) -> None:
        """Use `db`; keyword follows dropped at disconnect leave `follows` at once."""
        self.db = db
        self.follows = follows

    async def connect(self, channel_id: int, title: str | None, manager: Chat) -> Chat:
        """Connect a channel for the admin of the private chat `manager` (their language,
        time zone and digest time); ChatError when they have too many channels."""
        async with self.db.unit_of_work() as session:
            repo = ChannelRepo(session)
            mine = await repo.managed(manager.id)
            if len(mine) >= MAX_CHANNELS and all(c.id != channel_id for c in mine):
                raise ChatError("channel.limit", {"max": MAX_CHANNELS})
            channel = await repo.connect(
                channel_id,
                title=(title or "")[:200] or None,
                managed_by=manager.id,
                language=manager.language,
                timezone=manager.timezone,
                digest_time=manager.digest_time,
            )
        log.info("channel %s connected by %s", channel_id, manager.id)
        return channel

    async def managed(self, user_id: int) -> list[Chat]:
        """The channels this user connected."""
        async with self.db.unit_of_work() as session:
            return await ChannelRepo(session).managed(user_id)

    async def get(self, chat_id: int) -> Chat | None:
        """One chat (connected or not)."""
        async with self.db.unit_of_work() as session:
            return await ChatRepo(session).get(chat_id)

    async def overview(
        self, user_id: int
    ) -> tuple[list[tuple[Chat, list[Follow]]], dict[int, str]]:
        """The user's channels, each with its follows (oldest first), and story labels."""
        async with self.db.unit_of_work() as session:
            channels = await ChannelRepo(session).managed(user_id)
            follows = await FollowRepo(session).for_chats(c.id for c in channels)
            ids = [f.story_id for fs in follows.values() for f in fs if f.story_id is not None]
            stories = await StoryRepo(session).get_many(ids)
        listed = [(c, follows.get(c.id, [])) for c in channels]
        return listed, {i: s.label for i, s in stories.items()}

    async def disconnect(self, chat_id: int, reason: str, manager: int | None = None) -> bool:
        """Disconnect a channel (only if `manager` still manages it, when given)."""
        async with self.db.unit_of_work() as session:
            removed = await ChannelRepo(session).disconnect(chat_id, reason, manager)
        if removed is None:
            return False
        for follow_id in removed:
            self.follows.forget(follow_id)
        log.info("channel %s disconnected (%s)", chat_id, reason)
        return True

    async def lost(self) -> list[Chat]:
        """Connected channels marked blocked after Telegram refused a send."""
        async with self.db.unit_of_work() as session:
            return await ChannelRepo(session).lost()

    async def unblock(self, chat_id: int) -> bool:
        """The bot may still post there: clear the blocked mark."""
        async with self.db.unit_of_work() as session:
            return await ChannelRepo(session).unblock(chat_id)

    async def digest_mode(self, chat_id: int) -> bool:
        """Whether the channel gets its follows as a daily digest (every follow digest-only)."""
        async with self.db.unit_of_work() as session:
            follows = await FollowRepo(session).for_chat(chat_id)
        return is_digest_mode(follows)

    async def set_digest_mode(self, chat_id: int, on: bool) -> int:
        """Make every follow of the channel digest-only (on) or instant (off); how many."""
        mode = DeliveryMode.DIGEST if on else DeliveryMode.INSTANT
        async with self.db.unit_of_work() as session:
            repo = FollowRepo(session)
            follows = await repo.for_chat(chat_id)
            for follow in follows:
                if follow.mode is not mode:
                    await repo.update(chat_id, follow.id, mode=mode)
        return len(follows)
