"""Search stops early only when the bounds allow it: small caps give the brute-force top."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.pipeline.bm25 import (
    K1,
    MAX_BOOST,
    boost,
    cannot_beat,
    ceiling_order,
    decay,
    density_estimate,
    group_counts,
    idf,
    relevance,
    score_rows,
)
from bot.pipeline.search_query import SearchOptions, parse_search, parse_window
from storage.db import Database
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.search import SearchRepo

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WORDS = ["common"] * 30 + ["usual"] * 10 + ["rare", "scarce", "odd"] + [f"w{i}" for i in range(40)]


async def fill(db: Database, n: int = 300) -> list[tuple[int, float, str]]:
    """n articles of random words (seeded); their (id, published epoch, search text)."""
    rng = random.Random(3)
    rows: list[tuple[int, float, str]] = []
    async with db.unit_of_work() as session:
        repo = ArticleRepo(session)
        for i in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 25)))
            published = NOW - timedelta(hours=rng.randrange(500))
            article = await repo.insert(
                ArticleFields(
                    url=f"https://p.test/{i}",
                    title=f"A {i}",
                    published_at=published,
                    search_text=words,
                )
            )
            rows.append((article.id, published.timestamp(), words))
    return rows


@pytest.mark.parametrize(
    "query", [["common"], ["rare", "common"], ["scarce", "usual", "common"], ["odd", "w3", "w7"]]
)
async def test_small_caps_still_give_the_brute_force_top(db: Database, query: list[str]) -> None:
    """With caps small enough to force every path, exact results equal scoring everything."""
    rows = await fill(db)
    groups = [(term,) for term in query]
    async with db.unit_of_work() as session:
        repo = SearchRepo(session, postings_cap=40, score_budget=10_000, candidate_cap=60)
        docs, avg = await repo.stats()
        result = await repo.search_detailed(groups, limit=10, now=NOW)
        lists = [await repo.postings(g, docs, 10_000) for g in groups]
    weights = [idf(docs, p.df) for p in lists]
    keys = sorted(score_rows(rows, groups, weights, avg, NOW.timestamp(), 48.0), reverse=True)
    expected = [k[3] for k in keys[:10]]
    if result.exact:
        assert [i for i, _ in result.ranked] == expected
    else:  # a group too common for the cap: only its newest matches were scored
        assert any(p.df > 40 for p in lists)
    full = SearchRepo  # with caps above the corpus every search is exact
    async with db.unit_of_work() as session:
        exact = await full(session).search_detailed(groups, limit=10, now=NOW)
    assert exact.exact and [i for i, _ in exact.ranked] == expected


async def test_filters_since_and_language(db: Database) -> None:
    """`since` and `langs` leave out older articles and other languages."""
    async with db.unit_of_work() as session:
        repo = ArticleRepo(session)
        old = await repo.insert(
            ArticleFields(
                url="https://f/1",
                title="x",
                lang="en",
                published_at=NOW - timedelta(days=10),
                search_text="flood",
            )
        )
        new = await repo.insert(
            ArticleFields(
                url="https://f/2",
                title="x",
                lang="en",
                published_at=NOW - timedelta(days=1),
                search_text="flood",
            )
        )
        arabic = await repo.insert(
            ArticleFields(
                url="https://f/3", title="x", lang="ar", published_at=NOW, search_text="flood"
            )
        )
    async with db.unit_of_work() as session:
        search = SearchRepo(session)
        everything = await search.search(["flood"], limit=10, now=NOW)
        week = await search.search(["flood"], limit=10, now=NOW, since=NOW - timedelta(days=7))
        english = await search.search(["flood"], limit=10, now=NOW, langs=["en"])
    assert {i for i, _ in everything} == {old.id, new.id, arabic.id}
    assert {i for i, _ in week} == {new.id, arabic.id}
    assert {i for i, _ in english} == {old.id, new.id}


def test_bm25_pieces() -> None:
    """Counts are whole-word, bounds hold, ceilings order by known groups."""
    assert group_counts("a ab a b", [("a",), ("b", "ab"), ("c",)]) == [2, 2, 0]
    assert idf(100, 1) > idf(100, 50) > 0
    w = idf(100, 3)
    assert relevance([1000], 1, [w], 50.0) * MAX_BOOST < w * (K1 + 1) * MAX_BOOST
    assert boost(NOW.timestamp(), NOW.timestamp(), 48.0) == MAX_BOOST
    assert decay(48.0, 48.0) == pytest.approx(0.5)
    assert ceiling_order([[1, 2], [2]], [3.0, 1.0]) == [(True, 4.0, 2), (False, 3.0, 1)]
    assert cannot_beat((False, 2.0), (True, 1.0, 0.0, 9))
    assert not cannot_beat((True, 0.1), (False, 5.0, 0.0, 9))
    assert density_estimate(100, 1000, 901, 1000) == 1000


def test_parse_search_options() -> None:
    """Trailing windows and language choices are options; anything else stays a word."""
    assert parse_search("flood 7d") == SearchOptions("flood", timedelta(days=7))
    assert parse_search("flood 24h lang:AR").lang == "ar"
    assert parse_search("flood 24h lang:ar").window == timedelta(hours=24)
    assert parse_search("7d") == SearchOptions("7d")  # a query is never only options
    assert parse_search("7d flood") == SearchOptions("7d flood")
    assert parse_search("flood 0d") == SearchOptions("flood 0d")
    assert parse_window("2w") == timedelta(weeks=2) and parse_window("x") is None
    assert parse_search("flood 7d").since(NOW) == NOW - timedelta(days=7)
    assert parse_search("flood").langs() is None
