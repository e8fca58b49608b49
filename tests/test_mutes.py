"""Mutes: the pure deciders, the repository (SQLite and PostgreSQL) and the service."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.chats import ChatService
from bot.domain import Article, Chat, ChatType, Mute, MuteKind, Source
from bot.follows import article_terms
from bot.mutes import (
    BadMute,
    MuteLimit,
    MuteNotFound,
    MuteService,
    SourceChoice,
    parse_words,
    pick_mute,
)
from bot.pipeline.mutes import (
    MAX_MUTE_TERMS,
    MAX_MUTES,
    MuteFilter,
    filters_by_chat,
    find_source,
    hides_story,
    mute_filter,
    muted_chats,
    visible,
)
from bot.pipeline.text import query_terms
from bot.settings import Settings
from storage.db import Database
from storage.repos.mutes import MuteRepo
from storage.repos.sources import SourceRepo

NOW = datetime(2025, 5, 14, 9, 0, tzinfo=UTC)


def article(id: int, title: str, source_id: int | None = 1, text: str = "") -> Article:
    """A small article."""
    return Article(
        id=id, source_id=source_id, url=f"https://x.test/{id}", title=title, text=text, lang="en"
    )


def word(chat_id: int, text: str, id: int = 1) -> Mute:
    """A word mute as the service stores it."""
    return Mute(
        id=id, chat_id=chat_id, kind=MuteKind.WORD, query=text, terms=tuple(query_terms(text))
    )


def source_mute(chat_id: int, source_id: int, id: int = 2, name: str = "") -> Mute:
    """A source mute."""
    return Mute(id=id, chat_id=chat_id, kind=MuteKind.SOURCE, source_id=source_id, source_name=name)


# --------------------------------------------------------------------------- pure


def test_word_mutes_need_every_term_and_match_like_keyword_follows() -> None:
    """All terms must occur; stems and Arabic normalisation match as for keyword follows."""
    mutes = mute_filter([word(1, "football scores")])
    shown = article(1, "Football: the scores of the weekend")
    partial = article(2, "Football transfer news")
    assert mutes.hides(shown, lambda: article_terms(shown))
    assert not mutes.hides(partial, lambda: article_terms(partial))
    arabic = mute_filter([word(1, "كرة القدم")])
    item = article(3, "نتائج الكرة والقدم", text="مباراة كرة قدم")
    assert arabic.hides(item, lambda: article_terms(item))
    hamza = mute_filter([word(1, "أسعار")])
    priced = article(4, "ارتفاع الاسعار في السوق")
    assert hamza.hides(priced, lambda: article_terms(priced))


def test_source_mutes_and_lazy_terms() -> None:
    """A source mute hides without computing terms; no mutes hide nothing."""
    mutes = mute_filter([source_mute(1, 7)])
    calls: list[int] = []

    def terms() -> frozenset[str]:
        calls.append(1)
        return frozenset()

    assert mutes.hides(article(1, "Anything", source_id=7), terms)
    assert not mutes.hides(article(2, "Anything", source_id=8), terms)
    assert calls == []
    assert not MuteFilter()
    assert filters_by_chat({1: [], 2: [source_mute(2, 7)]}) == {2: MuteFilter((), frozenset({7}))}


def test_muted_chats_computes_terms_once() -> None:
    """Across many chats, an article's terms are computed at most once."""
    filters = {c: mute_filter([word(c, "storm")]) for c in range(1, 50)}
    filters[99] = mute_filter([source_mute(99, 5)])
    seen: list[int] = []

    def terms_of(a: Article) -> frozenset[str]:
        seen.append(a.id)
        return article_terms(a)

    stormy = article(1, "Storm closes the port", source_id=5)
    assert muted_chats(stormy, [*range(1, 50), 99, 100], filters, terms_of) == {*range(1, 50), 99}
    assert seen == [1]
    calm = article(2, "Calm seas", source_id=6)
    assert muted_chats(calm, [99, 100], filters, terms_of) == set()
    assert seen == [1]  # chat 99 mutes only a source, 100 nothing: no terms needed
    items = [stormy, calm]
    assert visible(items, filters[3], article_terms) == [calm]
    assert visible(items, MuteFilter(), article_terms) == items


def test_hides_story() -> None:
    """A story hides on a muted headline word set or when every known source is muted."""
    mutes = mute_filter([word(1, "election"), source_mute(1, 3), source_mute(1, 4, id=3)])
    assert hides_story(mutes, frozenset(query_terms("Election results")), set())
    assert hides_story(mutes, frozenset(), {3, 4})
    assert not hides_story(mutes, frozenset(), {3, 5})
    assert not hides_story(mutes, frozenset(), set())


SOURCES = [
    Source(id=1, name="BBC News", url="https://www.bbc.co.uk/news/rss.xml"),
    Source(id=2, name="BBC Arabic", url="https://feeds.bbci.co.uk/arabic/rss.xml"),
    Source(id=3, name="وكالة الميناء", url="http://127.0.0.1:8000/ar.xml"),
    Source(id=4, name="Reuters", url="https://reuters.example/world"),
]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("BBC News", 1),
        ("bbc   news", 1),
        ("#2", 2),
        ("4", 4),
        ("وكالة المیناء", None),
        ("وكاله الميناء", 3),
        ("الميناء", 3),
        ("bbc.co.uk", 1),
        ("reuters", 4),
    ],
)
def test_find_source(query: str, found: int | None) -> None:
    """Names match casefolded and Arabic-normalised, whole or as a unique part; ids and hosts."""
    match = find_source(query, SOURCES)
    assert (match.source.id if match.source else None) == found


def test_find_source_ambiguous_and_close() -> None:
    """Several partial matches are offered as a choice; a typo gets close names."""
    both = find_source("bbc", SOURCES)
    assert both.source is None and both.ambiguous
    assert {s.id for s in both.candidates} == {1, 2}
    typo = find_source("Reuter", SOURCES)
    assert typo.source is not None and typo.source.id == 4
    close = find_source("Rueters", SOURCES)
    assert close.source is None and not close.ambiguous
    assert [s.id for s in close.candidates] == [4]
    assert find_source("zzzz", SOURCES).candidates == ()
    assert find_source("   ", SOURCES).candidates == ()


def test_parse_words_bounds() -> None:
    """Empty, stop-word-only, too long and too many words are refused with their keys."""
    assert parse_words(" Fuel   prices ") == ("Fuel prices", ["fuel", "price"])
    for text, key in [
        ("", "mute.usage"),
        ("the of", "mute.no_terms"),
        ("🔥", "mute.no_terms"),
        ("x" * 101, "mute.too_long"),
        ("alpha bravo charlie delta echo foxtrot", "mute.too_many_words"),
    ]:
        with pytest.raises(BadMute) as caught:
            parse_words(text)
        assert caught.value.key == key, text
    assert len(parse_words("alpha bravo charlie delta echo")[1]) == MAX_MUTE_TERMS


def test_pick_mute() -> None:
    """A list position, the same words in any order or form, or a muted source's name."""
    mutes = [word(1, "fuel prices", id=10), source_mute(1, 3, id=11, name="وكالة الميناء")]
    assert pick_mute(mutes, "1") == mutes[0]
    assert pick_mute(mutes, "Prices FUEL") == mutes[0]
    assert pick_mute(mutes, "2") == mutes[1]
    assert pick_mute(mutes, "source وكاله الميناء") == mutes[1]
    assert pick_mute(mutes, "مصدر 3") == mutes[1]
    assert pick_mute(mutes, "الميناء") == mutes[1]
    assert pick_mute(mutes, "3") is None
    assert pick_mute(mutes, "weather") is None


# --------------------------------------------------------------------------- storage and service


async def setup_chat(db: Database, chat_id: int = 5) -> None:
    """A known chat."""
    settings = Settings(database_url="sqlite+aiosqlite:///unused.db")
    await ChatService(db, settings, lambda: NOW).ensure_chat(chat_id, ChatType.PRIVATE)


async def add_source(db: Database, url: str, name: str) -> int:
    """Store a source and return its id."""
    async with db.unit_of_work() as session:
        return (await SourceRepo(session).add(url, name)).id


async def test_repo_adds_idempotently_and_reads_by_chat(db: Database) -> None:
    """Adds are idempotent; reads carry source names; many chats in one call."""
    await setup_chat(db, 5)
    await setup_chat(db, 6)
    source = await add_source(db, "https://a.example/rss", "Alpha Wire")
    async with db.unit_of_work() as session:
        repo = MuteRepo(session)
        first, created = await repo.add_words(5, "Fuel prices", ["fuel", "price"])
        again, created_again = await repo.add_words(5, "prices fuel", ["price", "fuel"])
        muted, _ = await repo.add_source(5, source)
        _, source_again = await repo.add_source(5, source)
        await repo.add_source(6, source)
    assert created and not created_again and first.id == again.id and not source_again
    assert first.terms == ("fuel", "price")
    async with db.unit_of_work() as session:
        repo = MuteRepo(session)
        mine = await repo.for_chat(5)
        many = await repo.for_chats([5, 6, 7])
        assert await repo.count(5) == 2
    assert [m.kind for m in mine] == [MuteKind.WORD, MuteKind.SOURCE]
    assert mine[1].source_name == "Alpha Wire" and muted.source_name == "Alpha Wire"
    assert set(many) == {5, 6} and len(many[5]) == 2
    async with db.unit_of_work() as session:
        assert not await MuteRepo(session).remove(6, first.id)  # not chat 6's
        assert await MuteRepo(session).remove(5, first.id)
        await SourceRepo(session).remove(source)
    async with db.unit_of_work() as session:
        assert await MuteRepo(session).for_chats([5, 6]) == {}  # source mutes go with the source


async def test_service_mutes_and_unmutes(db: Database) -> None:
    """Words and sources are muted once each, bounded, and unmuted by words, name or number."""
    await setup_chat(db)
    alpha = await add_source(db, "https://a.example/rss", "Alpha Wire")
    await add_source(db, "https://b.example/rss", "Alpha Daily")
    await add_source(db, "https://c.example/rss", "وكالة الميناء")
    service = MuteService(db)
    assert (await service.mute_words(5, "Fuel prices")).created
    assert not (await service.mute_words(5, "fuel  PRICE")).created
    result = await service.mute_source(5, "الميناء")
    assert result.created and result.mute.source_name == "وكالة الميناء"
    with pytest.raises(SourceChoice) as ambiguous:
        await service.mute_source(5, "alpha")
    assert ambiguous.value.ambiguous and len(ambiguous.value.candidates) == 2
    with pytest.raises(SourceChoice) as unknown:
        await service.mute_source(5, "Alpah Wire")
    assert not unknown.value.ambiguous and unknown.value.candidates[0].id == alpha
    with pytest.raises(BadMute):
        await service.mute_source(5, "  ")
    with pytest.raises(MuteNotFound):
        await service.mute_source_id(5, 99_999)
    assert (await service.mute_source_id(5, alpha)).created
    assert len(await service.mutes(5)) == 3
    assert (await service.unmute(5, "prices fuel")).kind is MuteKind.WORD
    assert (await service.unmute(5, "source alpha wire")).source_id == alpha
    with pytest.raises(MuteNotFound):
        await service.unmute(5, "source alpha wire")
    remaining = await service.mutes(5)
    assert (await service.unmute_id(5, remaining[0].id)).id == remaining[0].id
    with pytest.raises(MuteNotFound):
        await service.unmute_source(5, alpha)
    assert await service.mutes(5) == []


async def test_service_limit(db: Database) -> None:
    """Past MAX_MUTES a new mute is refused; an existing one is still answered."""
    await setup_chat(db)
    service = MuteService(db)
    async with db.unit_of_work() as session:
        repo = MuteRepo(session)
        for n in range(MAX_MUTES):
            await repo.add_words(5, f"word{n}", [f"word{n}"])
    with pytest.raises(MuteLimit) as caught:
        await service.mute_words(5, "another")
    assert caught.value.params == {"max": MAX_MUTES}
    assert not (await service.mute_words(5, "word3")).created


def test_digest_leaves_muted_articles_out() -> None:
    """followed_articles drops what the chat's mutes hide; other chats are unaffected."""
    from bot.domain import Follow, FollowKind, Story
    from bot.presentation.digest import DigestWindow, followed_articles

    items = [
        Article(
            id=n,
            source_id=src,
            url=f"https://x.test/{n}",
            title=title,
            lang="en",
            story_id=1,
            published_at=NOW,
        )
        for n, src, title in [
            (1, 1, "Flood waters rise in the valley"),
            (2, 2, "Flood waters reach the stadium"),
            (3, 3, "Flood relief reaches families"),
        ]
    ]
    window = DigestWindow(items, {1: Story(id=1, label="Floods")}, article_terms)
    follows = [Follow(id=1, chat_id=5, kind=FollowKind.STORY, story_id=1)]
    keyword = [Follow(id=2, chat_id=5, kind=FollowKind.KEYWORD, query="flood", terms=("flood",))]
    mutes = mute_filter([word(5, "stadium"), source_mute(5, 3)])
    assert [a.id for a in followed_articles(window, follows, NOW, mutes=mutes)] == [1]
    assert [a.id for a in followed_articles(window, keyword, NOW, mutes=mutes)] == [1]
    assert [a.id for a in followed_articles(window, follows, NOW)] == [1, 2, 3]


async def test_push_related_headlines_leave_muted_ones_out(db: Database) -> None:
    """A push's related headlines skip what the chat muted and keep up to the limit."""
    from bot.pushes import RELATED_LIMIT, PushComposer

    await setup_chat(db, 5)
    await setup_chat(db, 6)
    loud = await add_source(db, "https://loud.example/rss", "Loud Wire")
    async with db.unit_of_work() as session:
        await MuteRepo(session).add_source(5, loud)
        await MuteRepo(session).add_words(5, "stadium", list(query_terms("stadium")))
    related = [
        Article(id=1, source_id=loud, url="https://loud.example/1", title="Port reopens"),
        Article(id=2, source_id=None, url="https://b.example/2", title="Stadium roof repaired"),
    ] + [
        Article(id=10 + i, source_id=None, url=f"https://c.example/{i}", title=f"Harbour note {i}")
        for i in range(RELATED_LIMIT + 2)
    ]
    composer = PushComposer(db, stories=None)  # type: ignore[arg-type]  # not asked here
    muting = await composer._unmuted(Chat(id=5), related)
    assert [a.id for a in muting] == [10 + i for i in range(RELATED_LIMIT)]
    other = await composer._unmuted(Chat(id=6), related)
    assert [a.id for a in other] == [1, 2, 10, 11, 12]
