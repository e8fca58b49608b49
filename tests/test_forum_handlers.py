"""Forum topics and link previews through the handlers and the recording Bot API, in English
and Arabic: follows made in a topic deliver there, `/settings topic`, `/settings preview`,
and a closed topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest

from bot.demo import ApiCall, as_record, keyboard_buttons, load_items
from bot.domain import PreviewMode
from storage.db import Database
from tests.bot_harness import ADMIN_ID, USER_ID, Harness, joined, make_harness

FORUM = -100_777


@pytest.fixture
async def bot(db: Database) -> AsyncIterator[Harness]:
    """A harness with the demo's first items; chat FORUM is a forum whose admin is ADMIN_ID."""
    async with make_harness(db) as harness:
        items = [i for i in load_items() if i["offset"] == 0][:10]
        await harness.add_articles(as_record(i, n) for n, i in enumerate(items))
        await harness.deliver()
        harness.api.chat_types[FORUM] = "supergroup"
        harness.api.forums.add(FORUM)
        harness.api.admins[FORUM] = {ADMIN_ID}
        yield harness


async def in_topic(
    bot: Harness,
    text: str,
    thread: int | None,
    *,
    lang: str = "en",
    user_id: int = ADMIN_ID,
    chat_id: int = FORUM,
) -> list[ApiCall]:
    """A command sent in a forum topic (None: the general topic)."""
    payload = bot.updates.message(
        text,
        chat_id=chat_id,
        user_id=user_id,
        chat_type="supergroup",
        language_code=lang,
        forum=True,
        thread_id=thread,
    )
    return await bot.process(payload)


def sends(calls: list[ApiCall]) -> list[ApiCall]:
    """The sendMessage calls among these."""
    return [c for c in calls if c.method == "sendMessage"]


async def follows(bot: Harness, chat_id: int = FORUM) -> list[tuple[str | None, int | None]]:
    """(query, topic) of the chat's follows."""
    return [(f.query, f.thread_id) for f in await bot.services.chats.follows(chat_id)]


def fake_sleep(bot: Harness) -> Callable[[float], Awaitable[None]]:
    """A sleep that moves the harness clock on instead of waiting (the worker's pacer)."""

    async def sleep(seconds: float) -> None:
        """Let other tasks run, then have `seconds` pass on the harness clock."""
        await asyncio.sleep(0)
        bot.clock.advance(max(seconds, 0.0))

    return sleep


async def push(bot: Harness, title: str, text: str, url: str) -> list[ApiCall]:
    """Ingest one article and deliver it; the sendMessage calls it caused."""
    start = len(bot.api.calls)
    record = {"id": url, "title": title, "text": text, "source": "Wire", "lang": "en", "url": url}
    record["published"] = datetime.now(UTC).isoformat()
    await bot.add_articles([record])
    bot.engines.worker.pacer.sleep = fake_sleep(bot)  # paced on the harness clock
    await asyncio.wait_for(bot.deliver(), 30)
    return sends(bot.api.calls[start:])


BODY = "The harbour authority said the zeppelin landed safely after a long trip over the sea."


async def test_a_follow_made_in_a_topic_delivers_there(bot: Harness) -> None:
    """The forum is recorded; a keyword follow made in topic 7 gets its reply and its pushes
    in topic 7, with the article's link preview; one made in the general topic, there."""
    calls = await in_topic(bot, "/follow zeppelin", 7)
    assert "Following" in joined(calls)
    assert [c.params.get("message_thread_id") for c in sends(calls)] == [7]
    chat = await bot.services.chats.get(FORUM)
    assert chat is not None and chat.is_forum
    assert await follows(bot) == [("zeppelin", 7)]
    pushed = await push(bot, "Zeppelin lands in the harbour", BODY, "https://wire.example/z1")
    assert [c.params.get("message_thread_id") for c in pushed] == [7]
    assert pushed[0].params["link_preview_options"] == {"url": "https://wire.example/z1"}
    await in_topic(bot, "/follow harbour authority", None)
    assert await follows(bot) == [("zeppelin", 7), ("harbour authority", None)]


async def test_following_again_in_another_topic_moves_the_follow(bot: Harness) -> None:
    """The same words again in another topic: the follow now delivers there."""
    await in_topic(bot, "/follow zeppelin", 7)
    again = await in_topic(bot, "/follow zeppelin", 8)
    assert "already" in joined(again).lower()
    assert await follows(bot) == [("zeppelin", 8)]


async def test_a_follow_button_pressed_in_a_topic_delivers_there(bot: Harness) -> None:
    """/topics in topic 5: its Follow button records topic 5 on the story follow."""
    topics = await in_topic(bot, "/topics", 5)
    message, data = bot.find_button(topics, "fs:")
    assert message.get("message_thread_id") == 5
    pressed = await bot.press(data, message, chat_id=FORUM, user_id=ADMIN_ID)
    assert "Following" in joined(pressed) or "follow" in joined(pressed).lower()
    stories = [
        (f.story_id is not None, f.thread_id) for f in await bot.services.chats.follows(FORUM)
    ]
    assert stories == [(True, 5)]


async def test_a_member_cannot_follow_in_a_topic(bot: Harness) -> None:
    """Only admins change group follows, in topics as elsewhere."""
    refused = await in_topic(bot, "/follow zeppelin", 7, user_id=USER_ID)
    assert "Only the group's admins" in joined(refused)
    assert await follows(bot) == []


@pytest.mark.parametrize(
    ("lang", "here", "general", "not_forum", "bad"),
    [
        ("en", "in this topic", "general topic", "organised as a forum", "inside the topic"),
        ("ar", "هذا الموضوع", "الموضوع العام", "كمنتدى", "داخل الموضوع"),
    ],
)
async def test_settings_topic(
    bot: Harness, lang: str, here: str, general: str, not_forum: str, bad: str
) -> None:
    """`/settings topic` in a topic chooses it for digests; `general` resets; outside a forum
    and with a stray word it explains; the settings view shows it."""
    chosen = await in_topic(bot, "/settings topic", 9, lang=lang)
    assert here in joined(chosen)
    chat = await bot.services.chats.get(FORUM)
    assert chat is not None and chat.digest_thread_id == 9
    shown = joined(await in_topic(bot, "/settings", 9, lang=lang))
    assert "/settings topic" in shown
    reset = await in_topic(bot, "/settings topic general", 9, lang=lang)
    assert general in joined(reset)
    chat = await bot.services.chats.get(FORUM)
    assert chat is not None and chat.digest_thread_id is None
    stray = await in_topic(bot, "/settings topic sideways", 9, lang=lang)
    assert bad in joined(stray)
    private = await bot.command("/settings topic", lang=lang)
    assert not_forum in joined(private)
    refused = await in_topic(bot, "/settings topic", 9, lang=lang, user_id=USER_ID)
    chat = await bot.services.chats.get(FORUM)
    assert chat is not None and chat.digest_thread_id is None and refused


@pytest.mark.parametrize(
    ("lang", "above", "off", "bad"),
    [
        ("en", "above the text", "without a link preview", "Unknown preview setting"),
        ("ar", "أعلى نص التنبيه", "بلا معاينة", "إعداد معاينة غير معروف"),
    ],
)
async def test_settings_preview(bot: Harness, lang: str, above: str, off: str, bad: str) -> None:
    """`/settings preview above|off` change the pushes' preview; a bad value explains; the
    default shows it below the text."""
    other, third = USER_ID + 1, USER_ID + 2
    for chat_id in (USER_ID, other, third):
        await bot.command("/follow zeppelin", lang=lang, chat_id=chat_id, user_id=chat_id)
    assert above in joined(await bot.command("/settings preview above", lang=lang))
    chat = await bot.services.chats.get(USER_ID)
    assert chat is not None and chat.preview is PreviewMode.ABOVE
    refused = await bot.command("/settings preview off", lang=lang, chat_id=other, user_id=other)
    assert off in joined(refused)
    assert bad in joined(await bot.command("/settings preview sideways", lang=lang))
    chat = await bot.services.chats.get(USER_ID)
    assert chat is not None and chat.preview is PreviewMode.ABOVE
    pushed = await push(bot, "Zeppelin seen over the bay", BODY, "https://wire.example/z2")
    options = {int(c.params["chat_id"]): c.params["link_preview_options"] for c in pushed}
    assert options == {
        USER_ID: {"url": "https://wire.example/z2", "show_above_text": True},
        other: {"is_disabled": True},
        third: {"url": "https://wire.example/z2"},
    }
    assert all("message_thread_id" not in c.params for c in pushed)


async def test_a_closed_topic_falls_back_with_one_notice(bot: Harness) -> None:
    """Topic 7 is closed: the push arrives in the general topic, the admins get one notice,
    the follow forgets the topic; the next push arrives there with no second notice."""
    await in_topic(bot, "/follow zeppelin", 7)
    bot.api.close_topic(FORUM, 7)
    pushed = await push(bot, "Zeppelin lands in the harbour", BODY, "https://wire.example/z4")
    ok = [c for c in pushed if c.result is not None]
    assert [c.params.get("message_thread_id") for c in pushed] == [7, None, None]
    assert "Zeppelin" in str(ok[0].params["text"])
    assert "general topic" in str(ok[1].params["text"]) and "admins" in str(ok[1].params["text"])
    assert await follows(bot) == [("zeppelin", None)]


def labels(message: dict[str, object]) -> list[str]:
    """The callback data of a message's buttons."""
    return [data for _, data in keyboard_buttons(message)]


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_settings_buttons_choose_preview_and_digest_topic(bot: Harness, lang: str) -> None:
    """/settings offers the two other preview choices as buttons; in a forum, "digest in this
    topic" (the topic the settings message is in) and, once one is chosen, "in General"."""
    message, _ = bot.find_button(await bot.command("/settings", lang=lang), "st:p")
    assert {"st:pa", "st:po"} <= set(labels(message)) and "st:pb" not in labels(message)
    assert "st:th" not in labels(message)  # a private chat has no topics
    await bot.press("st:pa", message, lang=lang)
    chat = await bot.services.chats.get(USER_ID)
    assert chat is not None and chat.preview is PreviewMode.ABOVE
    redrawn = bot.last_message(USER_ID)
    assert {"st:pb", "st:po"} <= set(labels(redrawn)) and "st:pa" not in labels(redrawn)

    settings, _ = bot.find_button(await in_topic(bot, "/settings", 9, lang=lang), "st:th")
    assert settings.get("message_thread_id") == 9 and "st:tg" not in labels(settings)
    await bot.press("st:th", settings, chat_id=FORUM, user_id=ADMIN_ID, lang=lang)
    chat = await bot.services.chats.get(FORUM)
    assert chat is not None and chat.digest_thread_id == 9
    redrawn = bot.last_message(FORUM)
    assert "st:tg" in labels(redrawn)
    await bot.press("st:tg", redrawn, chat_id=FORUM, user_id=ADMIN_ID, lang=lang)
    chat = await bot.services.chats.get(FORUM)
    assert chat is not None and chat.digest_thread_id is None
