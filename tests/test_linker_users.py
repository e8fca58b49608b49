"""Cross-language links as users meet them, through the recording Bot API: pushes for
followers of either story, one entry per linked pair, the coverage line, news languages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.linker import Linker
from storage.db import Database
from storage.models import ArticleRow
from tests.bot_harness import USER_ID, Harness, joined, make_harness
from tests.linker_fakes import InlineEmbedder

FUEL_EN = "Energy ministry raises petrol and diesel prices by 8 percent"
FUEL_AR = "وزارة الطاقة ترفع أسعار البنزين والديزل بنسبة 8 بالمئة"
SANAD_EN = "Nokta launches Sanad, a phone assistant that works offline"
SANAD_AR = "شركة نقطة تطلق المساعد سند الذي يعمل دون إنترنت"
ARABIC_READER = 200


def _record(n: int, title: str, lang: str, source: str) -> dict[str, Any]:
    """An ingest record."""
    return {
        "id": f"x{n}",
        "title": title,
        "text": title
        + (". وقدّم المسؤولون تفاصيل أخرى." if lang == "ar" else ". Officials said more."),
        "source": source,
        "lang": lang,
        "url": f"https://news.invalid/x{n}",
    }


async def _story_of(db: Database, url: str) -> int:
    """The story id of the article at url."""
    async with db.unit_of_work() as session:
        story = await session.scalar(select(ArticleRow.story_id).where(ArticleRow.url == url))
    assert story is not None
    return int(story)


async def _link(bot: Harness) -> None:
    """Run the linker until idle (fake encoder), then deliver what fan-out owes."""
    await Linker(bot.services.db, InlineEmbedder(), clock=bot.clock).run_until_idle()
    bot.clock.advance(60)  # past any per-chat pacing of the sends before
    await bot.deliver()


def _plain(text: str) -> str:
    """Message text without tags or direction marks."""
    return re.sub(r"[\u200e\u200f\u2066-\u2069]", "", re.sub(r"<[^>]+>", "", text))


@pytest.fixture
async def bot(db: Database) -> AsyncIterator[Harness]:
    """A harness where an English reader follows the English fuel story."""
    async with make_harness(db) as harness:
        await harness.command("/start")
        await harness.command("/start", chat_id=ARABIC_READER, user_id=ARABIC_READER, lang="ar")
        await harness.add_articles([_record(1, FUEL_EN, "en", "Coast Wire")])
        await harness.deliver()
        story = await _story_of(db, "https://news.invalid/x1")
        await harness.press(f"fs:{story}", harness.last_message())
        harness.clock.advance(60)
        yield harness


async def test_follower_of_the_english_story_gets_the_arabic_push(bot: Harness) -> None:
    """An Arabic report of the followed event arrives: it becomes its own lexical story, the
    linker links the two, and the English story's follower gets the Arabic push."""
    await bot.add_articles([_record(2, FUEL_AR, "ar", "Gulf Daily")])
    before = len(bot.api.calls)
    await bot.deliver()
    assert FUEL_AR not in joined(bot.api.calls[before:])  # not linked yet: no push
    await _link(bot)
    pushed = joined(c for c in bot.api.calls[before:] if c.params.get("chat_id") == USER_ID)
    assert FUEL_AR in pushed
    assert "2 sources · 1 Arabic · 1 English · first: Coast Wire" in _plain(pushed)
    assert await _story_of(bot.services.db, "https://news.invalid/x2") != await _story_of(
        bot.services.db, "https://news.invalid/x1"
    )


async def test_one_language_setting_holds_the_other_language_back(bot: Harness) -> None:
    """With news languages "English", the linked Arabic report is not pushed."""
    changed = joined(await bot.command("/settings news en"))
    assert "News languages: English only" in changed
    await bot.add_articles([_record(2, FUEL_AR, "ar", "Gulf Daily")])
    before = len(bot.api.calls)
    await _link(bot)
    assert FUEL_AR not in joined(bot.api.calls[before:])


async def test_story_card_spans_both_languages_with_coverage(bot: Harness) -> None:
    """/story of either member shows both reports and the coverage line."""
    await bot.add_articles([_record(2, FUEL_AR, "ar", "Gulf Daily")])
    await _link(bot)
    story_ar = await _story_of(bot.services.db, "https://news.invalid/x2")
    card = _plain(joined(await bot.command(f"/story {story_ar}")))
    async with bot.services.db.unit_of_work() as session:
        published = await session.scalar(
            select(ArticleRow.published_at).where(ArticleRow.url == "https://news.invalid/x1")
        )
    assert published is not None
    first = published.strftime("%H:%M")
    assert FUEL_EN in card and FUEL_AR in card
    assert f"2 sources · 1 Arabic · 1 English · first: Coast Wire {first}" in card
    assert card.index(FUEL_EN) < card.index("Timeline")  # the headline in the reader's language


async def test_topics_list_a_linked_pair_once_in_the_readers_language(bot: Harness) -> None:
    """/topics: one entry for the pair, English headline for English readers, Arabic for Arabic."""
    await bot.add_articles(
        [
            _record(2, FUEL_AR, "ar", "Gulf Daily"),
            _record(3, SANAD_EN, "en", "Tech Desk"),
            _record(4, SANAD_AR, "ar", "Tech Arabia"),
        ]
    )
    await _link(bot)
    english = _plain(joined(await bot.command("/topics")))
    arabic = _plain(
        joined(
            await bot.command("/topics", chat_id=ARABIC_READER, user_id=ARABIC_READER, lang="ar")
        )
    )
    assert english.count("1.") == 1 and FUEL_EN in english and FUEL_AR not in english
    assert SANAD_EN in english and SANAD_AR not in english
    assert FUEL_AR in arabic and FUEL_EN not in arabic and SANAD_AR in arabic
    assert "2 articles" in english  # the pair's counts together


async def test_default_lists_hide_unlinked_other_language_news(bot: Harness) -> None:
    """/latest by default: the interface language plus linked coverage; "both" shows all."""
    await bot.add_articles(
        [_record(2, FUEL_AR, "ar", "Gulf Daily"), _record(3, SANAD_AR, "ar", "Tech Arabia")]
    )
    await _link(bot)
    latest = _plain(joined(await bot.command("/latest")))
    assert FUEL_AR in latest and SANAD_AR not in latest
    await bot.command("/settings news both")
    assert SANAD_AR in _plain(joined(await bot.command("/latest")))


async def test_arabic_search_finds_the_english_coverage(bot: Harness) -> None:
    """Searching in Arabic lists the linked English report in the same group, after the match."""
    await bot.add_articles([_record(2, FUEL_AR, "ar", "Gulf Daily")])
    await _link(bot)
    results = _plain(joined(await bot.command("/search البنزين والديزل")))
    assert FUEL_AR in results and FUEL_EN in results
    assert results.count("📰") == 1  # one group, under the reader's (English) headline
    assert results.index("• " + FUEL_AR) < results.index("• " + FUEL_EN)  # the match first


async def test_digest_shows_a_linked_pair_once(bot: Harness) -> None:
    """An Arabic reader following the English story: the digest holds the pair as one
    entry with both reports, under the Arabic headline."""
    await bot.add_articles([_record(2, FUEL_AR, "ar", "Gulf Daily")])
    await _link(bot)
    english = await _story_of(bot.services.db, "https://news.invalid/x1")
    await bot.services.chats.follow_story(ARABIC_READER, english)
    sent = await bot.command("/digest", chat_id=ARABIC_READER, user_id=ARABIC_READER, lang="ar")
    digest = _plain(joined(sent))
    entry = digest.split("\n\n")[1]
    assert entry.startswith("1. " + FUEL_AR) and "2. " not in digest
    assert FUEL_EN in digest and "…" not in digest
