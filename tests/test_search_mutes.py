"""/search and its paging buttons leave out what a chat muted (words, also in the body, and
sources), keep pages full, and read further down the ranking when mutes thin it out; in
English and Arabic, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.demo import keyboard_buttons
from bot.domain import Article, Mute, MuteKind
from bot.follows import article_terms
from bot.pipeline.mutes import form_holds, mute_filter, visible_in_forms
from bot.search import MAX_RESULTS, SearchService
from bot.search_index import SearchIndex
from storage.db import Database
from tests.bot_harness import USER_ID, Harness, joined, make_harness
from tests.test_inline import ask, results

AR_CHAT = 300
ARABIC = {"chat_id": AR_CHAT, "user_id": AR_CHAT, "lang": "ar"}
HEADLINES = {
    "volcano": "Zebra herd grazes below the Volcano",
    "election": "Election posters feature a striped zebra mascot",
    "harvest": "Harvest festival opens with a zebra parade",
    "satellite": "Satellite photos track zebra migration routes",
    "orchestra": "Orchestra plays a symphony named Zebra",
    "glacier": "Glacier melt reshapes plains where zebra roam",
    "bridge": "Bridge closed after zebra wanders onto traffic lanes",
    "meadow": "Meadow restoration brings zebra foals back",
    "copper": "Copper statue of a zebra unveiled downtown",
    "falcon": "Falcon and zebra share a documentary award",
}
WORDS = list(HEADLINES)


def record(key: str, title: str, text: str, source: str, lang: str = "en") -> dict[str, Any]:
    """One ingest record."""
    url = f"https://example.test/{key}"
    return {"id": key, "title": title, "text": text, "source": source, "lang": lang, "url": url}


def title_of(word: str) -> str:
    """The headline of the zebra report about `word`."""
    return HEADLINES[word]


@pytest.fixture
async def bot(db: Database) -> AsyncIterator[Harness]:
    """Ten one-article zebra stories from ten sources; the meadow report's body (only)
    mentions a kettle."""
    async with make_harness(db) as harness:
        for n, word in enumerate(WORDS):
            filler = " ".join(pseudo_word(n, salt) for salt in range(6))
            text = f"{title_of(word)} today. {filler}."
            if word == "meadow":
                text += " A kettle was left on the stove."
            await harness.add_articles([record(word, title_of(word), text, f"Wire {n}")])
        yield harness


def groups(calls: list[Any]) -> int:
    """How many story groups the result pages show."""
    return joined(calls).count("📰")


def next_button(calls: list[Any], page: int) -> tuple[dict[str, Any], str] | None:
    """The message and data of the ▶ button to page `page` (0-based), if shown."""
    for call in calls:
        if isinstance(call.result, dict):
            for _label, data in keyboard_buttons(call.result):
                if data.startswith("sp:") and data.endswith(f":{page}"):
                    return call.result, data
    return None


async def all_pages(bot: Harness, query: str, **chat: Any) -> list[list[Any]]:
    """The calls of /search and of every ▶ press after it, page by page."""
    pages = [await bot.command(f"/search {query}", **chat)]
    user = {k: v for k, v in chat.items() if k in ("chat_id", "user_id")}
    while (found := next_button(pages[-1], len(pages))) is not None and len(pages) < 10:
        message, data = found
        pages.append(await bot.press(data, message, **user))
    return pages


async def test_search_pages_leave_out_muted_words_and_sources(bot: Harness) -> None:
    """A muted headline word, a word only in a body and a muted source hide their articles
    from the first page and from the pages the ▶ button edits in; pages stay full."""
    before = await all_pages(bot, "zebra")
    assert sum(groups(p) for p in before) == len(WORDS)
    assert all(title_of(w) in "".join(joined(p) for p in before) for w in WORDS)
    assert "/search" in joined(await bot.command("/mute Volcano"))  # the reply says so
    await bot.command("/mute kettle")
    await bot.command("/mute source Wire 3")  # the satellite report
    after = await all_pages(bot, "zebra")
    text = "".join(joined(p) for p in after)
    hidden = {"volcano", "meadow", "satellite"}
    for word in WORDS:
        assert (title_of(word) in text) is (word not in hidden), word
    assert [groups(p) for p in after] == [5, 2]  # the first page is filled from further down
    assert "Page 2" in joined(after[1])
    other = await all_pages(bot, "zebra", chat_id=555, user_id=555)
    assert sum(groups(p) for p in other) == len(WORDS)  # another chat's mutes are its own


async def test_inline_results_leave_out_a_word_muted_only_in_the_body(bot: Harness) -> None:
    """Inline answers (the same search) hide an article whose body alone has a muted word,
    and a page keeps as many results as it can."""
    await bot.command("/start")
    before = [r["title"] for r in results(await ask(bot, "zebra", user=USER_ID))]
    assert title_of("meadow") in before and len(before) == len(WORDS)
    await bot.command("/mute kettle")
    after = [r["title"] for r in results(await ask(bot, "zebra", user=USER_ID))]
    assert title_of("meadow") not in after and len(after) == len(WORDS) - 1


async def test_search_with_everything_muted_says_no_results(bot: Harness) -> None:
    """When mutes hide every match, /search answers as for no match at all."""
    await bot.command("/mute zebra")
    shown = joined(await bot.command("/search zebra"))
    assert "No results for" in shown
    assert not any(title_of(w) in shown for w in WORDS)


async def test_arabic_search_leaves_out_muted_words_with_clitics(db: Database) -> None:
    """Arabic: a mute typed without clitics hides articles whose headline or body has the
    word with clitics (و، ل، ال، ب); the source mute takes the Arabic name."""
    async with make_harness(db) as bot:
        await bot.add_articles(
            [
                record(
                    "ar-1",
                    "وللانتخابات البلدية في الساحل موعد جديد",
                    "حددت اللجنة العليا موعدا جديدا للانتخابات البلدية المقبلة.",
                    "صحيفة الميناء",
                    "ar",
                ),
                record(
                    "ar-2",
                    "سوق السمك يفتح أبوابه فجرا في الساحل",
                    "يستقبل سوق السمك الصيادين فجرا، وبالانتخابات المقبلة ينتقل إلى موقع أكبر.",
                    "وكالة الساحل",
                    "ar",
                ),
                record(
                    "ar-3",
                    "حديقة جديدة للأطفال قرب شاطئ الساحل",
                    "افتتحت حديقة واسعة فيها ألعاب وأشجار نخيل ومقاعد للعائلات.",
                    "وكالة الساحل",
                    "ar",
                ),
                record(
                    "ar-4",
                    "قطار سريع يربط الساحل بالعاصمة",
                    "يقطع القطار الرحلة في ساعتين ويتوقف في ثلاث محطات.",
                    "تقنية اليوم",
                    "ar",
                ),
            ]
        )
        titles = ["وللانتخابات البلدية", "سوق السمك", "حديقة جديدة", "قطار سريع"]
        before = joined(await bot.command("/search الساحل", **ARABIC))
        assert all(t in before for t in titles)
        assert "تم كتم" in joined(await bot.command("/mute انتخابات", **ARABIC))
        words = joined(await bot.command("/search الساحل", **ARABIC))
        assert [t in words for t in titles] == [False, False, True, True]
        assert "تم كتم المصدر" in joined(await bot.command("/mute مصدر تقنيه اليوم", **ARABIC))
        both = joined(await bot.command("/search الساحل", **ARABIC))
        assert [t in both for t in titles] == [False, False, True, False]


def pseudo_word(n: int, salt: int) -> str:
    """A made-up word unique to (n, salt), so every report stays its own story."""
    digest = hashlib.sha256(f"{n}:{salt}".encode()).digest()
    letters, vowels = "bdfgklmnprstvz", "aeiou"
    return "".join(letters[b % 14] + vowels[b % 5] for b in digest[:4])


async def loud_and_quiet(bot: Harness) -> list[str]:
    """More reports than one read of the ranking from "Loud Wire" (newest, so ranked
    first), then four older ones from "Quiet Wire"; the quiet reports' headline starts."""
    now = bot.clock.now
    records = []
    loud = MAX_RESULTS + 8
    for n in range(loud + 4):
        older = n >= loud
        words = " ".join(pseudo_word(n, salt) for salt in range(6))
        published = now - (timedelta(days=6) if older else timedelta(minutes=n))
        item = record(
            f"r-{n}",
            f"Report {pseudo_word(n, 9)} on the zebra count",
            f"The zebra count went on. {words}.",
            "Quiet Wire" if older else "Loud Wire",
        )
        records.append(dict(item, published=published.isoformat()))
    await bot.add_articles(records)
    return [f"Report {pseudo_word(n, 9)} on" for n in range(loud, loud + 4)]


async def test_muted_top_of_ranking_reads_further_down(db: Database) -> None:
    """When the best-ranked matches (more than the first read) are all from a muted source,
    /search reads the next part of the ranking and still finds the older reports."""
    async with make_harness(db) as bot:
        quiet = await loud_and_quiet(bot)
        assert "Muted the source" in joined(await bot.command("/mute source Loud Wire"))
        shown = joined(await bot.command("/search zebra"))
        assert "Loud Wire" not in shown
        assert all(q in shown for q in quiet), shown[:500]


async def test_muted_top_of_ranking_on_the_search_index(db: Database, tmp_path: Path) -> None:
    """The same on the search index (the path `akhbar run` uses once it has caught up):
    the second read asks the index for the ranking past the first hundred."""
    async with make_harness(db) as bot:
        quiet = await loud_and_quiet(bot)
        await bot.command("/mute source Loud Wire")
        chat = await bot.services.chats.get(USER_ID)
        assert chat is not None
        index = SearchIndex(db, tmp_path / "index")
        assert await index.prepare()
        try:
            service = SearchService(db, index=index)
            found = await service.search("zebra", 0, 5, now=bot.clock.now, chat=chat)
            titles = [a.title for _story, articles in found.groups for a in articles]
            assert all(any(t.startswith(q) for t in titles) for q in quiet), titles
            assert not any(a.source_name == "Loud Wire" for _s, arts in found.groups for a in arts)
            plain = await service.search("zebra", 0, 5, now=bot.clock.now)
            assert any(a.source_name == "Loud Wire" for _s, arts in plain.groups for a in arts)
        finally:
            await index.close()


def test_stored_forms_match_whole_terms_only() -> None:
    """A word mute looked up in a stored matching form matches whole terms (first, middle,
    last), never part of a term; an article without a form falls back to its own terms."""
    assert form_holds("zebra count keeper", frozenset({"zebra", "keeper"}))
    assert form_holds("zebra count keeper", frozenset({"count"}))
    assert not form_holds("zebras counted keepers", frozenset({"zebra"}))
    assert not form_holds("azebra count", frozenset({"zebra"}))
    assert not form_holds("zebra count", frozenset({"zebra", "keeper"}))
    mutes = mute_filter([Mute(id=1, chat_id=1, kind=MuteKind.WORD, terms=("انتخاب",))])
    first = Article(id=1, url="u1", title="Harbour news", source_id=1)
    second = Article(id=2, url="u2", title="وللانتخابات موعد", source_id=1)
    third = Article(id=3, url="u3", title="Other news", source_id=1)
    forms = {1: "harbour news انتخاب موعد", 3: "other news"}
    assert visible_in_forms([first, second, third], mutes, forms, article_terms) == [third]
