"""A group that became a supergroup, and the bot leaving or rejoining a chat, as updates.

Telegram sends `migrate_to_chat_id` (in the old group) and `migrate_from_chat_id` (in the
new supergroup) service messages, and `my_chat_member` when the bot's own membership
changes. These go through the real application (handlers registered by `register`) over
a test database on both engines, with the recording in-process Bot API.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from bot.domain import ChatType, DeliveryKind, DeliveryState, NewDelivery
from storage.db import Database
from storage.repos.chat_moves import ChatMoveRepo
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo
from storage.repos.ops import CallbackTokenRepo
from tests.bot_harness import USER_ID, Harness, make_harness
from tests.delivery_helpers import T0, make_article, make_chat, make_story

OLD, NEW = -42, -1_000_000_042
_updates = iter(range(90_000, 10**9))


def _group(chat_id: int, kind: str) -> dict[str, Any]:
    """A group chat object."""
    return {"id": chat_id, "type": kind, "title": "Harbour watchers"}


def migrate_message(*, to: int | None = None, frm: int | None = None) -> dict[str, Any]:
    """The service message of a migration, in the old group (`to`) or the new one (`frm`)."""
    message: dict[str, Any] = {"message_id": 5, "date": int(time.time())}
    if to is not None:
        message.update(chat=_group(OLD, "group"), migrate_to_chat_id=to)
    else:
        message.update(chat=_group(NEW, "supergroup"), migrate_from_chat_id=frm)
    message["from"] = {"id": USER_ID, "is_bot": False, "first_name": "Reader"}
    return {"update_id": next(_updates), "message": message}


def bot_member(status: str) -> dict[str, Any]:
    """The bot's ChatMember object with this status."""
    bot = {"id": 7000000001, "is_bot": True, "first_name": "Akhbar"}
    member: dict[str, Any] = {"user": bot, "status": status}
    if status == "kicked":
        member["until_date"] = int(time.time()) + 86_400
    return member


def member_update(chat: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A `my_chat_member` update: the bot's status in `chat` went from `old` to `new`."""
    return {
        "update_id": next(_updates),
        "my_chat_member": {
            "chat": chat,
            "from": {"id": USER_ID, "is_bot": False, "first_name": "Reader"},
            "date": int(time.time()),
            "old_chat_member": bot_member(old),
            "new_chat_member": bot_member(new),
        },
    }


async def owed_group(db: Database) -> tuple[int, int]:
    """The old group with settings, a story follow, a keyword follow, one owed article row,
    one sent row and a saved search (token 1); returns (story, article)."""
    await make_chat(db, OLD, type=ChatType.GROUP, language="ar", timezone="Asia/Riyadh")
    story = await make_story(db, "harbour")
    article = await make_article(db, story, "harbour strike")
    sent = await make_article(db, story, "harbour talks")
    async with db.unit_of_work() as s:
        follows = FollowRepo(s)
        await follows.follow_story(OLD, story)
        await follows.follow_keyword(OLD, "port strike", ["port", "strike"])
        await DeliveryRepo(s).enqueue_many(
            [
                NewDelivery(OLD, article_id=article.id, story_id=story),
                NewDelivery(OLD, article_id=sent.id, story_id=story, state=DeliveryState.SENT),
            ],
            T0,
        )
        assert await CallbackTokenRepo(s).put(OLD, {"q": "harbour"}) == 1
    return story, article.id


async def assert_moved(h: Harness, story: int, article: int) -> None:
    """Everything of the old group is under the new id, owed rows due, the old id gone."""
    async with h.services.db.unit_of_work() as s:
        assert await ChatRepo(s).get(OLD) is None
        chat = await ChatRepo(s).get(NEW)
        follows = await FollowRepo(s).for_chat(NEW)
        rows = await DeliveryRepo(s).for_chat(NEW)
        old_rows = await DeliveryRepo(s).for_chat(OLD)
    assert chat is not None and (chat.language, chat.timezone) == ("ar", "Asia/Riyadh")
    assert chat.type == ChatType.SUPERGROUP and not chat.blocked
    assert sorted((f.story_id, f.terms) for f in follows if f.story_id) == [(story, ())]
    assert [f.terms for f in follows if f.story_id is None] == [("port", "strike")]
    states = {r.article_id: r.state for r in rows}
    assert states[article] == DeliveryState.PENDING and len(states) == 2
    assert DeliveryState.SENT in states.values()  # history moves too: no second push
    assert old_rows == []
    assert await h.services.chats.load_query(NEW, 1) == "harbour"


async def test_migrate_to_message_moves_the_group(db: Database) -> None:
    """The old group's `migrate_to_chat_id` message moves settings, follows and rows."""
    story, article = await owed_group(db)
    async with make_harness(db) as h:
        await h.process(migrate_message(to=NEW))
        await assert_moved(h, story, article)
        await h.process(migrate_message(frm=OLD))  # the twin message: nothing left to move
        await assert_moved(h, story, article)


async def test_migrate_from_message_alone_moves_the_group(db: Database) -> None:
    """The new supergroup's `migrate_from_chat_id` message is enough on its own."""
    story, article = await owed_group(db)
    async with make_harness(db) as h:
        await h.process(migrate_message(frm=OLD))
        await assert_moved(h, story, article)


async def test_a_move_onto_a_known_chat_keeps_one_of_each(db: Database) -> None:
    """The new id already follows the story and is owed the article: no duplicates."""
    story, article = await owed_group(db)
    await make_chat(db, NEW, type=ChatType.SUPERGROUP, blocked=True)
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(NEW, story)
        await DeliveryRepo(s).enqueue_many(
            [
                NewDelivery(NEW, article_id=article, story_id=story),
                NewDelivery(NEW, kind=DeliveryKind.DIGEST, digest_on=date(2026, 5, 1)),
            ],
            T0,
        )
    async with db.unit_of_work() as s:
        result = await ChatMoveRepo(s).move(OLD, NEW, T0)
    assert (result.follows, result.deliveries, result.dropped) == (1, 1, 1)
    async with db.unit_of_work() as s:
        follows = await FollowRepo(s).for_chat(NEW)
        rows = await DeliveryRepo(s).for_chat(NEW)
        chat = await ChatRepo(s).get(NEW)
    assert sorted(f.story_id or 0 for f in follows) == [0, story]
    assert sorted(r.article_id or 0 for r in rows) == [0, article, article + 1]
    assert chat is not None and not chat.blocked


async def test_removed_bot_stops_sends_and_readding_restores(db: Database) -> None:
    """Kicked from a group: blocked, owed rows skipped, nothing sent; added back: unblocked."""
    async with make_harness(db) as h:
        await make_chat(db, OLD, type=ChatType.SUPERGROUP)
        story = await make_story(db, "harbour")
        async with db.unit_of_work() as s:
            await FollowRepo(s).follow_story(OLD, story)
        await make_article(db, story, "harbour strike")
        await h.services.follows.refresh()
        await h.engines.fanout.run_until_idle()
        await h.process(member_update(_group(OLD, "supergroup"), "member", "kicked"))
        start = len(h.api.calls)
        await h.deliver()
        assert [c for c in h.api.calls[start:] if c.method == "sendMessage"] == []
        chat = await h.services.chats.get(OLD)
        assert chat is not None and chat.blocked
        async with db.unit_of_work() as s:
            rows = await DeliveryRepo(s).for_chat(OLD)
        assert [r.state for r in rows] == [DeliveryState.SKIPPED]
        assert rows[0].last_error == "bot removed from the chat"
        await h.process(member_update(_group(OLD, "supergroup"), "left", "member"))
        chat = await h.services.chats.get(OLD)
        assert chat is not None and not chat.blocked
        await make_article(db, story, "harbour talks resume")
        await h.deliver()
        sent = [c for c in h.api.calls[start:] if c.method == "sendMessage"]
        assert [int(c.params["chat_id"]) for c in sent] == [OLD]


async def test_blocked_in_private_then_unblocked(db: Database) -> None:
    """A user blocking the bot (kicked in a private chat) stops sends; unblocking restores."""
    async with make_harness(db) as h:
        await h.command("/start")
        private = {"id": USER_ID, "type": "private", "first_name": "Reader"}
        await h.process(member_update(private, "member", "kicked"))
        chat = await h.services.chats.get(USER_ID)
        assert chat is not None and chat.blocked
        await h.process(member_update(private, "kicked", "member"))
        chat = await h.services.chats.get(USER_ID)
        assert chat is not None and not chat.blocked
        await h.process(member_update({"id": 55, "type": "private"}, "member", "kicked"))
        assert await h.services.chats.get(55) is None  # unknown chats are not created
