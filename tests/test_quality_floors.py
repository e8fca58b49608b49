"""Quality floors, cross-validated on the shared dev data (5 folds; see tests/quality_eval.py).

Every tuned choice (the clustering threshold, the sentence scorer's weights and repeat
cut) is made on
four folds and scored on the fifth; `pytest -s` prints each fold's score and the mean ±
sd next to baselines computed in the same run. The floors pin the cross-validated means.
"""

from __future__ import annotations

import importlib.util
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cache
from types import ModuleType

import pytest

from bot.pipeline.cluster import ClusterConfig, learned_merge
from bot.pipeline.offline import cluster_records
from bot.pipeline.sentence_weights import REDUNDANCY, WEIGHTS
from bot.pipeline.summarise import summarise
from tests.datapaths import DATA_DIR, data_path
from tests.quality_eval import (
    K_FOLDS,
    FoldScores,
    SummaryExample,
    choose_redundancy,
    cluster_scores,
    fit_weights,
    fold_of,
    load_jsonl,
    rouge_f,
    rouge_multi,
    rouge_tokens,
    summary_examples,
    term_counts,
    tfidf_online_baseline,
)

# ------------------------------------------------------------------ summaries


@cache
def _examples(name: str) -> tuple[SummaryExample, ...]:
    """Prepared dev articles of one summary set."""
    if name == "ant":
        rows = load_jsonl(data_path("ant_bbc_arabic", "articles.jsonl"))
        return tuple(summary_examples(rows, abstractive=True))
    return tuple(summary_examples(load_jsonl(data_path("easc", "easc.jsonl")), abstractive=False))


@cache
def _fold_weights(fold: int) -> tuple[float, ...]:
    """Scorer weights fitted on every fold but `fold`, of both summary sets."""
    train = [e for name in ("ant", "easc") for e in _examples(name) if fold_of(e.id) != fold]
    return tuple(fit_weights(train))


@cache
def _fold_redundancy(fold: int) -> float:
    """The repeat cut chosen on every easc fold but `fold`, with that fold's weights."""
    train = [e for e in _examples("easc") if fold_of(e.id) != fold]
    return choose_redundancy(train, _fold_weights(fold))


def _held(name: str, fold: int) -> list[SummaryExample]:
    """The articles of one held fold."""
    return [e for e in _examples(name) if fold_of(e.id) == fold]


def _lead_tokens(e: SummaryExample, k: int) -> list[str]:
    """Tokens of the first k sentences."""
    return [t for toks in e.tokens[:k] for t in toks]


def _per_fold(
    name: str, metric: Callable[[SummaryExample, tuple[float, ...]], float]
) -> tuple[float, ...]:
    """Mean of a per-article metric on each held fold, with that fold's trained weights."""
    return tuple(
        statistics.fmean(metric(e, _fold_weights(f)) for e in _held(name, f))
        for f in range(K_FOLDS)
    )


_SUMMARIES: dict[tuple[str, tuple[float, ...], tuple[tuple[str, int], ...]], list[str]] = {}


def _summary(e: SummaryExample, weights: tuple[float, ...], **budget: int) -> list[str]:
    """ROUGE tokens of the summariser's output for one article (each computed once).

    Weights and repeat cut are those trained without the article's fold.
    """
    key = (e.id, weights, tuple(sorted(budget.items())))
    if key not in _SUMMARIES:
        cut = _fold_redundancy(fold_of(e.id))
        text = " ".join(summarise(e.title, e.text, "ar", weights=weights, redundancy=cut, **budget))
        _SUMMARIES[key] = rouge_tokens(text)
    return _SUMMARIES[key]


Metric = Callable[[SummaryExample, tuple[float, ...]], float]
PairMetric = Callable[[SummaryExample, tuple[float, ...]], tuple[float, float]]


def _nth(metric: PairMetric, n: int) -> Metric:
    """ROUGE-n (1 or 2) of a metric returning (ROUGE-1, ROUGE-2)."""
    return lambda e, w: metric(e, w)[n - 1]


def _report(rows: Sequence[FoldScores]) -> None:
    """Print one line per measure."""
    for row in rows:
        print(row.line())


def test_easc_three_sentences_cross_validated() -> None:
    def system(e: SummaryExample, w: tuple[float, ...]) -> tuple[float, float]:
        return rouge_multi(_summary(e, w), e.refs)

    def lead(e: SummaryExample, _: tuple[float, ...]) -> tuple[float, float]:
        return rouge_multi(_lead_tokens(e, 3), e.refs)

    ours = {n: _per_fold("easc", _nth(system, n)) for n in (1, 2)}
    lead3 = {n: _per_fold("easc", _nth(lead, n)) for n in (1, 2)}
    rows = [
        FoldScores(f"easc 3 sent ROUGE-{n} {who}", scores[n])
        for n in (1, 2)
        for who, scores in (("summariser", ours), ("Lead-3", lead3))
    ]
    print()
    _report(rows)
    # CV means 0.402 ± 0.035 / 0.337 ± 0.036 (folds 0.374-0.439 / 0.293-0.371), with the
    # repeat cut chosen on the training folds; Lead-3 0.387 / 0.332 in the same run.
    assert statistics.fmean(ours[1]) >= 0.40, ours
    assert statistics.fmean(ours[2]) >= 0.335, ours
    assert statistics.fmean(ours[1]) >= statistics.fmean(lead3[1]) + 0.01


def test_easc_budget_cross_validated() -> None:
    def system(e: SummaryExample, w: tuple[float, ...]) -> float:
        return rouge_multi(_summary(e, w, max_sentences=1000, target_words=e.budget), e.refs)[0]

    def lead_cut(e: SummaryExample, _: tuple[float, ...]) -> float:
        return rouge_multi(_lead_tokens(e, len(e.tokens))[: e.budget], e.refs)[0]

    def lead_whole(e: SummaryExample, _: tuple[float, ...]) -> float:
        # Whole sentences from the top, approaching the budget as the summariser does.
        words = 0
        for k, toks in enumerate(e.tokens):
            if words and (words >= e.budget or words + len(toks) - e.budget > e.budget - words):
                return rouge_multi(_lead_tokens(e, k), e.refs)[0]
            words += len(toks)
        return rouge_multi(_lead_tokens(e, len(e.tokens)), e.refs)[0]

    ours = FoldScores("easc budget ROUGE-1 summariser", _per_fold("easc", system))
    cut = FoldScores("easc budget ROUGE-1 lead cut", _per_fold("easc", lead_cut))
    whole = FoldScores("easc budget ROUGE-1 whole-sent lead", _per_fold("easc", lead_whole))
    print()
    _report([ours, cut, whole])
    # CV mean 0.493 ± 0.034 (folds 0.445-0.537); lead cut 0.498 ± 0.027: not yet reached.
    assert ours.mean >= 0.49, ours


def test_bbc_arabic_one_sentence_cross_validated() -> None:
    def system(e: SummaryExample, w: tuple[float, ...]) -> tuple[float, float]:
        return rouge_multi(_summary(e, w, max_sentences=1), e.refs)

    def lead(e: SummaryExample, _: tuple[float, ...]) -> tuple[float, float]:
        return rouge_multi(e.tokens[0], e.refs)

    def oracle(e: SummaryExample, _: tuple[float, ...]) -> tuple[float, float]:
        best = max(e.tokens, key=lambda t: rouge_f(t, e.refs[0], 1) + rouge_f(t, e.refs[0], 2))
        return rouge_multi(best, e.refs)

    rows = {
        (who, n): FoldScores(f"BBC 1 sent ROUGE-{n} {who}", _per_fold("ant", _nth(fn, n)))
        for who, fn in (("summariser", system), ("Lead-1", lead), ("oracle", oracle))
        for n in (1, 2)
    }
    print()
    _report(list(rows.values()))
    # CV means 0.434 ± 0.015 / 0.291 ± 0.012 (folds 0.417-0.456 / 0.275-0.306).
    assert rows["summariser", 1].mean >= 0.432, rows["summariser", 1]
    assert rows["summariser", 2].mean >= 0.289, rows["summariser", 2]


def test_shipped_weights_come_from_the_training_script() -> None:
    # bot/pipeline/sentence_weights.py is what tools/train_sentence_scorer.py fits on all
    # dev articles of both sets (and nothing else): regenerate it when features change.
    fitted = fit_weights([e for name in ("ant", "easc") for e in _examples(name)])
    assert list(fitted) == pytest.approx(list(WEIGHTS), abs=2e-6)
    assert choose_redundancy(_examples("easc"), WEIGHTS) == REDUNDANCY


# ------------------------------------------------------------------ clustering

_GRID = (0.05, 0.10, 0.15, 0.20, 0.25)  # thresholds tried; the outer two only as neighbours
_BASELINE_GRID = (0.10, 0.15, 0.20, 0.25, 0.30)


@cache
def _gva() -> tuple[dict[str, str], dict[str, set[str]]]:
    """Gold events and each event fold's article ids."""
    rows = load_jsonl(data_path("gva_event_clusters", "articles.jsonl"))
    gold = {r["id"]: r["cluster_id"] for r in rows}
    folds: dict[str, set[str]] = {str(f): set() for f in range(K_FOLDS)}
    for r in rows:
        folds[str(fold_of(r["cluster_id"]))].add(r["id"])
    return gold, folds


@cache
def _gva_run(threshold: float, max_active: int = ClusterConfig().max_active) -> dict[str, int]:
    """Our clustering of the whole dev stream at one threshold."""
    rows = load_jsonl(data_path("gva_event_clusters", "articles.jsonl"))
    config = ClusterConfig(threshold=threshold, max_active=max_active)
    return {o["id"]: o["story"] for o in cluster_records(rows, config)}


@cache
def _baseline_run(threshold: float) -> dict[str, int]:
    """The TF-IDF online baseline on the whole dev stream at one threshold."""
    docs = term_counts(load_jsonl(data_path("gva_event_clusters", "articles.jsonl")))
    return tfidf_online_baseline(docs, threshold)


def _fold_score(pred: dict[str, int], fold: int) -> tuple[float, float]:
    """Pairwise and B-cubed F1 over one event fold."""
    gold, folds = _gva()
    return cluster_scores(gold, pred, folds[str(fold)])


def _choose(run: Callable[[float], dict[str, int]], grid: Sequence[float], fold: int) -> float:
    """The grid threshold with the best mean (pairwise + B-cubed) F1 on the other folds."""

    def train_score(t: float) -> float:
        return statistics.fmean(sum(_fold_score(run(t), g)) for g in range(K_FOLDS) if g != fold)

    return max(grid, key=lambda t: (train_score(t), -abs(t - statistics.median(grid))))


def test_gva_clustering_cross_validated() -> None:
    chosen = [_choose(_gva_run, _GRID[1:-1], f) for f in range(K_FOLDS)]
    ours = [_fold_score(_gva_run(t), f) for f, t in enumerate(chosen)]
    low = [_fold_score(_gva_run(round(t - 0.05, 3)), f) for f, t in enumerate(chosen)]
    high = [_fold_score(_gva_run(round(t + 0.05, 3)), f) for f, t in enumerate(chosen)]
    base_t = [_choose(_baseline_run, _BASELINE_GRID, f) for f in range(K_FOLDS)]
    base = [_fold_score(_baseline_run(t), f) for f, t in enumerate(base_t)]
    rows = []
    for label, scores in (
        ("clusterer", ours),
        ("clusterer threshold -0.05", low),
        ("clusterer threshold +0.05", high),
        ("TF-IDF online baseline", base),
    ):
        rows.append(FoldScores(f"gva pairwise F1 {label}", tuple(s[0] for s in scores)))
        rows.append(FoldScores(f"gva B-cubed F1 {label}", tuple(s[1] for s in scores)))
    print(f"\nthresholds chosen per fold: {chosen}; baseline: {base_t}")
    _report(rows)
    pair, b3 = rows[0], rows[1]
    # CV means 0.685 ± 0.121 / 0.936 ± 0.022 (folds 0.583-0.844 / 0.908-0.963); ±0.05
    # neighbours 0.620 / 0.627 pairwise (tools/sweep_clustering.py: no variant measured
    # keeps them within 0.02 without losing about 0.04 at the chosen threshold).
    assert pair.mean >= 0.68 and b3.mean >= 0.93, (pair, b3)
    # No cliff: the ±0.05 neighbours of each fold's threshold stay close on the held fold.
    for neighbour in rows[2:6]:
        base_row = pair if "pairwise" in neighbour.name else b3
        assert neighbour.mean >= base_row.mean - 0.07, (neighbour, base_row)
    assert pair.mean >= rows[6].mean + 0.1 and b3.mean >= rows[7].mean + 0.02


_MERGE_CUTS = (0.45, 0.5, 0.55)  # the learned scorer's probability and its ±0.05 neighbours


@cache
def _merge_weights(fold: int) -> tuple[float, ...]:
    """Merge-scorer weights fitted on the gva articles of every fold but `fold`."""
    from tools.train_merge_scorer import SHIPPED_VARIANT, VARIANTS, fit_logistic, training_pairs

    rows = load_jsonl(data_path("gva_event_clusters", "articles.jsonl"))
    _, folds = _gva()
    overrides, negatives = VARIANTS[SHIPPED_VARIANT]
    config = replace(ClusterConfig(), **overrides)
    train = [r for r in rows if r["id"] not in folds[str(fold)]]
    return tuple(fit_logistic(training_pairs(train, config, negatives)))


def _learned_run(fold: int, probability: float) -> dict[str, int]:
    """The whole dev stream clustered by the merge scorer fitted without `fold`."""
    rows = load_jsonl(data_path("gva_event_clusters", "articles.jsonl"))
    config = replace(
        learned_merge(), merge_weights=_merge_weights(fold), merge_probability=probability
    )
    return {o["id"]: o["story"] for o in cluster_records(rows, config)}


def test_gva_learned_merge_cross_validated() -> None:
    # The learned merge probability (off by default), fitted on four event folds and
    # scored on the fifth at 0.5 (not tuned) and ±0.05. Its neighbourhood is flat in
    # probability, but ±0.05 of probability is about ±0.01 of the combined similarity:
    # `tools/train_merge_scorer.py --cv --variant no-centroid-floor/hard` also scores the
    # equivalents of the shipped ±0.05 (same logit shift: 0.669 / 0.629 pairwise; same
    # number of joins: 0.687 / 0.618), no flatter than the hand-weighted score.
    scores = {p: [_fold_score(_learned_run(f, p), f) for f in range(K_FOLDS)] for p in _MERGE_CUTS}
    rows = {
        (p, i): FoldScores(f"gva {name} F1 learned p>={p:.2f}", tuple(s[i] for s in scores[p]))
        for p in _MERGE_CUTS
        for i, name in ((0, "pairwise"), (1, "B-cubed"))
    }
    print()
    _report(list(rows.values()))
    # CV means 0.692 ± 0.143 / 0.936 ± 0.030 (folds 0.549-0.864 / 0.896-0.967); at 0.45
    # and 0.55: 0.682 / 0.686 pairwise, 0.936 / 0.935 B-cubed.
    pair, b3 = rows[0.5, 0], rows[0.5, 1]
    assert pair.mean >= 0.69 and b3.mean >= 0.935, (pair, b3)
    for p in (0.45, 0.55):
        assert rows[p, 0].mean >= pair.mean - 0.02, (rows[p, 0], pair)
        assert rows[p, 1].mean >= b3.mean - 0.02, (rows[p, 1], b3)


def test_gva_whole_stream_floor() -> None:
    # The whole dev stream at the shipped settings, as `akhbar cluster` runs it.
    gold, _ = _gva()
    pair_f1, b3_f1 = cluster_scores(gold, _gva_run(ClusterConfig().threshold))
    # 0.708 / 0.935 (0.713 / 0.936 before the shared-story-terms gate, which keeps the
    # held folds' mean and makes them flatter; see README)
    assert pair_f1 >= 0.705 and b3_f1 >= 0.935, (pair_f1, b3_f1)


def test_gva_clustering_bounded_memory_no_cliff() -> None:
    # Capping active stories (LRU) instead of a short window keeps the quality.
    gold, _ = _gva()
    pair_f1, b3_f1 = cluster_scores(gold, _gva_run(ClusterConfig().threshold, max_active=50))
    assert pair_f1 >= 0.69 and b3_f1 >= 0.93, (pair_f1, b3_f1)


def _reference(name: str) -> ModuleType:
    """A reference scorer from ../shared/eval (skips the test when it is absent)."""
    path = DATA_DIR.parent / "eval" / f"{name}.py"
    if not path.exists():
        pytest.skip(f"reference scorer not found at {path}")
    spec = importlib.util.spec_from_file_location(f"_reference_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_metrics_agree_with_reference_scorers() -> None:
    gold, _ = _gva()
    pred = _gva_run(ClusterConfig().threshold)
    ref = _reference("cluster_metrics").evaluate(gold, pred)
    assert cluster_scores(gold, pred) == pytest.approx((ref["pair_f1"], ref["bcubed_f1"]))
    rouge = _reference("rouge_ar")
    for row in load_jsonl(data_path("easc", "easc.jsonl"))[:10]:
        cand = " ".join(summarise("", row["text"], "ar"))
        texts = [s["text"] for s in row["summaries"]]
        expected, _ = rouge.score_multi(rouge.tokenize(cand), [rouge.tokenize(t) for t in texts])
        ours = rouge_multi(rouge_tokens(cand), [rouge_tokens(t) for t in texts])
        assert ours == pytest.approx((expected["rouge1"]["avg"], expected["rouge2"]["avg"]))


def test_saudinewsnet_cluster_sizes_sane() -> None:
    rows = load_jsonl(data_path("saudinewsnet", "articles.jsonl"))
    rows.sort(key=lambda r: r["published"])
    sizes: dict[int, int] = {}
    for o in cluster_records(rows):
        sizes[o["story"]] = sizes.get(o["story"], 0) + 1
    assert max(sizes.values()) <= 0.05 * len(rows), sorted(sizes.values())[-3:]
    assert len(sizes) < len(rows)  # some reports do join up
