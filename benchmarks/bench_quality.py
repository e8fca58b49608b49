"""Story quality by 5-fold cross-validation, and the cost of sentence splitting.

    .venv/bin/python benchmarks/bench_quality.py [--parts split,cost,summaries,clustering]

split: seconds to split 0.65 / 1.3 / 2.6 MB of text full of "etc." (and plain full stops),
and to summarise it. cost: CPU milliseconds per article of summarise on real articles. summaries: the sentence scorer trained on four folds and scored on
the fifth (easc 3 sentences and budget, BBC Arabic one sentence) beside the leads; the
repeat cut is chosen on the same four folds of easc.
clustering: thresholds and the centroid floor chosen on four folds of gva events, either
for the best score or for the best worst-case over the ±0.05 threshold neighbourhood, and
scored on the fifth; the TF-IDF online baseline chosen the same way.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.pipeline.cluster import ClusterConfig  # noqa: E402
from bot.pipeline.offline import cluster_records  # noqa: E402
from bot.pipeline.sentences import split_sentences  # noqa: E402
from bot.pipeline.summarise import summarise  # noqa: E402
from tests.datapaths import DATA_DIR  # noqa: E402
from tests.quality_eval import (  # noqa: E402
    K_FOLDS,
    FoldScores,
    SummaryExample,
    choose_redundancy,
    cluster_scores,
    fit_weights,
    fold_of,
    load_jsonl,
    rouge_multi,
    rouge_tokens,
    summary_examples,
    term_counts,
    tfidf_online_baseline,
)


def bench_split() -> None:
    """Time sentence splitting and summarising of large hostile and plain texts."""
    units = {
        "etc.": "Apples, pears etc. and more words here etc. then some. ",
        "plain": "Apples and pears and more words here. Then some more words. ",
    }
    for name, unit in units.items():
        for megabytes in (0.65, 1.3, 2.6):
            text = unit * int(megabytes * 1e6 / len(unit))
            wall, cpu = time.perf_counter(), time.process_time()
            n = len(split_sentences(text))
            split_wall, split_cpu = time.perf_counter() - wall, time.process_time() - cpu
            wall, cpu = time.perf_counter(), time.process_time()
            summarise("", text)
            sum_wall, sum_cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(
                f"{name:<5} {megabytes:4.2f} MB: split {split_cpu:6.3f} s CPU "
                f"({split_wall:6.3f} wall, {n} sentences); "
                f"summarise {sum_cpu:6.3f} s CPU ({sum_wall:6.3f} wall)"
            )


def bench_cost() -> None:
    """CPU milliseconds per article of summarise (BBC Arabic and 800 saudinewsnet articles)."""
    rows = load_jsonl(DATA_DIR / "ant_bbc_arabic" / "articles.jsonl")
    rows += load_jsonl(DATA_DIR / "saudinewsnet" / "articles.jsonl")[:800]
    for row in rows:  # warm up: token tables filled, as in a running bot
        summarise(row.get("title") or "", row.get("text") or "", "ar")
    for cut in (None, 0.6, None, 0.6):
        cpu = time.process_time()
        for row in rows:
            summarise(row.get("title") or "", row.get("text") or "", "ar", redundancy=cut)
        ms = (time.process_time() - cpu) / len(rows) * 1000
        label = "shipped repeat cut" if cut is None else f"repeat cut {cut}"
        print(f"summarise, {label}: {ms:.2f} ms CPU per article ({len(rows)} articles)")


def bench_summaries() -> None:
    """Cross-validated summary scores beside the lead baselines."""
    ant = summary_examples(load_jsonl(DATA_DIR / "ant_bbc_arabic" / "articles.jsonl"), True)
    easc = summary_examples(load_jsonl(DATA_DIR / "easc" / "easc.jsonl"), False)
    weights = [fit_weights([e for e in ant + easc if fold_of(e.id) != f]) for f in range(K_FOLDS)]
    cuts = [
        choose_redundancy([e for e in easc if fold_of(e.id) != f], weights[f])
        for f in range(K_FOLDS)
    ]

    def per_fold(
        examples: Sequence[SummaryExample], metric: Callable[[SummaryExample, list[float]], float]
    ) -> tuple[float, ...]:
        return tuple(
            statistics.fmean(metric(e, weights[f]) for e in examples if fold_of(e.id) == f)
            for f in range(K_FOLDS)
        )

    def ours(e: SummaryExample, w: list[float], n: int, **budget: int) -> float:
        cut = cuts[fold_of(e.id)]
        text = " ".join(summarise(e.title, e.text, "ar", weights=w, redundancy=cut, **budget))
        return rouge_multi(rouge_tokens(text), e.refs)[n - 1]

    def lead(e: SummaryExample, k: int, n: int, cut: int | None = None) -> float:
        tokens = [t for s in e.tokens[:k] for t in s]
        return rouge_multi(tokens[:cut] if cut else tokens, e.refs)[n - 1]

    rows = [
        FoldScores("easc 3 sent R1 summariser", per_fold(easc, lambda e, w: ours(e, w, 1))),
        FoldScores("easc 3 sent R1 Lead-3", per_fold(easc, lambda e, w: lead(e, 3, 1))),
        FoldScores("easc 3 sent R2 summariser", per_fold(easc, lambda e, w: ours(e, w, 2))),
        FoldScores("easc 3 sent R2 Lead-3", per_fold(easc, lambda e, w: lead(e, 3, 2))),
        FoldScores(
            "easc budget R1 summariser",
            per_fold(easc, lambda e, w: ours(e, w, 1, max_sentences=1000, target_words=e.budget)),
        ),
        FoldScores(
            "easc budget R1 lead cut", per_fold(easc, lambda e, w: lead(e, 1000, 1, e.budget))
        ),
        FoldScores(
            "BBC 1 sent R1 summariser", per_fold(ant, lambda e, w: ours(e, w, 1, max_sentences=1))
        ),
        FoldScores("BBC 1 sent R1 Lead-1", per_fold(ant, lambda e, w: lead(e, 1, 1))),
        FoldScores(
            "BBC 1 sent R2 summariser", per_fold(ant, lambda e, w: ours(e, w, 2, max_sentences=1))
        ),
        FoldScores("BBC 1 sent R2 Lead-1", per_fold(ant, lambda e, w: lead(e, 1, 2))),
    ]
    for row in rows:
        print(row.line())


def bench_clustering() -> None:
    """Cross-validated clustering: per-fold choice of threshold and centroid floor."""
    rows = load_jsonl(DATA_DIR / "gva_event_clusters" / "articles.jsonl")
    gold = {r["id"]: r["cluster_id"] for r in rows}
    folds = [{r["id"] for r in rows if fold_of(r["cluster_id"]) == f} for f in range(K_FOLDS)]
    thresholds = (0.05, 0.10, 0.15, 0.20, 0.25)
    floors = (0.15, 0.20)
    scores: dict[tuple[float, float], list[tuple[float, float]]] = {}
    for floor in floors:
        for t in thresholds:
            config = ClusterConfig(threshold=t, min_centroid=floor)
            pred = {o["id"]: o["story"] for o in cluster_records(rows, config)}
            scores[floor, t] = [cluster_scores(gold, pred, fold) for fold in folds]
    docs = term_counts(rows)
    base_grid = (0.10, 0.15, 0.20, 0.25, 0.30)
    base = {
        t: [cluster_scores(gold, tfidf_online_baseline(docs, t), f) for f in folds]
        for t in base_grid
    }

    def train(values: list[tuple[float, float]], held: int) -> float:
        return statistics.fmean(sum(v) for g, v in enumerate(values) if g != held)

    def choose(rule: str, held: int) -> tuple[float, float]:
        """Floor and threshold picked on the other folds: best score, or best worst case."""

        def value(key: tuple[float, float]) -> float:
            floor, t = key
            if rule == "best":
                return train(scores[key], held)
            return min(train(scores[floor, round(t + d, 3)], held) for d in (-0.05, 0.0, 0.05))

        return max(((f, t) for f in floors for t in thresholds[1:-1]), key=value)

    for rule in ("best", "robust"):
        picked = [choose(rule, held) for held in range(K_FOLDS)]
        for d, label in ((0.0, ""), (-0.05, " t-0.05"), (0.05, " t+0.05")):
            held_scores = [scores[f, round(t + d, 3)][k] for k, (f, t) in enumerate(picked)]
            print(
                FoldScores(f"gva pairwise {rule}{label}", tuple(s[0] for s in held_scores)).line()
            )
            print(
                FoldScores(f"gva B-cubed  {rule}{label}", tuple(s[1] for s in held_scores)).line()
            )
        print(f"  chosen (floor, threshold) per fold: {picked}")
    chosen_base = [max(base_grid, key=lambda t: train(base[t], k)) for k in range(K_FOLDS)]
    held_base = [base[t][k] for k, t in enumerate(chosen_base)]
    print(FoldScores("gva pairwise TF-IDF baseline", tuple(s[0] for s in held_base)).line())
    print(FoldScores("gva B-cubed  TF-IDF baseline", tuple(s[1] for s in held_base)).line())
    print(f"  baseline thresholds per fold: {chosen_base}")


def main() -> None:
    """Run the chosen parts."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", default="split,cost,summaries,clustering")
    parts = parser.parse_args().parts.split(",")
    for name, fn in (
        ("split", bench_split),
        ("cost", bench_cost),
        ("summaries", bench_summaries),
        ("clustering", bench_clustering),
    ):
        if name in parts:
            print(f"== {name}")
            fn()


if __name__ == "__main__":
    main()
