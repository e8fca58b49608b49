"""Search on SQLite and PostgreSQL: matching form, ranking, grouping, paging, hostile input."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import Article
from bot.pipeline.text import matching_terms, query_terms
from bot.search import (
    SearchService,
    group_by_story,
    hit_lines,
    queries_command,
    search_command,
)
from storage.db import Database
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.search import SearchRepo, clean_terms, fts5_query, recency_boost
from storage.repos.stories import StoryRepo

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def add(
    db: Database,
    title: str,
    text: str = "",
    *,
    hours_ago: float = 1.0,
    lang: str = "en",
    story_id: int | None = None,
    duplicate_of: int | None = None,
) -> Article:
    """Insert one article with its matching-form search text."""
    async with db.unit_of_work() as session:
        repo = ArticleRepo(session)
        article = await repo.insert(
            ArticleFields(
                url=f"https://example.test/{abs(hash((title, text, hours_ago, duplicate_of)))}",
                title=title,
                text=text,
                lang=lang,
                published_at=NOW - timedelta(hours=hours_ago),
                search_text=" ".join(matching_terms(f"{title}\n{text}")),
                duplicate_of=duplicate_of,
            )
        )
        if story_id is not None:
            await repo.set_story(article.id, story_id)
    return article


async def new_story(db: Database, label: str) -> int:
    """Create a story and return its id."""
    async with db.unit_of_work() as session:
        return (await StoryRepo(session).create(label, NOW)).id


async def found_ids(db: Database, query: str, limit: int = 20) -> list[int]:
    """Ids of the articles a query finds, best first."""
    return [h.article.id for h in await SearchService(db).hits(query, limit, now=NOW)]


@pytest.mark.parametrize("query", ["حلب", "بحلب", "وحلب", "حَلَب", "لحلب"])
async def test_arabic_forms_match(db: Database, query: str) -> None:
    """Clitic and diacritic variants of حلب all find an article containing حلب."""
    target = await add(db, "غارات جوية على حلب", "قصف عنيف في مدينة حلب اليوم", lang="ar")
    await add(db, "أمطار في الرياض", "طقس ممطر في العاصمة", lang="ar")
    assert await found_ids(db, query) == [target.id]


@pytest.mark.parametrize("query", ["strike", "strikes", "Strikes", "STRIKING"])
async def test_english_stemming(db: Database, query: str) -> None:
    """Inflected forms of strike find the article about strikes."""
    target = await add(db, "Air strikes hit the city", "Several strikes were reported overnight")
    await add(db, "Weather turns cold", "Snow expected in the north")
    assert await found_ids(db, query) == [target.id]


async def test_all_terms_required_with_any_term_fallback(db: Database) -> None:
    """Articles with every term come first; articles with some of them only fill up after."""
    only = await add(db, "Police police police parade downtown", hours_ago=0.1)
    both = await add(db, "Police respond to shooting in Elgin", hours_ago=100)
    await add(db, "Weather is fine")
    assert await found_ids(db, "police shooting") == [both.id, only.id]
    assert await found_ids(db, "police shooting", limit=1) == [both.id]
    assert set(await found_ids(db, "shooting parade")) == {both.id, only.id}


async def test_more_relevant_first(db: Database) -> None:
    """An article dense in the query term outranks one that mentions it in passing."""
    passing = await add(
        db,
        "Council meeting notes",
        "The budget was approved after a long debate about roads, parks and a flood plan.",
        hours_ago=5,
    )
    focused = await add(db, "Flood warning", "Flood waters rise; flood barriers up.", hours_ago=5)
    assert await found_ids(db, "flood") == [focused.id, passing.id]


async def test_recency_breaks_ties(db: Database) -> None:
    """Between equally relevant articles the newer one ranks first."""
    old = await add(db, "Bridge closed for repairs north", hours_ago=200)
    new = await add(db, "Bridge closed for repairs today", hours_ago=2)
    mid = await add(db, "Bridge closed for repairs south", hours_ago=50)
    assert await found_ids(db, "bridge repairs") == [new.id, mid.id, old.id]


async def test_syndicated_copies_excluded(db: Database) -> None:
    """A copy marked duplicate_of is not a separate result."""
    original = await add(db, "Earthquake strikes the coast")
    await add(db, "Earthquake strikes the coast", hours_ago=0.5, duplicate_of=original.id)
    assert await found_ids(db, "earthquake") == [original.id]


async def test_grouped_by_story_and_paged(db: Database) -> None:
    """Results group under their story; story-less articles stand alone; pages move on."""
    fire = await new_story(db, "Factory fire")
    a1 = await add(db, "Fire at factory", "fire fire", story_id=fire, hours_ago=1)
    a2 = await add(db, "Factory fire spreads", story_id=fire, hours_ago=3)
    loners = [await add(db, f"Fire drill number {i}", hours_ago=10 + i) for i in range(4)]
    service = SearchService(db)
    first = await service.search("fire", page=0, page_size=2, now=NOW)
    assert first.page == 0 and first.has_more and first.total_hint == 5
    story, articles = first.groups[0]
    assert story is not None and story.id == fire and story.label == "Factory fire"
    assert [a.id for a in articles] == [a1.id, a2.id]
    assert first.groups[1][0] is None and len(first.groups[1][1]) == 1
    pages = [first]
    for number in (1, 2):
        pages.append(await service.search("fire", page=number, page_size=2, now=NOW))
    assert pages[2].has_more is False and len(pages[2].groups) == 1
    shown = [a.id for p in pages for _, group in p.groups for a in group]
    assert sorted(shown) == sorted([a1.id, a2.id, *(x.id for x in loners)])
    assert (await service.search("fire", page=9, now=NOW)).groups == ()


async def test_repo_offset_pages(db: Database) -> None:
    """limit/offset slice one consistent ranking."""
    for i in range(7):
        await add(db, f"Market report {i}", hours_ago=i + 1)
    async with db.unit_of_work() as session:
        repo = SearchRepo(session)
        everything = await repo.search(["market"], limit=10, now=NOW)
        pages = [await repo.search(["market"], limit=3, offset=o, now=NOW) for o in (0, 3, 6)]
    assert [x for p in pages for x in p] == everything and len(everything) == 7
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(everything))


HOSTILE = [
    '"',
    '""',
    "*",
    "fire*",
    "-x",
    "-fire",
    "NEAR(a b)",
    "NEAR(fire factory, 2)",
    "a:b",
    "search_text:fire",
    "(",
    ")",
    "((fire",
    "fire AND OR NOT",
    "'; DROP TABLE articles; --",
    "x' OR '1'='1",
    "fire & | ! <-> :*",
    "\\",
    "!!!???...،؛",
    "😀🔥",
    "fire\u200b\u200c\u200dfactory",
    "\u200b\u200c\u200d\u2060",
    "a" * 10_000,
    "fire " * 2_000,
    " ".join(f"w{i}" for i in range(2_000)),
    "\x00fire",
    "\ud800fire",
    "",
    "   ",
]


async def test_hostile_queries_are_safe(db: Database) -> None:
    """Any user text is a harmless query: no error, a list (or a page) comes back."""
    await add(db, "Fire at factory", "A fire broke out at the factory")
    service = SearchService(db)
    for query in HOSTILE:
        hits = await service.hits(query, 10, now=NOW)
        assert isinstance(hits, list), query
        page = await service.search(query, now=NOW)
        assert isinstance(page.groups, tuple), query
    assert [h.article.title for h in await service.hits("fire*", 10, now=NOW)] == [
        "Fire at factory"
    ]
    async with db.unit_of_work() as session:
        assert await ArticleRepo(session).count() == 1


async def test_raw_terms_are_quoted(db: Database) -> None:
    """Even raw, unnormalised terms given straight to the repository never break the query."""
    await add(db, "Fire at factory", "A fire broke out at the factory")
    for raw in HOSTILE:
        async with db.unit_of_work() as session:
            result = await SearchRepo(session).search([raw, "fire", raw[:50]], limit=5, now=NOW)
        assert isinstance(result, list), raw
    async with db.unit_of_work() as session:
        assert await ArticleRepo(session).count() == 1


def test_fts5_query_quotes_every_term() -> None:
    """Each term becomes one string literal with embedded quotes doubled."""
    assert fts5_query(['a"b', "NEAR"], match_all=True) == '"a""b" AND "NEAR"'
    assert fts5_query(["x", "y"], match_all=False) == '"x" OR "y"'


def test_clean_terms_bounds_and_filters() -> None:
    """Punctuation-only, empty and repeated terms go; at most 32 remain."""
    assert clean_terms(["", "...", "a", "a", "\x00b"]) == ["a", "b"]
    assert len(clean_terms([f"t{i}" for i in range(100)])) == 32


def test_recency_boost_fades() -> None:
    """Fresh articles get the full boost, one half-life old half of it."""
    assert recency_boost(NOW, NOW, 48.0) == pytest.approx(1.25)
    assert recency_boost(NOW - timedelta(hours=48), NOW, 48.0) == pytest.approx(1.125)
    assert recency_boost(None, NOW, 48.0) == 1.0


def test_query_terms_of_hostile_text_are_words() -> None:
    """The query normaliser keeps only letters and digits."""
    terms = query_terms('"NEAR(a b)" -xy ab:cd * (fire)')
    assert "near" in terms and all(t.isalnum() for t in terms)


def test_group_by_story_keeps_rank_order() -> None:
    """A group sits where its best article ranked."""
    a = Article(id=1, source_id=None, url="u1", title="t", story_id=7)
    b = Article(id=2, source_id=None, url="u2", title="t")
    c = Article(id=3, source_id=None, url="u3", title="t", story_id=7)
    groups = group_by_story([a, b, c], {})
    assert [[x.id for x in g] for _, g in groups] == [[1, 3], [2]]


async def test_cli_output(db: Database) -> None:
    """`akhbar search` prints one line (or JSON object) per hit."""
    await add(db, "Fire at factory")
    plain = await search_command(db, "fire", 5)
    assert "Fire at factory" in plain
    as_json = await search_command(db, "fire", 5, as_json=True)
    assert '"title": "Fire at factory"' in as_json
    assert hit_lines([], as_json=True) == []


async def test_time_window_and_language_written_in_the_query(db: Database) -> None:
    """`flood 7d` keeps the last week's articles; `lang:ar` keeps Arabic ones."""
    recent = await add(db, "River flood reaches town", hours_ago=24)
    await add(db, "Old flood report", hours_ago=24 * 30)
    arabic = await add(db, "flood فيضان", hours_ago=1, lang="ar")
    page = await SearchService(db).search("flood 7d", now=NOW)
    found = {a.id for _, articles in page.groups for a in articles}
    assert found == {recent.id, arabic.id}
    page = await SearchService(db).search("flood lang:ar", now=NOW)
    assert {a.id for _, articles in page.groups for a in articles} == {arabic.id}


async def test_queries_command_one_line_per_query(db: Database) -> None:
    """`akhbar search --queries FILE --json`: one JSON line per query with its results."""
    target = await add(db, "Air strikes hit the city", hours_ago=0)
    lines = await queries_command(db, ["strikes", "nothing matches this", "strike city"], 5)
    records = [json.loads(line) for line in lines]
    assert [r["query"] for r in records] == ["strikes", "nothing matches this", "strike city"]
    assert [r["id"] for r in records[0]["results"]] == [target.id]
    assert records[1]["results"] == []
    assert set(records[0]["results"][0]) >= {"id", "url", "title", "story", "score"}


async def test_hits_carry_everything_a_result_shows_but_not_the_body(db: Database) -> None:
    """Search results read no article body (the costly part of reading a hundred rows):
    headline, lede, summary, url, story and source come back; `get_many` still reads bodies
    by default."""
    story = await new_story(db, "harbour")
    article = await add(
        db, "Harbour cranes stand idle", "Dock workers walked out. " * 200, story_id=story
    )
    (hit,) = await SearchService(db).hits("harbour cranes", 5, now=NOW)
    assert hit.article.id == article.id and hit.article.text == ""
    assert hit.article.title == article.title and hit.article.story_id == story
    assert hit.article.url == article.url and hit.article.summary == article.summary
    async with db.unit_of_work() as session:
        (full,) = await ArticleRepo(session).get_many([article.id])
    assert full.text.startswith("Dock workers walked out.")
