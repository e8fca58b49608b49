"""Keyword-follow matching: the database's keyword follows kept in an in-memory term index."""

from __future__ import annotations

from bot.domain import Article, Follow
from bot.pipeline.follow_index import FollowIndex
from bot.pipeline.text import matching_terms
from storage.db import Database
from storage.repos.chats import FollowRepo


def article_terms(article: Article) -> frozenset[str]:
    """The matching terms of an article's headline, lede and body."""
    return frozenset(matching_terms(f"{article.title}\n{article.lede}\n{article.text}"))


class FollowMatcher:
    """Which keyword follows does a new article match? (One index lookup per article term.)

    `refresh()` adds follows created since the last load; `reload()` rereads every keyword
    follow and drops the deleted ones. Muted or digest-only follows stay indexed: the
    fan-out decides what to do with a match. Every matched article's terms are counted
    (`FollowIndex.observe`), and `refresh()`/`reload()` re-anchor multi-word follows on
    their rarest terms once those counts have moved enough, so the matching path itself
    never pays for re-anchoring.
    """

    def __init__(self, db: Database) -> None:
        """Use `db`; nothing is loaded until `refresh()` or `reload()`."""
        self.db = db
        self.index = FollowIndex()
        self.follows: dict[int, Follow] = {}
        self._last_id = 0

    async def refresh(self) -> int:
        """Index keyword follows newer than the last seen id; returns how many were added."""
        async with self.db.unit_of_work() as session:
            fresh = await FollowRepo(session).keyword_follows(after_id=self._last_id)
        for follow in fresh:
            self._put(follow)
        self._rebalance_if_due()
        return len(fresh)

    async def reload(self) -> int:
        """Reread every keyword follow, dropping deleted ones; returns how many are indexed."""
        async with self.db.unit_of_work() as session:
            current = await FollowRepo(session).keyword_follows(after_id=0)
        live = {f.id for f in current}
        for gone in [i for i in self.follows if i not in live]:
            self.forget(gone)
        for follow in current:
            self._put(follow)
        self._rebalance_if_due()
        return len(self.follows)

    def forget(self, follow_id: int) -> None:
        """Drop one follow at once (e.g. right after /unfollow)."""
        self.follows.pop(follow_id, None)
        self.index.remove(follow_id)

    def match(self, article: Article) -> set[int]:
        """Ids of keyword follows whose terms all occur in the article (a new one)."""
        return self.match_terms(article_terms(article))

    def match_terms(self, terms: frozenset[str] | set[str]) -> set[int]:
        """Ids of keyword follows matched by a new article's already computed terms."""
        self.index.observe(terms)
        return self.index.match(terms)

    def _rebalance_if_due(self) -> None:
        """Re-anchor the index on the learned term rarity when enough articles were seen."""
        if self.index.needs_rebalance():
            self.index.rebalance()

    def _put(self, follow: Follow) -> None:
        """Index (or re-index) one follow."""
        self._last_id = max(self._last_id, follow.id)
        if self.index.add(follow.id, follow.terms):
            self.follows[follow.id] = follow
        else:
            self.follows.pop(follow.id, None)
