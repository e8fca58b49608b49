"""Inline mode through the recording Bot API: `@bot <query>` answers answerInlineQuery."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.demo import ApiCall, as_record, load_items
from bot.presentation.i18n import t
from handlers.flood import FloodGuard
from handlers.inline import INLINE_LIMIT
from storage.db import Database
from tests.bot_harness import Harness, make_harness

USER = 4242


@pytest.fixture
async def bot(db: Database) -> AsyncIterator[Harness]:
    """A harness with the demo's first items ingested."""
    async with make_harness(db, flood=FloodGuard(limit=1000)) as harness:
        items = [i for i in load_items() if i["offset"] == 0][:10]
        await harness.add_articles(as_record(i, n) for n, i in enumerate(items))
        await harness.deliver()
        yield harness


async def ask(
    bot: Harness, query: str, *, user: int = USER, lang: str | None = "en", offset: str = ""
) -> ApiCall:
    """Send one inline query; the one answerInlineQuery it caused."""
    payload = bot.updates.inline_query(query, user_id=user, language_code=lang, offset=offset)
    calls = await bot.process(payload)
    answers = [c for c in calls if c.method == "answerInlineQuery"]
    assert len(answers) == 1, [c.method for c in calls]
    assert not [c for c in calls if c.method == "sendMessage"]  # never an error message
    return answers[0]


def results(call: ApiCall) -> list[dict[str, Any]]:
    """The results of an answerInlineQuery call as JSON objects."""
    raw = call.params.get("results", [])
    found = json.loads(raw) if isinstance(raw, str) else raw
    return [dict(r) for r in found]


def button(call: ApiCall) -> dict[str, Any] | None:
    """The answer's button (switch to the bot), if any."""
    raw = call.params.get("button")
    if raw is None:
        return None
    return dict(json.loads(raw) if isinstance(raw, str) else raw)


async def test_search_results_are_shareable_articles(bot: Harness) -> None:
    """A query answers articles: headline title, "source · date" description, an HTML
    message with the linked headline, the article URL; personal, cached a minute."""
    call = await ask(bot, "floods")
    found = results(call)
    assert found and all(r["type"] == "article" for r in found)
    first = found[0]
    assert "flood" in first["title"].lower()
    assert " · " in first["description"]
    content = first["input_message_content"]
    assert content["parse_mode"] == "HTML"
    assert '<a href="' in content["message_text"] and first["url"].startswith("http")
    assert first["url"] in content["message_text"]
    assert call.params["cache_time"] == 60 and call.params["is_personal"] is True
    assert len({r["id"] for r in found}) == len(found)


async def test_empty_query_shows_the_latest(bot: Harness) -> None:
    """An empty (or only invisible) query answers the latest headlines."""
    latest = results(await ask(bot, ""))
    assert latest
    assert [r["id"] for r in results(await ask(bot, "\u200b\u200f "))] == [r["id"] for r in latest]


async def test_arabic_reader(bot: Harness) -> None:
    """An Arabic query from an Arabic client gets Arabic articles with Arabic dates; a
    reader whose chat is set to Arabic gets Arabic even from an English client."""
    found = results(await ask(bot, "وادي الساحل", lang="ar"))
    assert found and any("الساحل" in r["title"] for r in found)
    months = ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس")
    months += ("سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر")
    assert any(m in found[0]["description"] for m in months)
    await bot.command("/start", chat_id=USER + 1, user_id=USER + 1, lang="en")
    await bot.services.chats.set_language(USER + 1, "ar")
    none = await ask(bot, "zzqqxxvv", user=USER + 1, lang="en")
    assert button(none) == {"text": t("ar", "inline.no_results"), "start_parameter": "inline"}


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_forged_long_query(bot: Harness, lang: str) -> None:
    """A forged query of 10,000 characters (and one just over the limit) answers no
    results and a button to open the bot, never an error."""
    for query in ("حلب " * 2500, "x" * 10_000, "floods " * 40):
        call = await ask(bot, query, lang=lang)
        assert results(call) == []
        assert button(call) == {"text": t(lang, "inline.too_long"), "start_parameter": "inline"}


async def test_zero_results(bot: Harness) -> None:
    """A query nothing matches answers no results and a hint button."""
    call = await ask(bot, "qqzzxxyy")
    assert results(call) == [] and button(call) is not None
    assert call.params.get("next_offset") in ("", None)
    assert results(await ask(bot, "floods", offset="99")) == []  # past the last page
    assert results(await ask(bot, "floods", offset="-1; DROP"))  # unreadable offset: page 0


async def test_inline_flood_gate(bot: Harness) -> None:
    """Past the per-user limit, inline queries are dropped unanswered; others still answer."""
    for _ in range(INLINE_LIMIT):
        await ask(bot, "floods")
    payload = bot.updates.inline_query("floods", user_id=USER, language_code="en")
    assert [c.method for c in await bot.process(payload)] == []
    await ask(bot, "floods", user=USER + 7)


async def test_mutes_hide_results(bot: Harness) -> None:
    """A reader's muted words hide matching articles from search results and the latest."""
    from bot.pipeline.text import query_terms
    from storage.repos.mutes import MuteRepo

    await bot.command("/start", chat_id=USER, user_id=USER)
    before = results(await ask(bot, "floods"))
    assert any("flood" in r["title"].lower() for r in before)
    async with bot.services.db.unit_of_work() as session:
        await MuteRepo(session).add_words(USER, "floods", query_terms("floods"))
    after = results(await ask(bot, "floods"))
    assert not any("flood" in r["title"].lower() for r in after)
    latest = results(await ask(bot, ""))
    assert latest and not any("flood" in r["title"].lower() for r in latest)
    assert any("flood" in r["title"].lower() for r in results(await ask(bot, "", user=USER + 3)))
