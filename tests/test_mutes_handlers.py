"""/mute, /unmute and the mute buttons through the recording Bot API, in English and Arabic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.demo import as_record, keyboard_buttons, load_items
from bot.mutes import MuteService
from bot.pipeline.mutes import MAX_MUTES
from bot.presentation.i18n import t
from storage.db import Database
from storage.repos.articles import ArticleRepo
from tests.bot_harness import ADMIN_ID, USER_ID, Harness, joined, make_harness

GROUP = -700
AR_CHAT = 300


@pytest.fixture
async def bot(db: Database) -> AsyncIterator[Harness]:
    """A harness with the demo's first items ingested."""
    async with make_harness(db) as harness:
        items = [i for i in load_items() if i["offset"] == 0]
        await harness.add_articles(as_record(i, n) for n, i in enumerate(items))
        await harness.deliver()
        yield harness


def plain(text: str) -> str:
    """Catalog text without HTML tags."""
    import re

    return re.sub(r"<[^>]+>", "", text)


def flat(calls: list[Any]) -> str:
    """Joined texts without direction marks and isolates."""
    return "".join(ch for ch in joined(calls) if ch not in "\u2068\u2069\u200e\u200f")


def no_errors(calls: list[Any]) -> None:
    """No call carried the generic error message."""
    assert "Something went wrong" not in joined(calls)


def markup_of(params: dict[str, Any]) -> dict[str, Any]:
    """The reply_markup of a recorded call as a dict."""
    markup = params.get("reply_markup") or {}
    return json.loads(markup) if isinstance(markup, str) else dict(markup)


async def test_mute_usage_and_bad_input(bot: Harness) -> None:
    """Empty, unmatchable, long and wordy mutes get clear answers in both languages."""
    assert "/mute words" in joined(await bot.command("/mute"))
    ar = joined(await bot.command("/mute", chat_id=AR_CHAT, user_id=AR_CHAT, lang="ar"))
    assert t("ar", "mute.usage") in ar
    for text, expected in [
        ("🔥🌊", "no words I can match"),
        ("the of", "no words I can match"),
        ("x" * 10_000, "at most 100 characters"),
        ("alpha bravo charlie delta echo foxtrot", "At most 5 words"),
        ("source", "/mute source name"),
        ("source    ", "/mute source name"),
    ]:
        calls = await bot.command(f"/mute {text}")
        no_errors(calls)
        assert expected in joined(calls), text
    assert await bot.services.chats.follows(USER_ID) == []
    assert "haven't muted anything" in joined(await bot.command("/unmute"))


async def test_mute_words_list_and_unmute(bot: Harness) -> None:
    """Mute words once, list them in /unmute and /mysubs, unmute by words, number and button."""
    assert "Muted “fuel prices”" in flat(await bot.command("/mute fuel prices"))
    assert "already muted" in joined(await bot.command("/mute Prices   FUEL"))
    await bot.command("/mute cup final")
    listed = await bot.command("/unmute")
    assert "fuel prices" in joined(listed) and "cup final" in joined(listed)
    message, data = bot.find_button(listed, "xr:")
    assert data.endswith(":u")
    pressed = await bot.press(data, message)
    assert "Unmuted" in joined(pressed)
    assert any(c.method == "editMessageText" for c in pressed)
    assert "fuel prices" not in joined(pressed) and "cup final" in joined(pressed)
    assert "Unmuted" in joined(await bot.command("/unmute 1"))
    assert "None of your mutes" in joined(await bot.command("/unmute 1"))
    await bot.command("/mute storm")
    assert "Unmuted" in joined(await bot.command("/unmute Storm"))
    assert "None of your mutes" in joined(await bot.command("/unmute weather"))
    stale = await bot.press(data, message)
    assert "expired" in joined(stale)


async def test_mysubs_lists_mutes_with_unmute_buttons(bot: Harness) -> None:
    """/mysubs shows follows and mutes; Unmute there redraws /mysubs."""
    await bot.command("/follow floods")
    await bot.command("/mute cup final")
    await bot.command("/mute source Sports Line")
    subs = await bot.command("/mysubs")
    text = joined(subs)
    assert "floods" in text and "cup final" in text and "Sports Line" in text
    message, data = bot.find_button(subs, "xr:")
    assert data.endswith(":m")
    pressed = await bot.press(data, message)
    edited = [c for c in pressed if c.method == "editMessageText"]
    assert edited and "floods" in str(edited[0].params["text"])
    assert "cup final" not in str(edited[0].params["text"])
    assert "Sports Line" in str(edited[0].params["text"])


async def test_mute_source_by_name_choice_and_undo(bot: Harness) -> None:
    """Names match loosely; an ambiguous or unknown name offers buttons; Undo swaps back."""
    assert "Muted the source" in joined(await bot.command("/mute source market brief"))
    assert "already muted" in joined(await bot.command("/mute source Market Brief"))
    unknown = await bot.command("/mute source Markte Breif")
    assert "No source is called" in joined(unknown)
    assert "Did you mean" in joined(unknown) and "Market Brief" in joined(unknown)
    nothing = await bot.command("/mute source zzzz")
    assert "No source is called" in joined(nothing) and "/mute source name" in joined(nothing)
    assert "Muted the source" in joined(await bot.command("/mute source daily"))  # a unique part
    amb = await bot.command("/mute source ar")  # Harbour Daily, Market Brief
    assert "Several sources match" in joined(amb)
    assert len([d for _, d in keyboard_buttons(amb[-1].result) if d.startswith("xs:")]) == 2
    message, data = bot.find_button(amb, "xs:")
    pressed = await bot.press(data, message)
    assert "Source muted" in joined(pressed)
    swaps = [c for c in pressed if c.method == "editMessageReplyMarkup"]
    assert swaps, "the pressed button becomes Undo"
    undo = [d for row in markup_of(swaps[0].params)["inline_keyboard"] for d in row]
    assert any(b["callback_data"].startswith("xu:") for b in undo)
    source_id = int(data.split(":")[1])
    message = dict(message, reply_markup=markup_of(swaps[0].params))
    undone = await bot.press(f"xu:{source_id}", message)
    assert "Source unmuted" in joined(undone)
    assert any(c.method == "editMessageReplyMarkup" for c in undone)
    again = await bot.press(f"xu:{source_id}", message)  # undone already
    assert "None of your mutes" in joined(again)
    assert "no longer exists" in joined(await bot.press("xs:99999"))


async def test_arabic_mute_source_and_words(bot: Harness) -> None:
    """Arabic commands: /mute مصدر with a normalised name, Arabic words, Arabic answers."""
    arabic = {"chat_id": AR_CHAT, "user_id": AR_CHAT, "lang": "ar"}
    muted = joined(await bot.command("/mute مصدر صحيفه الميناء", **arabic))
    assert "تم كتم المصدر" in muted and "صحيفة الميناء" in muted
    words = joined(await bot.command("/mute أسعار البنزين", **arabic))
    assert "تم كتم" in words
    listed = joined(await bot.command("/unmute", **arabic))
    assert "ما كتمته" in listed and "صحيفة الميناء" in listed
    assert "أُلغي كتم" in joined(await bot.command("/unmute مصدر الميناء", **arabic))
    assert "أُلغي كتم" in joined(await bot.command("/unmute اسعار البنزين", **arabic))
    assert "لم تكتم شيئًا" in joined(await bot.command("/unmute", **arabic))


async def test_group_members_cannot_mute(bot: Harness) -> None:
    """Only group admins change a group's mutes, by command or button."""
    bot.api.admins[GROUP] = {ADMIN_ID}
    group = {"chat_id": GROUP, "chat_type": "supergroup"}
    refused = await bot.command("/mute floods", user_id=USER_ID, **group)
    assert "Only the group's admins" in joined(refused)
    assert "Muted" in joined(await bot.command("/mute floods", user_id=ADMIN_ID, **group))
    listed = await bot.command("/unmute", user_id=USER_ID, **group)  # reading is allowed
    message, data = bot.find_button(listed, "xr:")
    pressed = await bot.press(data, message, chat_id=GROUP, user_id=USER_ID)
    assert "Only admins" in joined(pressed)
    assert "Only the group's admins" in joined(
        await bot.command("/unmute floods", user_id=USER_ID, **group)
    )


async def test_mute_limit(bot: Harness) -> None:
    """The 51st mute is refused with the limit; an existing one is still just 'already'."""
    for n in range(MAX_MUTES):
        calls = await bot.command(f"/mute topic{n}")
        assert "Muted" in joined(calls)
    assert "the most allowed" in joined(await bot.command("/mute another"))
    assert "already muted" in joined(await bot.command("/mute topic7"))
    listed = await bot.command("/unmute")
    assert len([1 for c in listed for _ in keyboard_buttons(c.result or {})]) == MAX_MUTES


async def test_forged_mute_buttons(bot: Harness) -> None:
    """Forged mute button data gives a toast and changes nothing."""
    await bot.command("/start")
    for data in ["xr:1:zz", "xr:1", "xs:abc", "xu:-1", "xr:99999:u", "xu:5", "xs:" + "9" * 30]:
        calls = await bot.press(data)
        assert calls[-1].method == "answerCallbackQuery"
        assert calls[-1].params.get("text"), data
        no_errors(calls)
    assert await bot.services.chats.follows(USER_ID) == []


async def test_latest_and_topics_leave_muted_out(bot: Harness) -> None:
    """/latest and /topics drop muted words and sources."""
    latest = joined(await bot.command("/latest"))
    assert "Nokta" in latest
    await bot.command("/mute Nokta")
    assert "Nokta" not in joined(await bot.command("/latest"))
    topics = joined(await bot.command("/topics"))
    assert "Nokta" not in topics
    await bot.command("/mute source Harbour Daily")
    assert "Harbour Daily" not in joined(await bot.command("/latest"))


async def test_push_mute_source_button_and_muted_words(bot: Harness) -> None:
    """Pushes carry Mute source; a muted word or source stops later pushes and the digest."""
    topics = await bot.command("/topics")
    message, data = bot.find_button(topics, "fs:")
    await bot.press(data, message)
    story_id = int(data.split(":")[1])
    async with bot.services.db.unit_of_work() as session:
        base = (await ArticleRepo(session).for_story(story_id, 5))[0]

    async def arrive(key: str, title: str, text: str, source: str, chat: int) -> list[Any]:
        record = {"id": key, "title": title, "text": text, "source": source, "lang": "en"}
        await bot.add_articles([dict(record, url=f"https://example.test/{key}")])
        before = len(bot.api.calls)
        await asyncio.wait_for(bot.deliver(), 20)
        return [
            c
            for c in bot.api.calls[before:]
            if c.method == "sendMessage" and int(c.params["chat_id"]) == chat
        ]

    later = base.text + " More details were given later in the day."
    pushed = await arrive("later-1", base.title + " — update", later, "Late Wire", USER_ID)
    assert pushed, "a push should arrive for the followed story"
    assert bot.find_button(pushed, "mo:") and bot.find_button(pushed, "ms:")
    push_message, mute = bot.find_button(pushed, "xs:")
    assert "Source muted: Late Wire" in joined(await bot.press(mute, push_message))
    assert any(
        m.source_name == "Late Wire" for m in await MuteService(bot.services.db).mutes(USER_ID)
    )


async def test_muted_words_and_sources_stop_pushes_and_digest_items(bot: Harness) -> None:
    """Of three new articles matching a keyword follow, only the one neither muted word nor
    muted source hides is pushed; the digest leaves the muted ones out too."""
    await bot.command("/follow zebra")
    await bot.command("/mute lantern")
    await bot.command("/mute source late wire")  # not known yet: nothing is muted
    records = [
        ("z-0", "Late Wire", "Zebra seen at the zoo gate", "A zebra was seen at the zoo gate."),
        (
            "z-1",
            "Late Wire",
            "Zebra herd spotted by the highway",
            "A zebra herd was seen near the northern highway. Drivers slowed down to watch.",
        ),
        (
            "z-2",
            "Other Wire",
            "Lantern festival of the zebra foundation",
            "The zebra foundation lit a thousand lanterns in the old port for its festival.",
        ),
        (
            "z-3",
            "Other Wire",
            "Zebra crossing opens by the school",
            "A new zebra crossing opened by the central school after parents asked for one.",
        ),
    ]

    def record(key: str, source: str, title: str, text: str) -> dict[str, Any]:
        """One ingest record."""
        url = f"https://example.test/{key}"
        return {"id": key, "title": title, "text": text, "source": source, "lang": "en", "url": url}

    await bot.add_articles([record(*records[0])])  # makes the source known
    assert "Muted the source" in joined(await bot.command("/mute source late wire"))
    async with bot.services.db.unit_of_work() as session:
        from sqlalchemy import update

        from storage.models import ArticleRow

        await session.execute(update(ArticleRow).values(fanned_out=True))  # z-0 is old news
    await bot.add_articles([record(*r) for r in records[1:]])
    before = len(bot.api.calls)
    await asyncio.wait_for(bot.deliver(), 20)
    pushed = [c for c in bot.api.calls[before:] if c.method == "sendMessage"]
    assert len(pushed) == 1 and "Zebra crossing opens" in str(pushed[0].params["text"])
    digest = joined(await bot.command("/digest"))
    assert "Lantern" not in digest and "herd" not in digest
