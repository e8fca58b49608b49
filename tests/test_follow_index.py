"""Keyword-follow matching: the pure term index and the database-backed matcher."""

from __future__ import annotations

import random

from bot.domain import Article
from bot.follows import FollowMatcher, article_terms
from bot.pipeline.follow_index import REBALANCE_MIN_SEEN, FollowIndex
from bot.pipeline.text import matching_terms, query_terms
from storage.db import Database
from storage.repos.chats import ChatRepo, FollowRepo


def terms(text: str) -> set[str]:
    """Matching terms of a text."""
    return set(matching_terms(text))


def test_all_terms_must_occur() -> None:
    """A follow matches only when every one of its terms is in the article."""
    index = FollowIndex()
    index.add(1, query_terms("Aleppo"))
    index.add(2, query_terms("Aleppo strikes"))
    index.add(3, query_terms("Aleppo ceasefire"))
    index.add(4, query_terms("حلب"))
    assert index.match(terms("Air strikes on Aleppo overnight")) == {1, 2}
    assert index.match(terms("A ceasefire in Aleppo")) == {1, 3}
    assert index.match(terms("Ceasefire talks in Geneva")) == set()
    assert index.match(terms("غارات على حلب")) == {4}
    assert index.match(terms("قصف بحلب")) == {4}


def test_remove_and_replace() -> None:
    """Removed follows stop matching; re-adding with new terms replaces the old ones."""
    index = FollowIndex()
    index.add(1, ["fire"])
    index.add(2, ["fire"])
    assert index.match({"fire"}) == {1, 2}
    assert index.remove(1) and not index.remove(1)
    assert index.match({"fire"}) == {2}
    index.add(2, ["flood"])
    assert index.match({"fire"}) == set() and index.match({"flood"}) == {2}
    assert index.remove(2) and len(index) == 0 and index.match({"flood"}) == set()
    assert not index.add(5, []) and 5 not in index


def test_many_follows_agree_with_brute_force() -> None:
    """With thousands of random follows the index gives exactly the brute-force answer."""
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(300)]
    follows = {i: set(rng.sample(vocabulary, rng.randint(1, 3))) for i in range(5_000)}
    index = FollowIndex()
    for follow_id, follow_terms in follows.items():
        index.add(follow_id, follow_terms)
    for gone in range(0, 5_000, 7):
        index.remove(gone)
        del follows[gone]
    assert len(index) == len(follows) and index.ids() == set(follows)
    for _ in range(50):
        article = set(rng.sample(vocabulary, rng.randint(1, 60)))
        expected = {i for i, t in follows.items() if t <= article}
        assert index.match(article) == expected
        assert index.match(frozenset(article)) == expected


def test_anchors_move_to_rare_terms_and_stay_exact() -> None:
    """Observed articles teach term rarity; re-anchoring keeps answers exact."""
    rng = random.Random(11)
    common = [f"c{i}" for i in range(5)]
    rare = [f"r{i}" for i in range(200)]
    follows: dict[int, set[str]] = {}
    index = FollowIndex()
    for follow_id in range(3_000):
        follow_terms = {rng.choice(common), *rng.sample(rare, rng.randint(1, 2))}
        follows[follow_id] = follow_terms
        index.add(follow_id, follow_terms)
    articles = [set(common[: rng.randint(3, 5)]) | set(rng.sample(rare, 5)) for _ in range(300)]
    assert not index.needs_rebalance()
    for article in articles:
        index.observe(article)
    assert index.needs_rebalance()
    index.rebalance()
    assert not index.needs_rebalance()
    assert all(index.anchor(i) in rare for i in follows)
    for gone in range(0, 3_000, 5):
        index.remove(gone)
        del follows[gone]
    for article in articles[:60]:
        expected = {i for i, t in follows.items() if t <= article}
        assert index.match(article) == expected
    index.add(9_999, ["c0", "r0"])
    assert index.anchor(9_999) == "r0"
    assert index.match({"c0", "r0"}) >= {9_999}


def test_cold_anchor_is_the_longest_term() -> None:
    """Before any article was seen the longest (usually rarer) term anchors a follow."""
    index = FollowIndex()
    index.add(1, ["war", "ceasefire"])
    index.add(2, ["a", "bb", "ccc"])
    assert index.anchor(1) == "ceasefire" and index.anchor(2) == "ccc"
    assert index.anchor(3) is None
    index.add(3, ["solo"])
    assert index.anchor(3) is None


def test_shared_term_sets_are_one_entry() -> None:
    """Many chats following the same words all match, and removing one keeps the rest."""
    index = FollowIndex()
    for follow_id in range(100):
        index.add(follow_id, ["maduro", "elect"])
    assert index.match({"maduro", "elect", "venezuela"}) == set(range(100))
    index.remove(0)
    assert index.match({"maduro", "elect"}) == set(range(1, 100))


async def test_matcher_loads_refreshes_and_reloads(db: Database) -> None:
    """The matcher indexes stored keyword follows, picks up new ones, drops deleted ones."""
    async with db.unit_of_work() as session:
        await ChatRepo(session).ensure(10)
        await ChatRepo(session).ensure(20)
        follows = FollowRepo(session)
        aleppo, _ = await follows.follow_keyword(10, "حلب", query_terms("حلب"))
        strikes, _ = await follows.follow_keyword(20, "air strikes", query_terms("air strikes"))
    matcher = FollowMatcher(db)
    assert await matcher.refresh() == 2
    article = Article(
        id=1,
        source_id=None,
        url="u",
        title="Air strike near Aleppo",
        lede="غارات جوية على مدينة حلب",
        text="The strikes continued.",
    )
    assert matcher.match(article) == {aleppo.id, strikes.id}
    assert matcher.match_terms(article_terms(article)) == {aleppo.id, strikes.id}

    async with db.unit_of_work() as session:
        maduro, _ = await FollowRepo(session).follow_keyword(10, "Maduro", query_terms("Maduro"))
        assert await FollowRepo(session).remove(20, strikes.id)
    assert await matcher.refresh() == 1
    assert await matcher.refresh() == 0
    other = Article(id=2, source_id=None, url="v", title="Maduro speaks", text="air strikes")
    assert matcher.match(other) == {maduro.id, strikes.id}  # the removal is not seen yet
    assert await matcher.reload() == 2
    assert matcher.match(other) == {maduro.id}
    assert matcher.match(article) == {aleppo.id}
    matcher.forget(aleppo.id)
    assert matcher.match(article) == set()


async def test_matcher_reanchors_on_refresh(db: Database) -> None:
    """After enough matched articles, a refresh re-anchors follows on their rarest term."""
    async with db.unit_of_work() as session:
        await ChatRepo(session).ensure(30)
        follow, _ = await FollowRepo(session).follow_keyword(
            30, "Aleppo ceasefire", query_terms("Aleppo ceasefire")
        )
    matcher = FollowMatcher(db)
    await matcher.refresh()
    (aleppo,) = query_terms("Aleppo")
    (ceasefire,) = query_terms("ceasefire")
    assert matcher.index.anchor(follow.id) == ceasefire
    for _ in range(REBALANCE_MIN_SEEN):
        assert matcher.match_terms({ceasefire, "talks"}) == set()
    assert matcher.match_terms({aleppo, ceasefire}) == {follow.id}
    await matcher.refresh()
    assert matcher.index.anchor(follow.id) == aleppo
    assert matcher.match_terms({aleppo, ceasefire}) == {follow.id}
