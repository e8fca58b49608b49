"""Extractive summaries: whole sentences, verbatim, in their original order.

Sentences are scored by position, centrality (cosine to the article's term centroid) and
headline overlap; near-repeats of an already chosen sentence are skipped. Budgets are a
sentence count plus optional word or character limits; a sentence is never cut, and a
summary is never empty when the text has a sentence.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import mul

from bot.pipeline.sentences import analyse
from bot.pipeline.text import headline_terms, matching_terms, tokenize


@dataclass(frozen=True, slots=True)
class SummaryWeights:
    """Weights of the sentence score components."""

    position: float = 1.0
    centrality: float = 1.0
    headline: float = 1.0
    length: float = 0.25
    position_decay: float = 0.2
    redundancy: float = 0.6
    min_words: int = 4


DEFAULT_WEIGHTS = SummaryWeights()
# With a word target the length is fixed by the budget, so sentence length earns nothing.
BUDGET_WEIGHTS = SummaryWeights(centrality=0.5, length=0.0, redundancy=0.45)


def _cosine(a: Counter[str], b: Counter[str], norm_a: float, norm_b: float) -> float:
    """Cosine similarity of two sparse term-count vectors with precomputed norms."""
    if not norm_a or not norm_b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b[t] for t, v in a.items() if t in b) / (norm_a * norm_b)


def score_sentences(
    title: str, sentences: list[str], weights: SummaryWeights = DEFAULT_WEIGHTS
) -> tuple[list[float], list[Counter[str]]]:
    """Score each sentence; also return the sentences' term vectors."""
    terms = [matching_terms(s) for s in sentences]
    word_counts = [len(tokenize(s)) for s in sentences]
    title_terms = frozenset(matching_terms(title)) if title else frozenset()
    scores, vectors, _ = _score(title_terms, terms, word_counts, weights)
    return scores, vectors


def _score(
    title_terms: frozenset[str],
    terms: Sequence[Sequence[str]],
    word_counts: Sequence[int],
    weights: SummaryWeights,
) -> tuple[list[float], list[Counter[str]], list[float]]:
    """Scores, term vectors and vector norms of sentences given their terms and word counts."""
    vectors = [Counter(t) for t in terms]
    norms = [math.sqrt(sum(map(mul, vec.values(), vec.values()))) for vec in vectors]
    sentence_freq = Counter(chain.from_iterable(vectors))  # a sentence's distinct terms
    n = len(vectors)
    # Centroid: terms that recur across sentences, damped for the very common ones.
    centroid = {t: df * math.log(1.0 + n / df) for t, df in sentence_freq.items() if df > 1}
    centroid_norm = math.sqrt(sum([v * v for v in centroid.values()]))
    centroid_terms = centroid.keys()
    mean_words = (sum(word_counts) / n) if n else 1.0
    n_title = len(title_terms)
    scores: list[float] = []
    for i, vec in enumerate(vectors):
        position = 1.0 / (1.0 + i) ** weights.position_decay
        norm = norms[i]
        if norm and centroid_norm:
            shared = vec.keys() & centroid_terms
            dot = sum(map(mul, map(vec.__getitem__, shared), map(centroid.__getitem__, shared)))
            centrality = dot / (norm * centroid_norm)
        else:
            centrality = 0.0
        headline = len(title_terms & vec.keys()) / n_title if n_title else 0.0
        length = min(word_counts[i] / (mean_words or 1.0), 2.0) / 2.0
        score = (
            weights.position * position
            + weights.centrality * centrality
            + weights.headline * headline
            + weights.length * length
        )
        if word_counts[i] < weights.min_words:
            score *= 0.3
        scores.append(score)
    return scores, vectors, norms


def _fits(used: int, extra: int, limit: int | None) -> bool:
    """Whether adding `extra` to `used` stays within an optional limit."""
    return limit is None or used + extra <= limit


def summarise(
    title: str,
    text: str,
    lang: str | None = None,
    max_sentences: int = 3,
    max_words: int | None = None,
    max_chars: int | None = None,
    target_words: int | None = None,
    weights: SummaryWeights | None = None,
) -> list[str]:
    """Return up to `max_sentences` verbatim sentences of text within the budgets.

    `max_words`/`max_chars` are hard limits; `target_words` is a length to approach by whole
    sentences: a sentence that overshoots it is kept when that lands closer to the target.
    """
    del lang  # sentence splitting and matching terms are script-aware
    analysis = analyse(text or "")
    sentences = analysis.sentences
    if not sentences:
        return []
    if weights is None:
        weights = BUDGET_WEIGHTS if target_words is not None else DEFAULT_WEIGHTS
    # Without a headline, a short first line (a feed or page title) stands in for it.
    pseudo = sentences[0] if len(sentences) > 1 and target_words is None else ""
    if title:
        title_terms = frozenset(headline_terms(title))
    else:
        title_terms = frozenset(analysis.terms[0]) if pseudo else frozenset()
    scores, vectors, norms = _score(title_terms, analysis.terms, analysis.word_counts, weights)
    order = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    chosen: list[int] = []
    words = chars = 0
    for i in order:
        if len(chosen) >= max(1, max_sentences):
            break
        if any(
            _cosine(vectors[i], vectors[j], norms[i], norms[j]) > weights.redundancy for j in chosen
        ):
            continue
        n_words = analysis.word_counts[i]
        n_chars = len(sentences[i]) + (1 if chosen else 0)
        if not (_fits(words, n_words, max_words) and _fits(chars, n_chars, max_chars)):
            continue
        if target_words is not None and chosen:
            if words >= target_words:
                break
            if words + n_words - target_words > target_words - words:
                continue
        chosen.append(i)
        words += n_words
        chars += n_chars
    if not chosen:
        chosen = [_fallback(sentences, scores, max_chars)]
    return [sentences[i] for i in sorted(chosen)]


def _fallback(sentences: Sequence[str], scores: list[float], max_chars: int | None) -> int:
    """Pick one sentence when nothing fits: the best one within the char budget, else the first."""
    if max_chars is not None:
        fitting = [i for i, s in enumerate(sentences) if len(s) <= max_chars]
        if fitting:
            return max(fitting, key=lambda i: (scores[i], -i))
    return 0
