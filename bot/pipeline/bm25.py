"""BM25 with a bounded recency boost, and the bounds that let search stop early (pure).

A query is a list of groups, each a tuple of alternative matching terms (one word and its
readings); a document's term frequency for a group is the sum over its terms. The score of
a document is

    relevance * boost,   relevance = sum over groups of idf * tf * (K1 + 1) / (tf + norm),
    norm = K1 * (1 - B + B * length / avg_length),   boost = 1 + 0.5 ** (age / half_life)

with Lucene's idf `log(1 + (N - df + 0.5) / (df + 0.5))`. The boost lies in [1, 2]: it
breaks near-ties in favour of fresh news and can at most double a score, so a group can
add at most `idf * (K1 + 1) * MAX_BOOST` to any document. That bound is what lets search
skip documents (MaxScore): a document that holds none of the rarer groups already scored
cannot beat the current tenth-best score once the bounds of the groups it may hold sum
below it. Documents holding every group rank before the others (the order users expect
from a short query); within each tier the score decides, then the newer, then the id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

K1 = 1.2
B = 0.75
BOOST = 0.25  # what a brand-new article's score gains, fading by half every half-life
MAX_BOOST = 1.0 + BOOST

Group = tuple[str, ...]
Key = tuple[bool, float, float, int]  # (holds every group, score, published epoch s, id)


def idf(docs: int, df: int) -> float:
    """Lucene's BM25 idf of a group found in `df` of `docs` documents (always > 0)."""
    docs = max(docs, df, 1)
    return math.log(1.0 + (docs - df + 0.5) / (df + 0.5))


def group_bound(weight: float) -> float:
    """The most a group of idf `weight` can add to any document's boosted score."""
    return weight * (K1 + 1.0) * MAX_BOOST


def decay(age_hours: float, half_life_hours: float) -> float:
    """0.5 ** (age / half-life), 1 for future or brand-new articles, 0 without a half-life."""
    if half_life_hours <= 0:
        return 0.0
    value: float = 0.5 ** (max(0.0, age_hours) / half_life_hours)
    return value


def boost(published_s: float | None, now_s: float, half_life_hours: float) -> float:
    """1 + BOOST * 0.5 ** (age / half-life): MAX_BOOST when brand-new, towards 1 when old."""
    if published_s is None:
        return 1.0
    return 1.0 + BOOST * decay((now_s - published_s) / 3600.0, half_life_hours)


def term_count(padded: str, term: str) -> int:
    """Whole-word occurrences of `term` in a text given as `padded_text`."""
    return padded.count(" " + term + " ")


def padded_text(text: str) -> str:
    """The text with every space doubled and a space at each end, for whole-word counts."""
    return " " + text.replace(" ", "  ") + " "


def group_counts(text: str, groups: Sequence[Group]) -> list[int]:
    """Per group, how often any of its terms occurs as a whole word of a spaced text."""
    padded = ""
    counts: list[int] = []
    for group in groups:
        total = 0
        for term in group:
            if term in text:
                if not padded:
                    padded = padded_text(text)
                total += term_count(padded, term)
        counts.append(total)
    return counts


def doc_length(text: str) -> int:
    """Number of terms in a space-separated matching-form text."""
    return text.count(" ") + 1 if text else 0


def relevance(counts: Sequence[int], length: int, weights: Sequence[float], avg: float) -> float:
    """BM25 relevance of one document from its per-group counts and its length."""
    norm = K1 * (1.0 - B + B * length / max(avg, 1.0))
    return sum(
        w * tf * (K1 + 1.0) / (tf + norm) for w, tf in zip(weights, counts, strict=True) if tf
    )


def score_rows(
    rows: Iterable[tuple[int, float | None, str]],
    groups: Sequence[Group],
    weights: Sequence[float],
    avg: float,
    now_s: float,
    half_life_hours: float,
) -> list[Key]:
    """Ranking keys of (id, published epoch s, search_text) rows; rows matching nothing drop."""
    keys: list[Key] = []
    for article_id, published, text in rows:
        counts = group_counts(text, groups)
        if not any(counts):
            continue
        score = relevance(counts, doc_length(text), weights, avg)
        score *= boost(published, now_s, half_life_hours)
        keys.append((all(counts), score, published or 0.0, article_id))
    return keys


def ceiling_order(
    postings: Sequence[Sequence[int]], bounds: Sequence[float]
) -> list[tuple[bool, float, int]]:
    """Candidates of the scanned groups as (holds all of them, sum of their bounds, id), best first.

    `postings[i]` lists the ids holding group i, `bounds[i]` its bound; the sum over the
    groups a document is known to hold is its ceiling before the unscanned groups.
    """
    ceiling: dict[int, float] = {}
    held: dict[int, int] = {}
    for ids, bound in zip(postings, bounds, strict=True):
        for article_id in ids:
            ceiling[article_id] = ceiling.get(article_id, 0.0) + bound
            held[article_id] = held.get(article_id, 0) + 1
    wanted = len(postings)
    order = [(held[i] == wanted, value, i) for i, value in ceiling.items()]
    order.sort(reverse=True)
    return order


def cannot_beat(ceiling: tuple[bool, float], kth: Key | None) -> bool:
    """Whether a document whose best possible (tier, score) is `ceiling` cannot enter the top."""
    return kth is not None and ceiling <= (kth[0], kth[1])


def density_estimate(found: int, newest: int, oldest: int, top: int) -> int:
    """Documents holding a group, from `found` of them among ids oldest..newest of 1..top."""
    span = max(newest - oldest + 1, 1)
    return max(found, round(found * max(top, 1) / span))
