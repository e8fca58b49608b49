"""A small learned sentence scorer: lexical sentence features and a linear model over them.

Each sentence of an article is described by a few features (position, paragraph start,
centrality, overlap with the headline, length, likeness to the opening sentence). A
conditional logit (a softmax over one article's sentences) is fitted to how much of each
sentence the human summaries keep; its weights are produced by `tools/train_sentence_scorer.py`
from the dev data only and live in `bot/pipeline/sentence_weights.py`. Pure Python.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import mul, sub

from bot.pipeline.sentences import Analysis

FEATURES: tuple[str, ...] = (
    "first",  # the opening sentence
    "inverse_position",  # 1 / (1 + index)
    "relative_position",  # index / (sentences - 1)
    "paragraph_start",  # begins a line of the text
    "centrality",  # cosine to the article's recurring-term centroid
    "headline_share",  # share of the headline's terms in the sentence
    "headline_cosine",  # cosine of the sentence to the headline
    "best_headline",  # the sentence (or one of those) sharing most of the headline
    "log_words",  # log(1 + words)
    "log_words_squared",  # lets the model prefer a length, not just longer or shorter
    "short",  # fewer than 6 words
    "like_first",  # cosine to the opening sentence (0 for the opening sentence itself)
    "quoted",  # holds a quotation mark
)

Vector = Counter[str]


def _norm(vec: Vector) -> float:
    """Euclidean norm of a sparse count vector."""
    return math.sqrt(sum(map(mul, vec.values(), vec.values())))


def _cosine(
    a: Vector,
    b: Mapping[str, float],
    norm_a: float,
    norm_b: float,
    shared: set[str] | None = None,
) -> float:
    """Cosine of two sparse vectors with precomputed norms (0 when either is empty);
    `shared`, when the caller has it already, is `a.keys() & b.keys()`."""
    if not norm_a or not norm_b:
        return 0.0
    if shared is None:
        shared = a.keys() & b.keys()
    dot: float = sum(map(mul, map(a.__getitem__, shared), map(b.__getitem__, shared)))
    return dot / (norm_a * norm_b)


def paragraph_starts(text: str, sentences: Sequence[str]) -> list[bool]:
    """Whether each sentence (verbatim, in order) is the first of text or follows a line break."""
    out: list[bool] = []
    end = 0
    for sentence in sentences:
        at = text.find(sentence, end)
        if at < 0:  # not verbatim (never for `analyse` output): count it as inline
            out.append(False)
            continue
        out.append(end == 0 or "\n" in text[end:at])
        end = at + len(sentence)
    return out


def term_vectors(analysis: Analysis) -> tuple[list[Vector], list[float]]:
    """Each sentence's term counts and their Euclidean norms."""
    vectors = [Counter(t) for t in analysis.terms]
    return vectors, [_norm(v) for v in vectors]


_QUOTES = re.compile('["«»“”]')


def sentence_features(
    analysis: Analysis,
    title_terms: Sequence[str],
    starts: Sequence[bool],
    vectors: tuple[list[Vector], list[float]] | None = None,
) -> list[list[float]]:
    """Feature rows (in FEATURES order) of an analysed article's sentences.

    `vectors` passes in `term_vectors(analysis)` when the caller already has them.
    """
    vectors_, norms = vectors or term_vectors(analysis)
    n = len(vectors_)
    sentence_freq = Counter(chain.from_iterable(vectors_))
    centroid = {t: df * math.log(1.0 + n / df) for t, df in sentence_freq.items() if df > 1}
    centroid_norm = math.sqrt(sum(v * v for v in centroid.values()))
    headline = Counter(title_terms)
    headline_norm = _norm(headline)
    # Each sentence's terms shared with the headline: its headline share and cosine.
    in_headline = [v.keys() & headline.keys() for v in vectors_]
    shares = [len(s) / len(headline) if headline else 0.0 for s in in_headline]
    top_share = max(shares, default=0.0)
    rows: list[list[float]] = []
    first, first_norm = vectors_[0] if vectors_ else Counter(), norms[0] if norms else 0.0
    for i, vec in enumerate(vectors_):
        words = analysis.word_counts[i]
        log_words = math.log1p(words)
        sentence = analysis.sentences[i]
        rows.append(
            [
                1.0 if i == 0 else 0.0,
                1.0 / (1.0 + i),
                i / (n - 1) if n > 1 else 0.0,
                1.0 if starts[i] else 0.0,
                _cosine(vec, centroid, norms[i], centroid_norm),
                shares[i],
                _cosine(vec, headline, norms[i], headline_norm, in_headline[i]),
                1.0 if top_share > 0 and shares[i] == top_share else 0.0,
                log_words,
                log_words * log_words,
                1.0 if words < 6 else 0.0,
                _cosine(vec, first, norms[i], first_norm) if i else 0.0,
                1.0 if _QUOTES.search(sentence) else 0.0,
            ]
        )
    return rows


def linear_scores(rows: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """Linear score of each feature row."""
    return [sum(map(mul, row, weights)) for row in rows]


Group = tuple[Sequence[Sequence[float]], Sequence[float]]


def _log_softmax(scores: Sequence[float]) -> list[float]:
    """Log of the softmax of scores, computed stably."""
    top = max(scores)
    log_z = top + math.log(sum(math.exp(s - top) for s in scores))
    return [s - log_z for s in scores]


def _objective(groups: Sequence[Group], weights: Sequence[float], l2: float) -> float:
    """Penalised log-likelihood of the target shares under the per-article softmax."""
    total = -0.5 * l2 * sum(w * w for w in weights)
    for rows, shares in groups:
        logp = _log_softmax(linear_scores(rows, weights))
        total += sum(map(mul, shares, logp))
    return total


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve a small symmetric positive-definite system by Gaussian elimination."""
    n = len(vector)
    m = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col and m[r][col]:
                f = m[r][col] / m[col][col]
                m[r] = [a - f * b for a, b in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def target_shares(targets: Sequence[float]) -> list[float] | None:
    """Targets scaled to sum to 1 (None when all are 0: the article teaches nothing)."""
    total = sum(targets)
    return [t / total for t in targets] if total > 0 else None


@dataclass(frozen=True, slots=True)
class _Columns:
    """One article's features by column, with every product of two columns, for fitting."""

    rows: Sequence[Sequence[float]]
    shares: list[float]
    columns: list[list[float]]
    products: list[list[float]]  # column a times column b, for a <= b (row-major)


def _columns(rows: Sequence[Sequence[float]], shares: list[float]) -> _Columns:
    """Column form of one article's feature rows."""
    columns = [list(col) for col in zip(*rows, strict=True)]
    d = len(columns)
    products = [list(map(mul, columns[a], columns[b])) for a in range(d) for b in range(a, d)]
    return _Columns(rows, shares, columns, products)


def _newton_terms(
    data: Sequence[_Columns], weights: Sequence[float], l2: float
) -> tuple[list[float], list[list[float]]]:
    """Gradient and (negated) Hessian of the penalised log-likelihood at weights."""
    d = len(weights)
    gradient = [-l2 * w for w in weights]
    upper = [0.0] * (d * (d + 1) // 2)
    for art in data:
        probs = [math.exp(v) for v in _log_softmax(linear_scores(art.rows, weights))]
        residual = list(map(sub, art.shares, probs))
        mean = [sum(map(mul, probs, col)) for col in art.columns]
        k = 0
        for a in range(d):
            gradient[a] += sum(map(mul, residual, art.columns[a]))
            for b in range(a, d):
                upper[k] += sum(map(mul, probs, art.products[k])) - mean[a] * mean[b]
                k += 1
    hessian = [[0.0] * d for _ in range(d)]
    k = 0
    for a in range(d):
        for b in range(a, d):
            hessian[a][b] = hessian[b][a] = upper[k] + (l2 if a == b else 0.0)
            k += 1
    return gradient, hessian


def fit_conditional_logit(
    groups: Sequence[tuple[Sequence[Sequence[float]], Sequence[float]]],
    l2: float = 1.0,
    iterations: int = 25,
) -> list[float]:
    """Fit softmax-over-sentences weights to each article's target shares (Newton, L2).

    `groups` holds (feature rows, non-negative targets) per article; an article's targets
    become shares of 1, so each article weighs the same whatever its length.
    """
    data: list[_Columns] = []
    for rows, targets in groups:
        shares = target_shares(targets)
        if shares is not None and rows:
            data.append(_columns(rows, shares))
    plain: list[Group] = [(c.rows, c.shares) for c in data]
    weights = [0.0] * (len(data[0].columns) if data else len(FEATURES))
    for _ in range(iterations):
        gradient, hessian = _newton_terms(data, weights, l2)
        step = _solve(hessian, gradient)
        base = _objective(plain, weights, l2)
        scale = 1.0
        while True:  # backtrack until the objective does not fall
            trial = [w + scale * s for w, s in zip(weights, step, strict=True)]
            if _objective(plain, trial, l2) >= base or scale < 1e-6:
                break
            scale /= 2
        weights = trial
        if max(abs(scale * s) for s in step) < 1e-5:
            break
    return weights
