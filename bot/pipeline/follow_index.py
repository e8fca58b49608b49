"""Inverted index over keyword-follow terms: which follows does one article match?

Pure and in memory. One-word follows sit in a term -> ids map. A follow of several words
is indexed under one *anchor* term, and only articles that contain the anchor look at it,
so the anchor should be the term that articles contain least often:

- the index learns how often each followed term occurs in articles (`observe`, fed with
  every new article's terms; counts are halved now and then so they track the recent
  stream and stay bounded by the followed vocabulary);
- a new follow is anchored on its rarest term by those counts (on ties, or before any
  article was seen, the longest term: long words are rarer);
- `rebalance()` re-anchors every follow once the counts have changed enough (the matcher
  calls it on its periodic refresh, never on the matching path).

Two-word follows are stored as anchor -> partner term -> ids, so an article checks them
with one C-level set intersection (over the partners) per anchor it contains; longer follows as anchor ->
term set -> ids with a subset check each. Matching costs follow the article's length and
the follows anchored on its rare terms, not the total number of follows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from typing import TypeVar

TermSet = frozenset[str]
_K = TypeVar("_K", bound=Hashable)

DECAY_EVERY = 50_000  # observed articles between halvings of the term counts
REBALANCE_GROWTH = 2.0  # re-anchor when the observed total has grown by this factor
REBALANCE_MIN_SEEN = 200  # ...and not before this many articles were observed


class FollowIndex:
    """Follow ids by their required terms (a follow matches when all its terms occur)."""

    def __init__(self) -> None:
        """Start empty."""
        self._single: dict[str, set[int]] = {}  # one-term follows: term -> ids
        self._pairs: dict[str, dict[str, set[int]]] = {}  # anchor -> partner -> ids
        self._multi: dict[str, dict[TermSet, set[int]]] = {}  # anchor -> term set -> ids
        self._anchor_of: dict[TermSet, str] = {}  # every indexed term set of 2+ terms
        self._terms_of: dict[int, TermSet] = {}
        self._refs: Counter[str] = Counter()  # followed term -> follows using it
        self._df: Counter[str] = Counter()  # followed term -> articles seen containing it
        self._seen = 0  # articles observed since the last halving (scaled alike)
        self._seen_at_rebalance = 0

    def __len__(self) -> int:
        """How many follows are indexed."""
        return len(self._terms_of)

    def __contains__(self, follow_id: object) -> bool:
        """Whether a follow id is indexed."""
        return follow_id in self._terms_of

    def ids(self) -> set[int]:
        """Every indexed follow id."""
        return set(self._terms_of)

    def anchor(self, follow_id: int) -> str | None:
        """The term a multi-word follow is indexed under (None for one-word or unknown)."""
        key = self._terms_of.get(follow_id)
        return None if key is None else self._anchor_of.get(key)

    def add(self, follow_id: int, terms: Iterable[str]) -> bool:
        """Index a follow (replacing its old terms); False when it has no terms."""
        key = frozenset(t for t in terms if t)
        if self._terms_of.get(follow_id) == key:
            return True
        self.remove(follow_id)
        if not key:
            return False
        self._terms_of[follow_id] = key
        self._refs.update(key)
        if len(key) == 1:
            (term,) = key
            self._single.setdefault(term, set()).add(follow_id)
            return True
        anchor = self._anchor_of.get(key)
        if anchor is None:
            anchor = self._rarest(key)
            self._anchor_of[key] = anchor
        self._place(key, anchor, {follow_id})
        return True

    def remove(self, follow_id: int) -> bool:
        """Drop a follow; False when it was not indexed."""
        key = self._terms_of.pop(follow_id, None)
        if key is None:
            return False
        self._refs.subtract(key)
        for term in key:
            if self._refs[term] <= 0:
                del self._refs[term]
                self._df.pop(term, None)
        if len(key) == 1:
            (term,) = key
            _discard(self._single, term, follow_id)
            return True
        anchor = self._anchor_of[key]
        if self._unplace(key, anchor, follow_id):
            del self._anchor_of[key]
        return True

    def observe(self, article_terms: set[str] | frozenset[str]) -> None:
        """Count one new article's followed terms (how rare each term is steers anchoring)."""
        self._df.update(article_terms & self._refs.keys())
        self._seen += 1
        if self._seen >= DECAY_EVERY:
            for term, count in list(self._df.items()):
                if count > 1:
                    self._df[term] = count // 2
                else:
                    del self._df[term]
            self._seen //= 2
            self._seen_at_rebalance //= 2

    def needs_rebalance(self) -> bool:
        """Whether enough articles were observed since the last re-anchoring to redo it."""
        if self._seen < REBALANCE_MIN_SEEN:
            return False
        return self._seen >= REBALANCE_GROWTH * max(self._seen_at_rebalance, 1)

    def rebalance(self) -> int:
        """Re-anchor every multi-word follow on its rarest term now; returns how many moved."""
        moved = 0
        for key, old in list(self._anchor_of.items()):
            new = self._rarest(key)
            if new == old:
                continue
            ids = self._take(key, old)
            self._anchor_of[key] = new
            self._place(key, new, ids)
            moved += 1
        self._seen_at_rebalance = max(self._seen, 1)
        return moved

    def match(self, article_terms: set[str] | frozenset[str]) -> set[int]:
        """Ids of the follows whose terms all occur in `article_terms`."""
        single = self._single
        groups = [single[t] for t in article_terms & single.keys()]
        pairs = self._pairs
        for anchor in article_terms & pairs.keys():
            partners = pairs[anchor]
            # set.intersection(dict) walks the (usually small) dict in C; `&` on a
            # dict view would walk the whole article for every anchor instead.
            groups.extend(map(partners.__getitem__, article_terms.intersection(partners)))
        multi = self._multi
        for anchor in article_terms & multi.keys():
            groups.extend(ids for key, ids in multi[anchor].items() if key <= article_terms)
        return set().union(*groups)

    def _rarest(self, key: TermSet) -> str:
        """The term of `key` seen in the fewest articles; the longest on ties."""
        df = self._df
        return min(key, key=lambda t: (df[t], -len(t), t))

    def _place(self, key: TermSet, anchor: str, ids: set[int]) -> None:
        """Put follow ids of `key` under `anchor`."""
        if len(key) == 2:
            (partner,) = key - {anchor}
            self._pairs.setdefault(anchor, {}).setdefault(partner, set()).update(ids)
        else:
            self._multi.setdefault(anchor, {}).setdefault(key, set()).update(ids)

    def _take(self, key: TermSet, anchor: str) -> set[int]:
        """Remove and return every follow id of `key` from under `anchor`."""
        if len(key) == 2:
            (partner,) = key - {anchor}
            partners = self._pairs[anchor]
            ids = partners.pop(partner)
            if not partners:
                del self._pairs[anchor]
        else:
            keys = self._multi[anchor]
            ids = keys.pop(key)
            if not keys:
                del self._multi[anchor]
        return ids

    def _unplace(self, key: TermSet, anchor: str, follow_id: int) -> bool:
        """Remove one follow id of `key` from under `anchor`; True when `key` is now gone."""
        if len(key) == 2:
            (partner,) = key - {anchor}
            partners = self._pairs[anchor]
            if not _discard(partners, partner, follow_id):
                return False
            if not partners:
                del self._pairs[anchor]
            return True
        keys = self._multi[anchor]
        if not _discard(keys, key, follow_id):
            return False
        if not keys:
            del self._multi[anchor]
        return True


def _discard(buckets: dict[_K, set[int]], bucket: _K, follow_id: int) -> bool:
    """Remove an id from its bucket, dropping the bucket when empty; True when dropped."""
    ids = buckets[bucket]
    ids.discard(follow_id)
    if ids:
        return False
    del buckets[bucket]
    return True
