"""Related headlines for an article: its story's other reports, topped up from similar stories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.pipeline.text import headline_terms

FOLD_JACCARD = 0.8


@dataclass(frozen=True, slots=True)
class Headline:
    """A candidate headline."""

    id: str | int
    title: str
    source: str | None = None
    published: datetime | None = None
    story: int | None = None


def _terms(title: str) -> frozenset[str]:
    """Headline terms used to fold near-identical headlines."""
    return frozenset(headline_terms(title))


def _near_identical(a: frozenset[str], b: frozenset[str], threshold: float) -> bool:
    """Whether two headline term sets are near-identical (or both empty)."""
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= threshold


def _newest_key(h: Headline) -> float:
    """Sort key: newest first, undated last."""
    return -h.published.timestamp() if h.published else float("inf")


def related_headlines(
    article: Headline,
    story_articles: Sequence[Headline],
    similar: Sequence[Headline] = (),
    limit: int = 5,
    fold_threshold: float = FOLD_JACCARD,
) -> list[Headline]:
    """Rank up to `limit` related headlines: other sources first, newest first, folded.

    `similar` (articles of the most similar recent stories, best story first) only tops up
    the list when the article's own story has too few distinct headlines.
    """
    chosen: list[Headline] = []
    seen_terms: list[frozenset[str]] = [_terms(article.title)]
    seen_ids = {article.id}

    def take(candidates: Sequence[Headline]) -> None:
        for h in candidates:
            if len(chosen) >= limit:
                return
            if h.id in seen_ids or not h.title.strip():
                continue
            terms = _terms(h.title)
            if any(_near_identical(terms, t, fold_threshold) for t in seen_terms):
                continue
            chosen.append(h)
            seen_ids.add(h.id)
            seen_terms.append(terms)

    def rank(items: Sequence[Headline]) -> list[Headline]:
        return sorted(
            items,
            key=lambda h: (h.source is not None and h.source == article.source, _newest_key(h)),
        )

    take(rank(story_articles))
    if len(chosen) < limit and similar:
        take(similar)
    return chosen
