"""Search candidate paths (probe, walk, index window) agree; scoring helpers are exact."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from storage.db import Database
from storage.repos import search as search_module
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.search import (
    SearchRepo,
    decay,
    term_counts,
    text_relevance,
    walk_is_cheaper,
    window_size,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
POOL = 4  # small, so 400 articles exercise every path (PostgreSQL probes 32 rows)
ARTICLES = 400


def words_of(i: int) -> list[str]:
    """The matching-form words of article i (1-based, newer with higher i)."""
    words = ["everywhere", "alpha" if i <= ARTICLES // 2 else "beta"]
    if i % 12 == 0:
        words.append("twelfth")  # 3 in the probe, a sized window holds the pool
    if i in (5, 100, 150):
        words.append("rare")  # none in the probe, few expected: the whole table at once
    if i in (11, 31, 61, 121, 380, 399):
        words.append("sparse")  # 2 in the probe, too few in its window: widened

    return words


async def fill(db: Database) -> dict[int, set[str]]:
    """Insert the articles, oldest first; their ids with their words."""
    stored: dict[int, set[str]] = {}
    async with db.unit_of_work() as session:
        repo = ArticleRepo(session)
        for i in range(1, ARTICLES + 1):
            words = words_of(i)
            article = await repo.insert(
                ArticleFields(
                    url=f"https://paths.test/{i}",
                    title=f"Article {i}",
                    published_at=NOW - timedelta(hours=ARTICLES - i),
                    search_text=" ".join(words),
                )
            )
            stored[article.id] = set(words)
    return stored


def expected(stored: dict[int, set[str]], terms: list[str]) -> set[int]:
    """The newest POOL articles holding every term (else any term), by id."""
    matches = [i for i, words in stored.items() if set(terms) <= words]
    if not matches:
        matches = [i for i, words in stored.items() if set(terms) & words]
    return set(sorted(matches)[-POOL:])


QUERIES = [
    ["everywhere"],
    ["twelfth"],
    ["rare"],
    ["sparse"],
    ["alpha", "beta"],
    ["twelfth", "everywhere"],
]


@pytest.mark.parametrize("path", ["chosen", "walk", "window"])
async def test_every_path_finds_the_newest_matches(
    db: Database, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever path finds candidates, the result is the newest matches of the query."""
    if path == "walk":
        monkeypatch.setattr(search_module, "GIN_ENTRY_COST", 1e9)
    elif path == "window":
        monkeypatch.setattr(search_module, "WALK_ROW_COST", 1e9)
    stored = await fill(db)
    for terms in QUERIES:
        async with db.unit_of_work() as session:
            found = await SearchRepo(session, pool=POOL).search(terms, limit=POOL, now=NOW)
        assert {i for i, _ in found} == expected(stored, terms), terms


async def test_planner_settings_restored(db: Database) -> None:
    """Whatever path ran, the session's planner settings are as before after a search."""
    if db.dialect != "postgresql":
        pytest.skip("planner settings are PostgreSQL's")
    stored = await fill(db)
    names = ["enable_indexscan", "enable_seqscan", "jit", "random_page_cost"]
    query = "SELECT " + ", ".join(f"current_setting('{n}')" for n in names)
    async with db.unit_of_work() as session:
        before = tuple((await session.execute(text(query))).one())
        for terms in QUERIES:
            found = await SearchRepo(session, pool=POOL).search(terms, limit=POOL, now=NOW)
            assert {i for i, _ in found} == expected(stored, terms)
            assert tuple((await session.execute(text(query))).one()) == before


async def test_search_follows_replaced_text(db: Database) -> None:
    """The full-text index (FTS5 triggers, or the stored vector) follows updates."""
    async with db.unit_of_work() as session:
        repo = ArticleRepo(session)
        article = await repo.insert(
            ArticleFields(url="https://paths.test/x", title="x", search_text="flood warn")
        )
        await repo.replace(
            article.id,
            ArticleFields(url="https://paths.test/x", title="x", search_text="drought warn"),
        )
    async with db.unit_of_work() as session:
        repo_s = SearchRepo(session)
        assert await repo_s.search(["flood"], limit=5, now=NOW) == []
        assert [i for i, _ in await repo_s.search(["drought"], limit=5, now=NOW)] == [article.id]


def test_term_counts_agree_with_splitting() -> None:
    """Whole-word counts equal those of splitting the text, for random texts and terms."""
    vocabulary = ["a", "ab", "abc", "b", "ba", "حلب", "بحلب", "حل", "x1", "1"]
    rng = random.Random(7)
    for _ in range(2_000):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(0, 12))]
        text = " ".join(words)
        terms = rng.sample(vocabulary, rng.randint(1, 4))
        assert term_counts(text, terms) == [words.count(t) for t in terms], (text, terms)


def test_text_relevance_prefers_dense_and_rare() -> None:
    """More occurrences score higher; a term in fewer candidates weighs more."""
    scores = text_relevance(["flood flood rain", "flood rain rain", "sun"], ["flood"])
    assert scores[0] > scores[1] > scores[2] == 0.0
    rare_first = text_relevance(["common rare", "common", "common"], ["common", "rare"])
    assert rare_first[0] > rare_first[1] == rare_first[2] > 0.0
    assert text_relevance([], ["x"]) == []
    assert text_relevance(["", "x"], ["x"])[0] == 0.0


def test_window_sized_from_the_probe() -> None:
    """The window holds about two pools at the probed hit rate; no hits means a wide one."""
    assert window_size(probed=1600, found=100, pool=200) == 6400
    assert window_size(probed=1600, found=0, pool=200) == 1_280_000
    assert window_size(probed=0, found=0, pool=10) > 0


def test_walk_chosen_only_for_common_queries() -> None:
    """Walking wins for a query in a fifth of the rows, the index for a rare one."""
    common = window_size(1600, 320, 200)
    assert walk_is_cheaper(common, 1600, 320, 1_000_000)
    rare = window_size(1600, 5, 200)
    assert not walk_is_cheaper(rare, 1600, 5, 1_000_000)
    assert not walk_is_cheaper(common, 1600, 320, 1_000)


def test_decay_halves_per_half_life() -> None:
    """Age in half-lives halves the boost; no half-life means no boost."""
    assert decay(0.0, 48.0) == 1.0
    assert decay(96.0, 48.0) == pytest.approx(0.25)
    assert decay(-5.0, 48.0) == 1.0
    assert decay(10.0, 0.0) == 0.0
