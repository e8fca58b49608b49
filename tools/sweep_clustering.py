"""Threshold-robustness sweep of clusterer variants on the gva dev events (5 event folds).

For each variant (ClusterConfig overrides) the whole dev stream is clustered at each
threshold of a grid; each fold's threshold is chosen on the other four folds (mean of
pairwise + B-cubed F1) and the held fold is scored there and at ±0.05. Prints the fold
means at each threshold and the cross-validated rows, so a variant is judged by its
neighbourhood, not its best point. Finally (variant, threshold) is chosen jointly on the
other four folds, either for the best score or for the best worst case over the ±0.05
neighbourhood, and scored on the held fold.

    nice -n 15 .venv/bin/python tools/sweep_clustering.py [variant ...]

A variant is `field=value[,field=value]` (ClusterConfig fields), e.g. `gap_penalty=0.08`.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.pipeline.cluster import ClusterConfig  # noqa: E402
from bot.pipeline.offline import cluster_records  # noqa: E402
from tests.datapaths import DATA_DIR  # noqa: E402
from tests.quality_eval import K_FOLDS, cluster_scores, fold_of, load_jsonl  # noqa: E402

GRID = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35)

VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": {},
}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """A named variant, or `field=value,field=value` overrides of ClusterConfig."""
    if text in VARIANTS:
        return text, VARIANTS[text]
    overrides: dict[str, Any] = {}
    for part in text.split(","):
        name, value = part.split("=")
        default = getattr(ClusterConfig(), name)
        overrides[name] = type(default)(float(value)) if not isinstance(default, str) else value
    return text, overrides


def main() -> None:
    """Sweep the variants named on the command line (default: all named ones)."""
    rows = load_jsonl(DATA_DIR / "gva_event_clusters" / "articles.jsonl")
    gold = {r["id"]: r["cluster_id"] for r in rows}
    folds = [{r["id"] for r in rows if fold_of(r["cluster_id"]) == f} for f in range(K_FOLDS)]
    table: dict[str, dict[float, list[tuple[float, float]]]] = {}
    for arg in sys.argv[1:] or list(VARIANTS):
        name, overrides = parse_variant(arg)
        base = replace(ClusterConfig(), **overrides)
        scores: dict[float, list[tuple[float, float]]] = {}
        for t in GRID:
            pred = {o["id"]: o["story"] for o in cluster_records(rows, replace(base, threshold=t))}
            scores[t] = [cluster_scores(gold, pred, fold) for fold in folds]
        table[name] = scores
        curve = "  ".join(
            f"{t:.2f}:{statistics.fmean(s[0] for s in v):.3f}/{statistics.fmean(s[1] for s in v):.3f}"
            for t, v in scores.items()
        )
        inner = GRID[1:-1]

        chosen = [max(inner, key=lambda t: train(table[name][t], k)) for k in range(K_FOLDS)]
        picks = [(name, t) for t in chosen]
        print(f"{name}\n  curve {curve}\n  CV t={chosen} " + held_cells(table, picks), flush=True)
    for rule in ("best", "robust"):
        picks = [choose(table, rule, k) for k in range(K_FOLDS)]
        print(f"joint choice ({rule}): {picks}\n  " + held_cells(table, picks), flush=True)


Table = dict[str, dict[float, list[tuple[float, float]]]]


def train(scores: list[tuple[float, float]], held: int) -> float:
    """Mean pairwise + B-cubed F1 over the folds other than `held`."""
    return statistics.fmean(sum(v) for g, v in enumerate(scores) if g != held)


def choose(table: Table, rule: str, held: int) -> tuple[str, float]:
    """(variant, threshold) chosen on the other folds: best score or best ±0.05 worst case."""

    def value(key: tuple[str, float]) -> float:
        name, t = key
        if rule == "best":
            return train(table[name][t], held)
        return min(train(table[name][round(t + d, 3)], held) for d in (-0.05, 0.0, 0.05))

    return max(((n, t) for n in table for t in GRID[1:-1]), key=value)


def held_cells(table: Table, picks: list[tuple[str, float]]) -> str:
    """Held-fold pairwise/B-cubed mean ± sd at each fold's pick and its ±0.05 neighbours."""
    cells = []
    for d in (-0.05, 0.0, 0.05):
        held = [table[n][round(t + d, 3)][k] for k, (n, t) in enumerate(picks)]
        p = [s[0] for s in held]
        b = [s[1] for s in held]
        cells.append(
            f"{d:+.2f}: {statistics.fmean(p):.3f}±{statistics.stdev(p):.3f}"
            f"/{statistics.fmean(b):.3f}±{statistics.stdev(b):.3f}"
        )
    return "  ".join(cells)


if __name__ == "__main__":
    main()
