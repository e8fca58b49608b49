"""Learn the clusterer's merge probability on gva dev events; cross-validate it by event fold.

Training pairs come from teacher-forced online clustering of the training articles only:
each article is scored against the candidate stories the clusterer would consider (same
votes, gates and near-duplicate shortcut), then joins its own event's story (or starts
it), so story states are the correct ones. Positives: the article against its own
event's story, where that story is a candidate; negatives: the best-scoring wrong
candidate (hard negatives; `--negatives all`: every wrong candidate). A logistic
regression over MERGE_FEATURES (standardised, L2, Newton) gives the merge probability.

`--cv` fits on four event folds, clusters the whole dev stream with those weights and
scores the held fold at probability 0.5 and ±0.05 (and a wider grid), next to the
hand-weighted clusterer whose threshold is chosen on the same four folds, as
tests/test_quality_floors.py does. Without `--cv`, fits on every dev article and writes
bot/pipeline/merge_weights.py (`--check`: fail if that file is stale).

    nice -n 15 .venv/bin/python tools/train_merge_scorer.py --cv  # every variant, nested (9 min)
    nice -n 15 .venv/bin/python tools/train_merge_scorer.py --cv --variant no-centroid-floor/hard
    .venv/bin/python tools/train_merge_scorer.py [--check]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.pipeline.cluster import (  # noqa: E402
    MERGE_FEATURES,
    Candidate,
    ClusterConfig,
    StoryClusterer,
    Vector,
)
from bot.pipeline.offline import cluster_doc, cluster_records  # noqa: E402
from tests.datapaths import DATA_DIR  # noqa: E402
from tests.quality_eval import K_FOLDS, cluster_scores, fold_of, load_jsonl  # noqa: E402

OUT = ROOT / "bot" / "pipeline" / "merge_weights.py"
L2 = 1.0  # ridge on standardised features (a fixed, untuned setting)
PROBABILITIES = (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)
SHIPPED_GRID = (0.05, 0.10, 0.15, 0.20, 0.25)  # as tests/test_quality_floors.py


@dataclass(frozen=True)
class Pair:
    """One training pair: features, label, and the hand-weighted score."""

    features: tuple[float, ...]
    label: int
    combined: float


class TeacherClusterer(StoryClusterer):
    """Clusters by the gold events and records each article's scored candidates."""

    def __init__(self, config: ClusterConfig) -> None:
        """Empty clusterer with the gold story key per event."""
        super().__init__(config)
        self.story_of: dict[str, int] = {}
        self.event = ""
        self.scored: list[list[tuple[Candidate, bool]]] = []

    def add_gold(self, row: dict[str, Any]) -> None:
        """Add one article to its own event's story, recording its candidates first."""
        self.event = row["cluster_id"]
        self.story_of[self.event] = self.add(cluster_doc(row)).story

    def _best_story(
        self,
        vector: Vector,
        rare: tuple[str, ...],
        title_set: frozenset[str],
        now: datetime,
        embedding: Sequence[float] | None = None,
    ) -> tuple[int | None, float, str | int | None]:
        """The gold story (if active); the candidates are recorded with their labels."""
        gold = self.story_of.get(self.event)
        cands = list(self._candidates(vector, rare, title_set, now, embedding, True))
        if not any(c.duplicate_of is not None for c in cands):
            self.scored.append([(c, c.key == gold) for c in cands])
        if gold is not None and gold not in self.active_keys:
            gold = None
        return gold, 0.0, None


def training_pairs(
    rows: Sequence[dict[str, Any]], config: ClusterConfig, negatives: str
) -> list[Pair]:
    """Positive and (hard or all) negative pairs from teacher-forced clustering of `rows`."""
    teacher = TeacherClusterer(config)
    for row in rows:
        teacher.add_gold(row)
    pairs: list[Pair] = []
    for scored in teacher.scored:
        wrong = [c for c, is_gold in scored if not is_gold]
        if negatives == "hard":
            wrong = sorted(wrong, key=lambda c: -c.combined)[:1]
        pairs += [Pair(c.features, 1, c.combined) for c, is_gold in scored if is_gold]
        pairs += [Pair(c.features, 0, c.combined) for c in wrong]
    return pairs


def fit_logistic(pairs: Sequence[Pair], l2: float = L2) -> list[float]:
    """L2 logistic regression (Newton) on standardised features; raw weights + bias last."""
    x = np.array([p.features for p in pairs], dtype=np.float64)
    y = np.array([p.label for p in pairs], dtype=np.float64)
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    z = np.hstack([(x - mean) / sd, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    ridge = np.full(z.shape[1], l2)
    ridge[-1] = 0.0  # the bias is not shrunk
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) + ridge * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(ridge)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    raw = w[:-1] / sd
    bias = w[-1] - float(raw @ mean)
    return [float(v) for v in raw] + [float(bias)]


def _folds(rows: Sequence[dict[str, Any]]) -> list[set[str]]:
    """Article ids of each event fold."""
    return [{r["id"] for r in rows if fold_of(r["cluster_id"]) == f} for f in range(K_FOLDS)]


def _run(rows: Sequence[dict[str, Any]], config: ClusterConfig) -> dict[str, int]:
    """Story per article id, clustering the stream as `akhbar cluster` does."""
    return {o["id"]: o["story"] for o in cluster_records(rows, config)}


def _line(name: str, scores: Sequence[tuple[float, float]]) -> str:
    """Pairwise and B-cubed F1 per fold and their mean ± sd."""
    p, b = [s[0] for s in scores], [s[1] for s in scores]
    per = " ".join(f"{a:.3f}/{c:.3f}" for a, c in zip(p, b, strict=True))
    return (
        f"{name:<28} {statistics.fmean(p):.3f}±{statistics.stdev(p):.3f}"
        f" / {statistics.fmean(b):.3f}±{statistics.stdev(b):.3f}   folds {per}"
    )


def _shipped(
    rows: Sequence[dict[str, Any]], gold: dict[str, str], folds: list[set[str]]
) -> list[float]:
    """The hand-weighted clusterer, threshold chosen on four folds, scored on the fifth."""
    runs = {t: _run(rows, ClusterConfig(threshold=t)) for t in SHIPPED_GRID}
    table = {t: [cluster_scores(gold, runs[t], fold) for fold in folds] for t in SHIPPED_GRID}

    def train(t: float, held: int) -> float:
        return statistics.fmean(sum(table[t][g]) for g in range(K_FOLDS) if g != held)

    inner = SHIPPED_GRID[1:-1]
    chosen = [
        max(inner, key=lambda t: (train(t, k), -abs(t - statistics.median(inner))))
        for k in range(K_FOLDS)
    ]
    print(f"shipped: thresholds chosen per fold {chosen}")
    for d in (-0.05, 0.0, 0.05):
        cells = [table[round(t + d, 3)][k] for k, t in enumerate(chosen)]
        print(_line(f"shipped threshold {d:+.2f}", cells))
    return chosen


def _pair_stats(pairs: Sequence[Pair], weights: Sequence[float]) -> str:
    """Share of training pairs whose probability lies within 0.1 of 0.5, and the counts."""
    x = np.array([p.features for p in pairs])
    prob = 1.0 / (1.0 + np.exp(-(x @ np.array(weights[:-1]) + weights[-1])))
    mid = float(np.mean(np.abs(prob - 0.5) < 0.1))
    pos = sum(p.label for p in pairs)
    return f"{pos} positives, {len(pairs) - pos} negatives, {mid:.1%} within 0.4-0.6"


VARIANTS: dict[str, tuple[dict[str, float], str]] = {
    f"{name}/{neg}": (overrides, neg)
    for name, overrides in (
        ("gates", {}),
        ("no-centroid-floor", {"min_centroid": 0.0, "min_story_terms": 0}),
        ("no-gates", {"min_centroid": 0.0, "min_story_terms": 0, "evidence_days": 1e9}),
    )
    for neg in ("hard", "all")
}

# The variant the weights module is fitted with: chosen on the training folds for 3 of 5
# held folds (and tied with no-centroid-floor/all on every held fold).
SHIPPED_VARIANT = "no-centroid-floor/hard"


def _equivalent_cuts(weights: Sequence[float]) -> tuple[float, float]:
    """Probability cuts equivalent to the shipped threshold -0.05 and +0.05.

    Moving both cosines by d moves the combined similarity by d and the logit by
    d * (w_recent + w_centroid).
    """
    shift = 0.05 * (weights[0] + weights[1])
    return 1 / (1 + math.exp(shift)), 1 / (1 + math.exp(-shift))


Scores = dict[str, tuple[float, float]]


def learned_scores(
    rows: Sequence[dict[str, Any]],
    gold: dict[str, str],
    config: ClusterConfig,
    negatives: str,
    held: set[str],
    score_on: set[str],
    l2: float = L2,
) -> tuple[list[float], Scores]:
    """Weights fitted without the `held` articles; scores on `score_on` at several cuts."""
    weights = fit_logistic(
        training_pairs([r for r in rows if r["id"] not in held], config, negatives), l2
    )
    low, high = _equivalent_cuts(weights)
    cuts = {f"{p:.2f}": p for p in PROBABILITIES} | {"equiv-0.05": low, "equiv+0.05": high}
    out = {}
    for label, p in cuts.items():
        learned = replace(config, merge_weights=tuple(weights), merge_probability=p)
        out[label] = cluster_scores(gold, _run(rows, learned), score_on)
    return weights, out


def cross_validate(rows: Sequence[dict[str, Any]], l2: float = L2) -> None:
    """Held-fold scores of each variant, and of the variant chosen on the training folds."""
    gold = {r["id"]: r["cluster_id"] for r in rows}
    folds = _folds(rows)
    _shipped(rows, gold, folds)
    held: dict[str, list[Scores]] = {}
    inner: dict[str, list[float]] = {}  # per outer fold: mean training-fold score at p=0.5
    for name, (overrides, negatives) in VARIANTS.items():
        config = replace(ClusterConfig(), **overrides)
        held[name] = []
        inner[name] = []
        for k in range(K_FOLDS):
            weights, scores = learned_scores(rows, gold, config, negatives, folds[k], folds[k], l2)
            held[name].append(scores)
            values = []
            for g in range(K_FOLDS):
                if g != k:
                    both = folds[k] | folds[g]
                    _, s = learned_scores(rows, gold, config, negatives, both, folds[g], l2)
                    values.append(sum(s["0.50"]))
            inner[name].append(statistics.fmean(values))
            if k == 0:
                print(f"{name}: fold 0 weights {np.round(weights, 3).tolist()}")
        for label in ("0.45", "0.50", "0.55", "equiv-0.05", "equiv+0.05"):
            print(_line(f"{name} {label}", [f[label] for f in held[name]]), flush=True)
    chosen = [max(VARIANTS, key=lambda n: inner[n][k]) for k in range(K_FOLDS)]
    print(f"variant chosen on the training folds, per held fold: {chosen}")
    for label in ("0.40", "0.45", "0.50", "0.55", "0.60", "equiv-0.05", "equiv+0.05"):
        cells = [held[n][k][label] for k, n in enumerate(chosen)]
        print(_line(f"chosen {label}", cells), flush=True)


def _joins(rows: Sequence[dict[str, Any]], config: ClusterConfig) -> int:
    """Articles of the stream that join an existing story."""
    return len(rows) - len(set(_run(rows, config).values()))


def _matching_cut(
    rows: Sequence[dict[str, Any]], config: ClusterConfig, joins: int, low: float, high: float
) -> float:
    """The probability cut in [low, high] whose run joins about `joins` articles (bisection
    on the logit; fewer joins at higher cuts)."""
    lo, hi = math.log(low / (1 - low)), math.log(high / (1 - high))
    best, best_gap = 0.5, math.inf
    for _ in range(14):
        mid = (lo + hi) / 2
        cut = 1 / (1 + math.exp(-mid))
        found = _joins(rows, replace(config, merge_probability=cut))
        if abs(found - joins) < best_gap:
            best, best_gap = cut, abs(found - joins)
        if found > joins:
            lo = mid
        else:
            hi = mid
    return best


def cross_validate_variant(rows: Sequence[dict[str, Any]], name: str, l2: float = L2) -> None:
    """One variant's held-fold scores at 0.5 and its neighbours, three ways.

    ±0.05 of probability; the cut that moves the logit as the shipped ±0.05 of combined
    similarity would (both cosines moving together); and the cut at which the stream has
    as many joins as the shipped clusterer at its threshold ±0.05.
    """
    gold = {r["id"]: r["cluster_id"] for r in rows}
    folds = _folds(rows)
    chosen = _shipped(rows, gold, folds)
    overrides, negatives = VARIANTS[name]
    config = replace(ClusterConfig(), **overrides)
    cells: dict[str, list[tuple[float, float]]] = {}
    cuts: dict[str, list[float]] = {}
    for k in range(K_FOLDS):
        train = [r for r in rows if r["id"] not in folds[k]]
        weights = fit_logistic(training_pairs(train, config, negatives), l2)
        learned = replace(config, merge_weights=tuple(weights))
        low, high = _equivalent_cuts(weights)
        by_count = {
            d: _matching_cut(
                rows,
                learned,
                _joins(rows, ClusterConfig(threshold=round(chosen[k] + d, 3))),
                *((0.01, 0.5) if d < 0 else (0.5, 0.99)),
            )
            for d in (-0.05, 0.05)
        }
        plan = {
            "p 0.45": 0.45,
            "p 0.50": 0.5,
            "p 0.55": 0.55,
            "logit equiv -0.05": low,
            "logit equiv +0.05": high,
            "joins equiv -0.05": by_count[-0.05],
            "joins equiv +0.05": by_count[0.05],
        }
        for label, cut in plan.items():
            run = _run(rows, replace(learned, merge_probability=cut))
            cells.setdefault(label, []).append(cluster_scores(gold, run, folds[k]))
            cuts.setdefault(label, []).append(cut)
    for label, scores in cells.items():
        print(_line(f"{name} {label}", scores) + f"   cuts {np.round(cuts[label], 3).tolist()}")


def render(weights: Sequence[float]) -> str:
    """The generated weights module."""
    lines = [
        '"""Merge-scorer weights, generated by tools/train_merge_scorer.py (do not edit)."""',
        "",
        "WEIGHTS: tuple[float, ...] = (",
        *(
            f"    {w:.6f},  # {name}"
            for name, w in zip((*MERGE_FEATURES, "bias"), weights, strict=True)
        ),
        ")",
        "",
    ]
    return "\n".join(lines)


def _rows() -> Iterator[dict[str, Any]]:
    """The gva dev articles in stream order."""
    yield from load_jsonl(DATA_DIR / "gva_event_clusters" / "articles.jsonl")


def main() -> int:
    """Cross-validate (--cv) or fit on all dev articles and write the weights module."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cv", action="store_true", help="cross-validate by event fold")
    parser.add_argument("--variant", choices=sorted(VARIANTS), help="--cv of one variant only")
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument("--l2", type=float, default=L2, help="ridge (standardised features)")
    args = parser.parse_args()
    rows = list(_rows())
    overrides, negatives = VARIANTS[SHIPPED_VARIANT]
    config = replace(ClusterConfig(), **overrides)
    if args.cv and args.variant:
        cross_validate_variant(rows, args.variant, args.l2)
        return 0
    if args.cv:
        cross_validate(rows, args.l2)
        return 0
    text = render(fit_logistic(training_pairs(rows, config, negatives), args.l2))
    if args.check:
        stale = not OUT.exists() or OUT.read_text(encoding="utf-8") != text
        print(f"{OUT} is {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
