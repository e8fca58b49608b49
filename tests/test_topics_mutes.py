"""/topics hides a story when a word mute matches its headline or the title of one of its
articles (each title on its own), in English and Arabic, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.demo import as_record, load_items
from storage.db import Database
from storage.repos.links import LinkRepo
from storage.repos.stories import StoryRepo
from tests.bot_harness import USER_ID, Harness, joined, make_harness

AR_CHAT = 300
OTHER = 555
ARABIC = {"chat_id": AR_CHAT, "user_id": AR_CHAT, "lang": "ar"}

# Demo stories (headline shown in /topics) and a title of another of their articles.
CUP = "Nahda Club and Marsa FC set for cup final on Friday"  # + "Nahda Club coach: we respect…"
METRO = "Green Line metro opens with free rides"  # + "… long queues at airport station …"
FUEL = "Energy ministry raises petrol and diesel prices"
SANAD_AR = "شركة نقطة تطلق المساعد سند"  # + "طوابير طويلة في حفل إطلاق مساعد سند …"
FLOODS_AR = "سيول جارفة تغمر شوارع وادي الساحل"  # + "فيضانات وادي الساحل: إجلاء عائلات …"
FLOODS_EN = "Flash floods swamp low streets of Wadi Sahel"  # + "… rescue teams evacuate …"


@pytest.fixture
async def bot(db: Database) -> AsyncIterator[Harness]:
    """A harness with the demo's first items ingested."""
    async with make_harness(db) as harness:
        items = [i for i in load_items() if i["offset"] == 0]
        await harness.add_articles(as_record(i, n) for n, i in enumerate(items))
        yield harness


async def topics(bot: Harness, chat_id: int = USER_ID, lang: str = "en") -> str:
    """The text of /topics and of its next page (the paging button), if any."""
    calls = await bot.command("/topics", chat_id=chat_id, user_id=chat_id, lang=lang)
    text = joined(calls)
    try:
        message, data = bot.find_button(calls, "tp:1")
    except AssertionError:
        return text
    return text + joined(
        await bot.press(data, message, chat_id=chat_id, user_id=chat_id, lang=lang)
    )


async def test_a_muted_word_in_another_articles_title_hides_the_story(bot: Harness) -> None:
    """Muting a word of a story's second headline (not its own) hides the story; the other
    stories stay; words spread over two titles hide nothing."""
    before = await topics(bot)
    assert CUP in before and METRO in before and FUEL in before
    assert "Muted" in joined(await bot.command("/mute coach"))
    after = await topics(bot)
    assert CUP not in after and METRO in after and FUEL in after
    await bot.command("/mute airport station")  # both words in one title of the metro story
    after = await topics(bot)
    assert METRO not in after and FUEL in after
    await bot.command("/mute striker respect", chat_id=OTHER, user_id=OTHER)  # two titles
    assert CUP in await topics(bot, OTHER)


async def test_arabic_muted_word_with_clitics_in_an_article_title_hides_the_story(
    bot: Harness,
) -> None:
    """Arabic mutes typed with clitics (بال، ال) match a bare word in another article's
    title (hamza and clitics normalised) and hide the story from an Arabic reader."""
    before = await topics(bot, AR_CHAT, "ar")
    assert SANAD_AR in before and FLOODS_AR in before
    assert "تم كتم" in joined(await bot.command("/mute بالحفل", **ARABIC))
    after = await topics(bot, AR_CHAT, "ar")
    assert SANAD_AR not in after and FLOODS_AR in after
    assert "تم كتم" in joined(await bot.command("/mute الإجلاء", **ARABIC))
    after = await topics(bot, AR_CHAT, "ar")
    assert SANAD_AR not in after and FLOODS_AR not in after
    assert "الخط الأخضر" in after  # an unmuted story is still listed


async def test_a_muted_word_in_a_linked_partners_title_hides_the_pair(bot: Harness) -> None:
    """A linked pair is listed once (its card shows both stories' articles): a muted word in
    a title of the other-language member hides the pair, for either interface language."""
    async with bot.services.db.unit_of_work() as session:
        stories = await StoryRepo(session).trending(bot.clock.now - timedelta(days=3), 50)
        by_label = {s.label: s.id for s in stories}
        english = next(i for label, i in by_label.items() if label.startswith(FLOODS_EN))
        arabic = next(i for label, i in by_label.items() if label.startswith(FLOODS_AR))
        await LinkRepo(session).add_links([(english, arabic, 0.9)], bot.clock.now)
    assert FLOODS_EN in await topics(bot)
    assert FLOODS_AR in await topics(bot, AR_CHAT, "ar")
    await bot.command("/mute إجلاء")  # only in a title of the Arabic member
    assert FLOODS_EN not in await topics(bot)
    assert "تم كتم" in joined(await bot.command("/mute evacuate", **ARABIC))
    assert FLOODS_AR not in await topics(bot, AR_CHAT, "ar")
    assert FUEL in await topics(bot)
