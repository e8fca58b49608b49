"""ChannelRepo on SQLite and PostgreSQL: connect, list, disconnect (only by its manager
when asked), lost channels and unblocking."""

from __future__ import annotations

from datetime import date, time

from sqlalchemy import select

from bot.domain import ChatType, DeliveryKind, DeliveryState, NewDelivery
from storage.db import Database
from storage.models import DeliveryRow
from storage.repos.channels import ChannelRepo
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo

CHANNEL = -1002000000001
OTHER = -1002000000002


async def _connect(db: Database, chat_id: int, manager: int, title: str = "News") -> None:
    """Connect a channel for `manager`."""
    async with db.unit_of_work() as session:
        await ChannelRepo(session).connect(
            chat_id,
            title=title,
            managed_by=manager,
            language="ar",
            timezone="Asia/Riyadh",
            digest_time=time(7, 0),
        )


async def test_connect_list_and_take_over(db: Database) -> None:
    """A connected channel is a channel chat managed by its admin; connecting it again as
    another admin takes it over and clears blocked and paused."""
    await _connect(db, CHANNEL, 10, "Beta")
    await _connect(db, OTHER, 10, "Alpha")
    async with db.unit_of_work() as session:
        mine = await ChannelRepo(session).managed(10)
        assert [c.title for c in mine] == ["Alpha", "Beta"]
        chat = await ChatRepo(session).get(CHANNEL)
        assert chat is not None and chat.type is ChatType.CHANNEL and chat.language == "ar"
        assert chat.timezone == "Asia/Riyadh" and chat.digest_time == time(7, 0)
        await ChatRepo(session).update(CHANNEL, blocked=True, paused=True)
    await _connect(db, CHANNEL, 11)
    async with db.unit_of_work() as session:
        chat = await ChatRepo(session).get(CHANNEL)
        assert chat is not None and chat.managed_by == 11 and not chat.blocked and not chat.paused
        assert [c.id for c in await ChannelRepo(session).managed(10)] == [OTHER]


async def test_disconnect_drops_follows_and_owed_rows(db: Database) -> None:
    """Disconnecting deletes the follows, skips pending rows and pauses the chat; only the
    named manager may do it when one is given; twice is a no-op."""
    await _connect(db, CHANNEL, 10)
    async with db.unit_of_work() as session:
        follow, _ = await FollowRepo(session).follow_keyword(CHANNEL, "floods", ["flood"])
        digest = NewDelivery(CHANNEL, DeliveryKind.DIGEST, digest_on=date(2026, 1, 1))
        assert await DeliveryRepo(session).enqueue_many([digest]) == 1
    async with db.unit_of_work() as session:
        assert await ChannelRepo(session).disconnect(CHANNEL, "gone", manager=99) is None
    async with db.unit_of_work() as session:
        assert await ChannelRepo(session).disconnect(CHANNEL, "gone", manager=10) == [follow.id]
    async with db.unit_of_work() as session:
        assert await ChannelRepo(session).disconnect(CHANNEL, "gone") is None
        chat = await ChatRepo(session).get(CHANNEL)
        assert chat is not None and chat.managed_by is None and chat.paused
        assert await FollowRepo(session).for_chat(CHANNEL) == []
        states = await session.scalars(
            select(DeliveryRow.state).where(DeliveryRow.chat_id == CHANNEL)
        )
        assert list(states) == [str(DeliveryState.SKIPPED)]


async def test_lost_and_unblock(db: Database) -> None:
    """Only connected channels marked blocked are lost; unblocking clears the mark."""
    await _connect(db, CHANNEL, 10)
    await _connect(db, OTHER, 10)
    async with db.unit_of_work() as session:
        assert await ChannelRepo(session).lost() == []
        await ChatRepo(session).update(CHANNEL, blocked=True)
        await ChatRepo(session).update(OTHER, blocked=True)
        await ChannelRepo(session).disconnect(OTHER, "gone")
    async with db.unit_of_work() as session:
        assert [c.id for c in await ChannelRepo(session).lost()] == [CHANNEL]
        assert await ChannelRepo(session).unblock(CHANNEL)
        assert not await ChannelRepo(session).unblock(CHANNEL)
        assert await ChannelRepo(session).lost() == []
