"""Extractive summaries: whole sentences, verbatim, in their original order.

Sentences are ranked by a small learned scorer (`bot.pipeline.sentence_scorer`: position,
paragraph start, centrality, headline overlap, length, likeness to the opening sentence;
weights fitted on the dev data by `tools/train_sentence_scorer.py`); near-repeats of an
already chosen sentence (term cosine above `REDUNDANCY`, chosen on the dev data by the
same script) are skipped. Budgets are a sentence count plus optional word or
character limits; a sentence is never cut, and a summary is never empty when the text has
a sentence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.pipeline.sentence_scorer import (
    linear_scores,
    paragraph_starts,
    sentence_features,
    term_vectors,
)
from bot.pipeline.sentence_weights import REDUNDANCY, WEIGHTS
from bot.pipeline.sentences import analyse
from bot.pipeline.text import headline_terms


def _cosine(a: Counter[str], b: Counter[str], norm_a: float, norm_b: float) -> float:
    """Cosine similarity of two sparse term-count vectors with precomputed norms."""
    if not norm_a or not norm_b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b[t] for t, v in a.items() if t in b) / (norm_a * norm_b)


def score_sentences(
    title: str,
    text: str,
    weights: Sequence[float] | None = None,
    vectors: tuple[list[Counter[str]], list[float]] | None = None,
) -> tuple[list[str], list[float]]:
    """The sentences of text and their learned scores (higher: more summary-worthy)."""
    analysis = analyse(text or "")
    rows = sentence_features(
        analysis,
        headline_terms(title) if title else (),
        paragraph_starts(text or "", analysis.sentences),
        vectors,
    )
    return list(analysis.sentences), linear_scores(rows, WEIGHTS if weights is None else weights)


def _fits(used: int, extra: int, limit: int | None) -> bool:
    """Whether adding `extra` to `used` stays within an optional limit."""
    return limit is None or used + extra <= limit


@dataclass(frozen=True, slots=True)
class Ranked:
    """An article's sentences with their scores and term vectors, ready for selection."""

    sentences: tuple[str, ...]
    word_counts: tuple[int, ...]
    vectors: list[Counter[str]]
    norms: list[float]
    scores: list[float]


def rank(title: str, text: str, weights: Sequence[float] | None = None) -> Ranked:
    """Split, score and vectorise text once (selection under any budget reuses it)."""
    analysis = analyse(text or "")
    vectors, norms = term_vectors(analysis)
    _, scores = score_sentences(title, text, weights, (vectors, norms))
    return Ranked(analysis.sentences, analysis.word_counts, vectors, norms, scores)


def select(
    ranked: Ranked,
    max_sentences: int = 3,
    max_words: int | None = None,
    max_chars: int | None = None,
    target_words: int | None = None,
    redundancy: float | None = None,
) -> list[str]:
    """The best-scored non-repeating sentences within the budgets, in text order."""
    sentences, scores = ranked.sentences, ranked.scores
    vectors, norms = ranked.vectors, ranked.norms
    if not sentences:
        return []
    repeat_above = REDUNDANCY if redundancy is None else redundancy
    order = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    chosen: list[int] = []
    words = chars = 0
    for i in order:
        if len(chosen) >= max(1, max_sentences):
            break
        if any(_cosine(vectors[i], vectors[j], norms[i], norms[j]) > repeat_above for j in chosen):
            continue
        n_words = ranked.word_counts[i]
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


def summarise(
    title: str,
    text: str,
    lang: str | None = None,
    max_sentences: int = 3,
    max_words: int | None = None,
    max_chars: int | None = None,
    target_words: int | None = None,
    weights: Sequence[float] | None = None,
    redundancy: float | None = None,
) -> list[str]:
    """Return up to `max_sentences` verbatim sentences of text within the budgets.

    `max_words`/`max_chars` are hard limits; `target_words` is a length to approach by whole
    sentences: a sentence that overshoots it is kept when that lands closer to the target.
    `weights` and `redundancy` (the term cosine above which a sentence repeats a chosen
    one) replace the shipped values (cross-validation chooses its own).
    """
    del lang  # sentence splitting and matching terms are script-aware
    return select(
        rank(title, text, weights), max_sentences, max_words, max_chars, target_words, redundancy
    )


def _fallback(sentences: Sequence[str], scores: list[float], max_chars: int | None) -> int:
    """Pick one sentence when nothing fits: the best one within the char budget, else the first."""
    if max_chars is not None:
        fitting = [i for i, s in enumerate(sentences) if len(s) <= max_chars]
        if fitting:
            return max(fitting, key=lambda i: (scores[i], -i))
    return 0
