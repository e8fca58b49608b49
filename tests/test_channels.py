"""/channel through the recording Bot API: connect, choose what a channel receives,
disconnect, refusals, and a channel the bot lost (403 later, or removed)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.demo import CHANNEL_ADMIN_RIGHTS, as_record, load_items
from bot.domain import ChatType, DeliveryMode
from bot.presentation.i18n import t
from handlers.channels import sweep_lost_channels
from storage.db import Database
from tests.bot_harness import ADMIN_ID, USER_ID, Harness, joined, make_harness

CHANNEL = -1001234567890
NAME = "akhbar_news"
OTHER_ADMIN = 301
STRANGER = 302
AR_USER = 200


def plain(text: str) -> str:
    """The longest piece of catalog text between its fields and tags (to find in replies)."""
    return max(re.split(r"\{[a-z_]+\}|<[^>]+>", text), key=len).strip()


@pytest.fixture
async def bot(db: Database) -> AsyncIterator[Harness]:
    """A harness with the demo's first items ingested and a channel the bot administers."""
    async with make_harness(db) as harness:
        items = [i for i in load_items() if i["offset"] == 0][:10]
        await harness.add_articles(as_record(i, n) for n, i in enumerate(items))
        await harness.deliver()
        harness.api.add_channel(CHANNEL, NAME, "Akhbar News", admins=[USER_ID, OTHER_ADMIN])
        yield harness


async def connect(bot: Harness, user_id: int = USER_ID, lang: str = "en") -> str:
    """Connect the test channel as `user_id`; the reply text."""
    return joined(
        await bot.command(f"/channel add @{NAME}", chat_id=user_id, user_id=user_id, lang=lang)
    )


async def story_id(bot: Harness) -> int:
    """A story of the ingested items."""
    async with bot.services.db.unit_of_work() as session:
        from storage.repos.articles import ArticleRepo

        latest = await ArticleRepo(session).latest(5, 0)
    found = next(a.story_id for a in latest if a.story_id is not None)
    return int(found)


async def test_connect_in_english(bot: Harness) -> None:
    """An admin of a channel where the bot may post connects it; /channel lists it."""
    reply = await connect(bot)
    assert "Connected" in reply and "Akhbar News" in reply
    channel = await bot.services.chats.get(CHANNEL)
    assert channel is not None and channel.type is ChatType.CHANNEL
    assert channel.managed_by == USER_ID and channel.language == "en" and not channel.paused
    listed = await bot.command("/channel")
    text = joined(listed)
    assert "Your channels" in text and "Akhbar News" in text and str(CHANNEL) in text
    assert bot.find_button(listed, "cd:") and bot.find_button(listed, "cx:")
    assert "Your channels" in joined(await bot.command(f"/channel list @{NAME}"))
    still = await bot.services.chats.get(CHANNEL)
    assert still is not None and still.managed_by == USER_ID
    assert "Connect a channel" in joined(await bot.command("/help"))
    assert "@akhbar_demo_bot" in joined(await bot.command("/help"))


async def test_connect_in_arabic(bot: Harness) -> None:
    """An Arabic-speaking admin gets Arabic replies and the channel gets Arabic."""
    bot.api.add_channel(CHANNEL, NAME, "أخبار الساحل", admins=[AR_USER])
    reply = await connect(bot, AR_USER, "ar")
    assert plain(t("ar", "channel.connected")) in reply
    channel = await bot.services.chats.get(CHANNEL)
    assert channel is not None and channel.language == "ar" and channel.managed_by == AR_USER
    listed = joined(await bot.command("/channel", chat_id=AR_USER, user_id=AR_USER, lang="ar"))
    assert plain(t("ar", "channel.header")) in listed and "أخبار الساحل" in listed


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_connect_refusals(bot: Harness, lang: str) -> None:
    """Unknown channel, not a channel, bot not admin, bot without post rights, user not
    admin and bad names are refused with a clear message; nothing is stored."""
    user = USER_ID if lang == "en" else AR_USER

    async def say(text: str) -> str:
        return joined(await bot.command(text, chat_id=user, user_id=user, lang=lang))

    assert plain(t(lang, "channel.unknown")) in await say("/channel add @no_such_channel")
    bot.api.directory["@some_group"] = {"id": -100777, "type": "supergroup", "title": "G"}
    assert plain(t(lang, "channel.not_channel")) in await say("/channel add @some_group")
    bot.api.add_channel(-100555, "not_admin_here", "N", admins=[user], bot_status="member")
    assert plain(t(lang, "channel.bot_not_admin")) in await say("/channel add @not_admin_here")
    bot.api.add_channel(-100556, "no_post_rights", "P", admins=[user], can_post=False)
    assert plain(t(lang, "channel.bot_not_admin")) in await say("/channel add @no_post_rights")
    bot.api.add_channel(-100557, "theirs_only", "T", admins=[OTHER_ADMIN])
    assert plain(t(lang, "channel.user_not_admin")) in await say("/channel add @theirs_only")
    for name in ("@ab", "@" + "x" * 100, "@@@", "-42", "x" * 10_000):
        assert plain(t(lang, "channel.bad_name")) in await say(f"/channel add {name}")
    assert plain(t(lang, "channel.usage")) in await say("/channel frobnicate @akhbar_news")
    for gone in (-100555, -100556, -100557, -100777):
        assert await bot.services.chats.get(gone) is None


async def test_refusals_elsewhere(bot: Harness) -> None:
    """/channel works only in a private chat; operators skip the user check; ids work."""
    group = joined(await bot.command(f"/channel add @{NAME}", chat_id=-500, chat_type="supergroup"))
    assert "private chat" in group
    bot.api.add_channel(-100558, None, "Private channel")
    operator = joined(await bot.command("/channel add -100558", chat_id=ADMIN_ID, user_id=ADMIN_ID))
    assert "Connected" in operator
    channel = await bot.services.chats.get(-100558)
    assert channel is not None and channel.managed_by == ADMIN_ID


async def test_follow_digest_unfollow_remove(bot: Harness) -> None:
    """The channel follows a story and keywords, switches to a digest and back, drops a
    follow, and is disconnected: its follows and owed messages go."""
    await connect(bot)
    sid = await story_id(bot)
    assert "now follows" in joined(await bot.command(f"/channel follow @{NAME} {sid}"))
    assert "already follows" in joined(await bot.command(f"/channel follow @{NAME} #{sid}"))
    assert "now follows" in joined(await bot.command(f"/channel follow @{NAME} petrol prices"))
    missing = joined(await bot.command(f"/channel follow @{NAME} 999999"))
    assert "can't find story #999999" in missing
    follows = await bot.services.chats.follows(CHANNEL)
    assert len(follows) == 2 and all(f.mode is DeliveryMode.INSTANT for f in follows)
    assert "What should the channel follow" in joined(await bot.command(f"/channel follow @{NAME}"))

    on = joined(await bot.command(f"/channel digest @{NAME} on 07:30"))
    assert "daily digest at 07:30" in on
    follows = await bot.services.chats.follows(CHANNEL)
    assert all(f.mode is DeliveryMode.DIGEST for f in follows)
    await bot.command(f"/channel follow @{NAME} cup final")
    follows = await bot.services.chats.follows(CHANNEL)
    assert len(follows) == 3 and all(f.mode is DeliveryMode.DIGEST for f in follows)
    assert "digest at 07:30" in joined(await bot.command("/channel"))
    assert "Use" in joined(await bot.command(f"/channel digest @{NAME} maybe"))
    bad_time = joined(await bot.command(f"/channel digest @{NAME} on 25:99"))
    assert plain(t("en", "settings.invalid_time")) in bad_time
    off = joined(await bot.command(f"/channel digest @{NAME} off"))
    assert "each new article" in off
    assert all(f.mode is DeliveryMode.INSTANT for f in await bot.services.chats.follows(CHANNEL))

    assert "no longer follows" in joined(await bot.command(f"/channel unfollow @{NAME} 1"))
    assert "no longer follows" in joined(
        await bot.command(f"/channel unfollow @{NAME} petrol prices")
    )
    assert "Nothing you follow" in joined(await bot.command(f"/channel unfollow @{NAME} 9"))
    assert len(await bot.services.chats.follows(CHANNEL)) == 1

    assert "Disconnected" in joined(await bot.command(f"/channel remove @{NAME}"))
    channel = await bot.services.chats.get(CHANNEL)
    assert channel is not None and channel.managed_by is None and channel.paused
    assert await bot.services.chats.follows(CHANNEL) == []
    assert "not connected" in joined(await bot.command(f"/channel follow @{NAME} floods"))
    assert "no connected channels" in joined(await bot.command("/channel"))


async def test_digest_needs_a_follow(bot: Harness) -> None:
    """A digest for a channel that follows nothing is refused (in Arabic too)."""
    bot.api.add_channel(CHANNEL, NAME, "Akhbar News", admins=[USER_ID, AR_USER])
    await connect(bot)
    assert "follows nothing yet" in joined(await bot.command(f"/channel digest @{NAME} on"))
    ar = await bot.command(
        f"/channel digest @{NAME} on", chat_id=AR_USER, user_id=AR_USER, lang="ar"
    )
    assert plain(t("ar", "channel.digest_nothing")) in joined(ar)


async def test_pushes_reach_the_channel(bot: Harness) -> None:
    """A keyword follow of a channel delivers through the normal outbox."""
    await connect(bot)
    await bot.command(f"/channel follow @{NAME} harbour cranes")
    await bot.add_articles(
        [
            {
                "id": "cranes-1",
                "title": "New harbour cranes arrive at the port",
                "text": "Three new harbour cranes arrived on Monday, the port said.",
                "source": "Port Wire",
                "lang": "en",
                "url": "https://example.test/cranes-1",
            }
        ]
    )
    await bot.deliver()
    pushed = bot.api.sent(CHANNEL)
    assert pushed and "harbour cranes" in str(pushed[-1].params["text"]).lower()


async def test_only_admins_manage(bot: Harness) -> None:
    """A stranger cannot manage the channel (command or button); another current admin and
    an operator can."""

    async def as_user(text: str, user: int) -> str:
        return joined(await bot.command(text, chat_id=user, user_id=user))

    await connect(bot)
    refused = await as_user(f"/channel follow @{NAME} floods", STRANGER)
    assert "Only admins of" in refused
    assert "Only admins of" in await as_user(f"/channel remove @{NAME}", STRANGER)
    assert "now follows" in await as_user(f"/channel follow @{NAME} floods", OTHER_ADMIN)
    assert "now follows" in await as_user(f"/channel follow @{NAME} cup final", ADMIN_ID)
    listed = await bot.command("/channel")
    message, data = bot.find_button(listed, "cx:")
    stranger_press = await bot.press(data, message, chat_id=STRANGER, user_id=STRANGER)
    assert "Only admins of" in joined(stranger_press)
    channel = await bot.services.chats.get(CHANNEL)
    assert channel is not None and channel.managed_by == USER_ID


async def test_buttons_switch_digest_and_disconnect(bot: Harness) -> None:
    """The list's buttons switch the channel's digest mode and disconnect it."""
    await connect(bot)
    await bot.command(f"/channel follow @{NAME} floods")
    listed = await bot.command("/channel")
    message, data = bot.find_button(listed, "cd:")
    pressed = await bot.press(data, message)
    assert "daily digest" in joined(pressed)
    assert all(f.mode is DeliveryMode.DIGEST for f in await bot.services.chats.follows(CHANNEL))
    message, data = bot.find_button(pressed, "cx:")
    pressed = await bot.press(data, message)
    assert "Channel disconnected" in joined(pressed)
    channel = await bot.services.chats.get(CHANNEL)
    assert channel is not None and channel.managed_by is None
    assert "Start" not in joined(await bot.press("cd:1", message))  # forged: answered, no crash


async def test_403_later_tells_the_admin_once(bot: Harness) -> None:
    """A send refused with 403 blocks the channel; the re-check finds the bot gone,
    disconnects the channel and tells its admin once, in the admin's language."""
    bot.api.add_channel(CHANNEL, NAME, "Akhbar News", admins=[AR_USER])
    await connect(bot, AR_USER, "ar")
    await bot.command(
        f"/channel follow @{NAME} harbour cranes", chat_id=AR_USER, user_id=AR_USER, lang="ar"
    )
    bot.api.refuse[CHANNEL] = (403, "Forbidden: bot is not a member of the channel chat")
    bot.api.members[(CHANNEL, 1)] = {"status": "left", "user": _bot()}
    await bot.add_articles([_cranes("cranes-2")])
    await bot.deliver()
    channel = await bot.services.chats.get(CHANNEL)
    assert channel is not None and channel.blocked
    before = len(bot.api.sent(AR_USER))
    assert await sweep_lost_channels(bot.app.bot, bot.services) == 1
    told = bot.api.sent(AR_USER)[before:]
    assert len(told) == 1 and plain(t("ar", "channel.lost")) in str(told[0].params["text"])
    assert await sweep_lost_channels(bot.app.bot, bot.services) == 0
    assert len(bot.api.sent(AR_USER)) == before + 1
    assert await bot.services.chats.follows(CHANNEL) == []


async def test_403_while_still_admin_unblocks(bot: Harness) -> None:
    """When the re-check finds the bot still allowed to post, the channel stays connected."""
    await connect(bot)
    await bot.command(f"/channel follow @{NAME} harbour cranes")
    bot.api.refuse[CHANNEL] = (403, "Forbidden: bot is not a member of the channel chat")
    await bot.add_articles([_cranes("cranes-3")])
    await bot.deliver()
    before = len(bot.api.sent(USER_ID))
    assert await sweep_lost_channels(bot.app.bot, bot.services) == 0
    channel = await bot.services.chats.get(CHANNEL)
    assert channel is not None and not channel.blocked and channel.managed_by == USER_ID
    assert len(bot.api.sent(USER_ID)) == before


async def test_bot_removed_from_channel(bot: Harness) -> None:
    """A my_chat_member update removing the bot disconnects the channel and tells the admin
    once, even when Telegram sends the update twice."""
    await connect(bot)
    await bot.command(f"/channel follow @{NAME} floods")
    before = len(bot.api.sent(USER_ID))
    for _ in range(2):
        await bot.process(_removed_update(bot))
    told = bot.api.sent(USER_ID)[before:]
    assert len(told) == 1 and "can no longer post" in str(told[0].params["text"])
    channel = await bot.services.chats.get(CHANNEL)
    assert channel is not None and channel.managed_by is None and channel.blocked


def _bot() -> dict[str, Any]:
    """The demo bot's user object."""
    return {"id": 1, "is_bot": True, "first_name": "Akhbar", "username": "akhbar_demo_bot"}


def _cranes(record_id: str) -> dict[str, Any]:
    """An article matching the "harbour cranes" follow."""
    return {
        "id": record_id,
        "title": f"Harbour cranes report {record_id}",
        "text": "More harbour cranes arrived on Monday, the port said.",
        "source": "Port Wire",
        "lang": "en",
        "url": f"https://example.test/{record_id}",
    }


def _removed_update(bot: Harness) -> dict[str, Any]:
    """A my_chat_member update: the bot went from administrator to left in the channel."""
    user = {"id": USER_ID, "is_bot": False, "first_name": "Reader"}
    return {
        "update_id": 900_000 + len(bot.api.calls),
        "my_chat_member": {
            "chat": {"id": CHANNEL, "type": "channel", "title": "Akhbar News"},
            "from": user,
            "date": 1_700_000_000,
            "old_chat_member": {
                "status": "administrator",
                "user": _bot(),
                **CHANNEL_ADMIN_RIGHTS,
                "can_post_messages": True,
            },
            "new_chat_member": {"status": "left", "user": _bot()},
        },
    }
