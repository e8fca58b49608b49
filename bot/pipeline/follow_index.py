"""Inverted index over keyword-follow terms: which follows does one article match?

Pure and in memory. One-word follows sit in a term -> ids map. Follows of several words
with the same term set share one entry, indexed under a single anchor term (the one with
the fewest entries when it was added, the longest on ties). Matching an article
intersects its terms with the index keys (one C-level pass) and subset-checks only the
term sets anchored on its terms: the cost follows the article's length and the follows
that share its terms, not the total number of follows.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

TermSet = frozenset[str]
_K = TypeVar("_K", bound=Hashable)


class FollowIndex:
    """Follow ids by their required terms (a follow matches when all its terms occur)."""

    def __init__(self) -> None:
        """Start empty."""
        self._single: dict[str, set[int]] = {}  # one-term follows: term -> ids
        self._multi: dict[str, dict[TermSet, set[int]]] = {}  # anchor -> term set -> ids
        self._anchor_of: dict[TermSet, str] = {}
        self._terms_of: dict[int, TermSet] = {}

    def __len__(self) -> int:
        """How many follows are indexed."""
        return len(self._terms_of)

    def __contains__(self, follow_id: object) -> bool:
        """Whether a follow id is indexed."""
        return follow_id in self._terms_of

    def ids(self) -> set[int]:
        """Every indexed follow id."""
        return set(self._terms_of)

    def add(self, follow_id: int, terms: Iterable[str]) -> bool:
        """Index a follow (replacing its old terms); False when it has no terms."""
        key = frozenset(t for t in terms if t)
        if self._terms_of.get(follow_id) == key:
            return True
        self.remove(follow_id)
        if not key:
            return False
        self._terms_of[follow_id] = key
        if len(key) == 1:
            (term,) = key
            self._single.setdefault(term, set()).add(follow_id)
            return True
        anchor = self._anchor_of.get(key)
        if anchor is None:
            anchor = min(key, key=lambda t: (len(self._multi.get(t, ())), -len(t), t))
            self._anchor_of[key] = anchor
        self._multi.setdefault(anchor, {}).setdefault(key, set()).add(follow_id)
        return True

    def remove(self, follow_id: int) -> bool:
        """Drop a follow; False when it was not indexed."""
        key = self._terms_of.pop(follow_id, None)
        if key is None:
            return False
        if len(key) == 1:
            (term,) = key
            _discard(self._single, term, follow_id)
            return True
        anchor = self._anchor_of[key]
        keys = self._multi[anchor]
        if _discard(keys, key, follow_id):
            del self._anchor_of[key]
            if not keys:
                del self._multi[anchor]
        return True

    def match(self, article_terms: set[str] | frozenset[str]) -> set[int]:
        """Ids of the follows whose terms all occur in `article_terms`."""
        single = self._single
        groups = [single[t] for t in article_terms & single.keys()]
        multi = self._multi
        for anchor in article_terms & multi.keys():
            groups.extend(ids for key, ids in multi[anchor].items() if key <= article_terms)
        return set().union(*groups)


def _discard(buckets: dict[_K, set[int]], bucket: _K, follow_id: int) -> bool:
    """Remove an id from its bucket, dropping the bucket when empty; True when dropped."""
    ids = buckets[bucket]
    ids.discard(follow_id)
    if ids:
        return False
    del buckets[bucket]
    return True
