"""Cross-validated quality evaluation: folds, metrics, baselines (shared by tests and benchmarks).

Every tuned constant is chosen on k-1 folds and scored on the held fold; results are
per fold plus mean and standard deviation. Metric code agrees with `../shared/eval`
(see tests/test_quality_floors.py for the check).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.pipeline.text import normalize_arabic

if TYPE_CHECKING:
    from bot.pipeline.summarise import Ranked

T = TypeVar("T")
K_FOLDS = 5
_WORD = re.compile(r"[^\W_]+")


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def fold_of(key: str, k: int = K_FOLDS) -> int:
    """Fold of a key: a stable hash, so folds never depend on row order or on Python's seed."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % k


def split_folds(items: Sequence[T], key: Callable[[T], str], k: int = K_FOLDS) -> list[list[T]]:
    """Items grouped into k folds by their key's fold (items sharing a key share a fold)."""
    folds: list[list[T]] = [[] for _ in range(k)]
    for item in items:
        folds[fold_of(key(item), k)].append(item)
    return folds


@dataclass(frozen=True)
class FoldScores:
    """One measure's score on each held fold."""

    name: str
    folds: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean over folds."""
        return statistics.fmean(self.folds)

    @property
    def sd(self) -> float:
        """Sample standard deviation over folds."""
        return statistics.stdev(self.folds) if len(self.folds) > 1 else 0.0

    def line(self) -> str:
        """One printable line: per-fold scores, mean and sd."""
        per = " ".join(f"{v:.3f}" for v in self.folds)
        return f"{self.name:<34} {self.mean:.3f} ± {self.sd:.3f}   folds {per}"


# ------------------------------------------------------------------ ROUGE (Arabic-aware)
def rouge_tokens(text: str) -> list[str]:
    """ROUGE tokens: NFKC, Arabic normalisation, lower case, runs of letters and digits."""
    return _WORD.findall(normalize_arabic(unicodedata.normalize("NFKC", text)).lower())


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """Counts of the n-grams of a token list."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def rouge_f(cand: Sequence[str], ref: Sequence[str], n: int) -> float:
    """ROUGE-n F1 of a candidate against one reference (token lists)."""
    return _f1(_ngrams(cand, n), _ngrams(ref, n))


def _f1(c: Counter[tuple[str, ...]], r: Counter[tuple[str, ...]]) -> float:
    """F1 of clipped n-gram overlap between candidate and reference n-gram counts."""
    overlap = sum((c & r).values())
    if not overlap:
        return 0.0
    p, rec = overlap / sum(c.values()), overlap / sum(r.values())
    return 2 * p * rec / (p + rec)


def rouge_multi(cand: Sequence[str], refs: Sequence[Sequence[str]]) -> tuple[float, float]:
    """ROUGE-1 and ROUGE-2 F1, each averaged over the references."""
    r1 = statistics.fmean(rouge_f(cand, r, 1) for r in refs)
    r2 = statistics.fmean(rouge_f(cand, r, 2) for r in refs)
    return r1, r2


def unigram_precision(cand: Sequence[str], ref: Sequence[str]) -> float:
    """Share of the candidate's unigrams found in the reference (clipped counts)."""
    if not cand:
        return 0.0
    return sum((Counter(cand) & Counter(ref)).values()) / len(cand)


# ------------------------------------------------------------------ clustering metrics
def _pairs(n: int) -> int:
    """Number of unordered pairs among n items."""
    return n * (n - 1) // 2


def cluster_scores(
    gold: dict[str, str], pred: dict[str, int], only: set[str] | None = None
) -> tuple[float, float]:
    """Pairwise F1 and B-cubed F1 of a predicted clustering, over `only` (default: all).

    Cluster sizes count every article, so a fold's score charges it for merges with
    articles of other folds: B-cubed over a fold is the mean over that fold's articles,
    and pairwise precision counts every predicted pair that touches the fold.
    """
    scored = [i for i in gold if only is None or i in only]
    g_sizes = Counter(gold.values())
    p_sizes = Counter(pred[i] for i in gold)
    joint = Counter((gold[i], pred[i]) for i in gold)
    b_p = sum(joint[gold[i], pred[i]] / p_sizes[pred[i]] for i in scored) / len(scored)
    b_r = sum(joint[gold[i], pred[i]] / g_sizes[gold[i]] for i in scored) / len(scored)
    members: dict[int, list[str]] = {}
    for i in gold:
        members.setdefault(pred[i], []).append(i)
    tp = pp = 0
    for ids in members.values():
        inside = sum(1 for i in ids if only is None or i in only)
        pp += _pairs(len(ids)) - _pairs(len(ids) - inside)  # pairs with a scored member
        tp += sum(
            _pairs(c) for c in Counter(gold[i] for i in ids if only is None or i in only).values()
        )
    events = None if only is None else _events(gold, only)
    gp = sum(_pairs(c) for g, c in g_sizes.items() if events is None or g in events)
    prec = tp / pp if pp else 0.0
    rec = tp / gp if gp else 0.0
    pair_f1 = 2 * prec * rec / (prec + rec) if tp else 0.0
    return pair_f1, 2 * b_p * b_r / (b_p + b_r)


def _events(gold: dict[str, str], only: set[str]) -> set[str]:
    """Gold events of the scored articles."""
    return {gold[i] for i in only if i in gold}


def _unit_top(vec: dict[str, float], keep: int) -> dict[str, float]:
    """The `keep` heaviest terms of a vector, scaled to unit length."""
    top = dict(sorted(vec.items(), key=lambda kv: -kv[1])[:keep])
    norm = math.sqrt(sum(v * v for v in top.values())) or 1.0
    return {t: v / norm for t, v in top.items()}


def term_counts(rows: Iterable[dict[str, Any]]) -> list[tuple[str, Counter[str]]]:
    """(id, counts of title and text ROUGE tokens) per article, for the baseline."""
    return [
        (row["id"], Counter(rouge_tokens((row.get("title") or "") + " " + (row.get("text") or ""))))
        for row in rows
    ]


def tfidf_online_baseline(
    docs: Sequence[tuple[str, Counter[str]]], threshold: float
) -> dict[str, int]:
    """Plain online TF-IDF clustering: join the most similar story centroid above threshold.

    Title and text words (ROUGE tokens), streaming IDF, each article's 50 heaviest terms,
    one centroid per story, no time handling: the baseline the issue compares against.
    """
    df: Counter[str] = Counter()
    centroids: list[dict[str, float]] = []
    sizes: list[int] = []
    postings: dict[str, set[int]] = {}
    out: dict[str, int] = {}
    for n_docs, (doc_id, tf) in enumerate(docs, start=1):
        df.update(tf.keys())
        vec = _unit_top(
            {t: (1 + math.log(c)) * math.log((1 + n_docs) / (1 + df[t])) for t, c in tf.items()},
            50,
        )
        candidates = set().union(*(postings.get(t, set()) for t in vec))
        best, best_sim = -1, threshold
        for key in sorted(candidates):
            cen = centroids[key]
            sim = sum(v * cen.get(t, 0.0) for t, v in vec.items())
            if sim >= best_sim:
                best, best_sim = key, sim
        if best < 0:
            centroids.append(vec)
            sizes.append(1)
            best = len(centroids) - 1
        else:
            merged = {t: v * sizes[best] for t, v in centroids[best].items()}
            for t, v in vec.items():
                merged[t] = merged.get(t, 0.0) + v
            centroids[best] = _unit_top(merged, 200)
            sizes[best] += 1
        for t in centroids[best]:
            postings.setdefault(t, set()).add(best)
        out[doc_id] = best
    return out


# ------------------------------------------------------------------ summaries
@dataclass(frozen=True)
class SummaryExample:
    """One article prepared for training and scoring the sentence scorer."""

    id: str
    title: str
    text: str
    rows: list[list[float]]  # sentence features (FEATURES order)
    targets: list[float]  # how much of each sentence the human summaries keep
    tokens: list[list[str]]  # ROUGE tokens per sentence
    refs: list[list[str]]  # ROUGE tokens per human summary
    budget: int  # mean human summary length in tokens


def summary_examples(rows: Iterable[dict[str, Any]], abstractive: bool) -> list[SummaryExample]:
    """Features and targets of articles with `summaries`.

    Targets: for abstractive references (one editor's sentence), each sentence's ROUGE-1 +
    ROUGE-2 F1 against it; for extractive ones, the mean share of the sentence's words
    that each human summary keeps (about the share of annotators who chose it).
    """
    from bot.pipeline.sentence_scorer import paragraph_starts, sentence_features
    from bot.pipeline.sentences import analyse
    from bot.pipeline.text import headline_terms

    out: list[SummaryExample] = []
    for row in rows:
        text, title = row.get("text") or "", row.get("title") or ""
        analysis = analyse(text)
        refs = [rouge_tokens(s["text"]) for s in row["summaries"]]
        tokens = [rouge_tokens(s) for s in analysis.sentences]
        if abstractive:
            targets = [rouge_f(t, refs[0], 1) + rouge_f(t, refs[0], 2) for t in tokens]
        else:
            targets = [statistics.fmean(unigram_precision(t, r) for r in refs) for t in tokens]
        feats = sentence_features(
            analysis,
            headline_terms(title) if title else (),
            paragraph_starts(text, analysis.sentences),
        )
        budget = round(statistics.fmean(len(r) for r in refs))
        out.append(SummaryExample(row["id"], title, text, feats, targets, tokens, refs, budget))
    return out


def fit_weights(examples: Iterable[SummaryExample]) -> list[float]:
    """Sentence-scorer weights fitted on the given (training) examples."""
    from bot.pipeline.sentence_scorer import fit_conditional_logit

    return fit_conditional_logit([(e.rows, e.targets) for e in examples])


# Term cosines tried as the summariser's repeat threshold (1.0 never drops a sentence).
REDUNDANCY_GRID: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


RefGrams = list[tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]]]]


def _rouge12(cand: Sequence[str], refs: RefGrams) -> tuple[float, float]:
    """`rouge_multi` against references whose unigram and bigram counts are precomputed."""
    c1, c2 = _ngrams(cand, 1), _ngrams(cand, 2)
    return (
        statistics.fmean(_f1(c1, r1) for r1, _ in refs),
        statistics.fmean(_f1(c2, r2) for _, r2 in refs),
    )


def _redundancy_value(
    ranked: Sequence[tuple[SummaryExample, Ranked, RefGrams]], cut: float
) -> float:
    """Mean 3-sentence ROUGE-1 + ROUGE-2 plus budget ROUGE-1 of ranked examples at one cut."""
    from bot.pipeline.summarise import select

    values = []
    for e, rk, refs in ranked:
        three = rouge_tokens(" ".join(select(rk, 3, redundancy=cut)))
        budget = rouge_tokens(" ".join(select(rk, 1000, target_words=e.budget, redundancy=cut)))
        values.append(sum(_rouge12(three, refs)) + _rouge12(budget, refs)[0])
    return statistics.fmean(values)


def choose_redundancy(examples: Sequence[SummaryExample], weights: Sequence[float]) -> float:
    """The grid's repeat cut with the best 3-sentence and budget ROUGE on the (training) examples."""
    from bot.pipeline.summarise import rank

    ranked = [
        (e, rank(e.title, e.text, weights), [(_ngrams(r, 1), _ngrams(r, 2)) for r in e.refs])
        for e in examples
    ]
    return max(REDUNDANCY_GRID, key=lambda cut: _redundancy_value(ranked, cut))
