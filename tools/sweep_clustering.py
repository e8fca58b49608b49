"""Threshold-robustness sweep of clusterer variants on the gva dev events (5 event folds).

For each variant (ClusterConfig overrides) the whole dev stream is clustered at each
threshold of a grid; each fold's threshold is chosen on the other four folds (mean of
pairwise + B-cubed F1) and the held fold is scored there and at ±0.05. Prints the fold
means at each threshold and the cross-validated rows, so a variant is judged by its
neighbourhood, not its best point. Finally (variant, threshold) is chosen jointly on the
other four folds, either for the best score or for the best worst case over the ±0.05
neighbourhood, and scored on the held fold.

    nice -n 15 .venv/bin/python tools/sweep_clustering.py [variant ...]

A variant is a named one (VARIANTS) or `field=value[,field=value]` (ClusterConfig
fields), e.g. `gap_penalty=0.08` or `encoder_gate=0.3`. Variants that use the encoder
(`encoder_*` fields, `encoder-only`) give each article its use-m3 vector of headline +
lead from the cache of tools/cluster_vectors.py (filled on first use). `encoder-only` is
a baseline without terms: an article joins the story whose mean vector is closest, at
cosine >= t (its own threshold grid, ENCODER_GRID).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.pipeline.cluster import ClusterConfig, StoryClusterer  # noqa: E402
from bot.pipeline.offline import cluster_doc, cluster_records  # noqa: E402
from tests.datapaths import DATA_DIR  # noqa: E402
from tests.quality_eval import K_FOLDS, cluster_scores, fold_of, load_jsonl  # noqa: E402

GRID = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35)
ENCODER_GRID = (0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
ENCODER_ONLY = "encoder-only"

VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": {},
    **{f"gate-{g:.2f}": {"encoder_gate": g} for g in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)},
    **{
        f"blend-w{w:g}-c{c:.2f}": {"encoder_weight": w, "encoder_offset": c}
        for w in (0.25, 0.5, 1.0)
        for c in (0.3, 0.4, 0.5)
    },
    ENCODER_ONLY: {},
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


def uses_encoder(name: str, overrides: dict[str, Any]) -> bool:
    """Whether a variant needs the articles' encoder vectors."""
    return name == ENCODER_ONLY or any(field.startswith("encoder_") for field in overrides)


def cluster_with_vectors(
    rows: Sequence[dict[str, Any]], config: ClusterConfig, vectors: Sequence[list[float]]
) -> dict[str, int]:
    """Story per article id, clustering as `akhbar cluster` does with each article's vector."""
    clusterer = StoryClusterer(config)
    return {
        row["id"]: clusterer.add(replace(cluster_doc(row), vector=vector)).story
        for row, vector in zip(rows, vectors, strict=True)
    }


def cluster_by_encoder(vectors: Sequence[list[float]], threshold: float) -> list[int]:
    """Encoder-only baseline: join the story of closest mean vector at cosine >= threshold."""
    sums = np.zeros((0, len(vectors[0])), dtype=np.float64)
    out: list[int] = []
    for vector in vectors:
        row = np.asarray(vector, dtype=np.float64)
        best = -1
        if len(sums):
            cosines = (sums @ row) / np.linalg.norm(sums, axis=1)
            if cosines.max() >= threshold:
                best = int(cosines.argmax())
        if best < 0:
            sums = np.vstack([sums, row])
            best = len(sums) - 1
        else:
            sums[best] += row
        out.append(best)
    return out


def predict(
    name: str,
    rows: Sequence[dict[str, Any]],
    config: ClusterConfig,
    vectors: Sequence[list[float]] | None,
) -> dict[str, int]:
    """Story per article id for one variant at one threshold (config.threshold)."""
    if name == ENCODER_ONLY and vectors is not None:
        return dict(
            zip((r["id"] for r in rows), cluster_by_encoder(vectors, config.threshold), strict=True)
        )
    if vectors is not None:
        return cluster_with_vectors(rows, config, vectors)
    return {o["id"]: o["story"] for o in cluster_records(rows, config)}


def main() -> None:
    """Sweep the variants named on the command line (default: all named ones)."""
    rows = load_jsonl(DATA_DIR / "gva_event_clusters" / "articles.jsonl")
    gold = {r["id"]: r["cluster_id"] for r in rows}
    folds = [{r["id"] for r in rows if fold_of(r["cluster_id"]) == f} for f in range(K_FOLDS)]
    table: dict[str, dict[float, list[tuple[float, float]]]] = {}
    vectors: list[list[float]] | None = None
    for arg in sys.argv[1:] or list(VARIANTS):
        name, overrides = parse_variant(arg)
        if uses_encoder(name, overrides) and vectors is None:
            from tools.cluster_vectors import vectors_for

            vectors = [v.tolist() for v in vectors_for(rows)]
        base = replace(ClusterConfig(), **overrides)
        grid = ENCODER_GRID if name == ENCODER_ONLY else GRID
        scores: dict[float, list[tuple[float, float]]] = {}
        for t in grid:
            config = replace(base, threshold=t)
            pred = predict(name, rows, config, vectors if uses_encoder(name, overrides) else None)
            scores[t] = [cluster_scores(gold, pred, fold) for fold in folds]
        table[name] = scores
        curve = "  ".join(
            f"{t:.2f}:{statistics.fmean(s[0] for s in v):.3f}/{statistics.fmean(s[1] for s in v):.3f}"
            for t, v in scores.items()
        )
        inner = grid[1:-1]

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

    return max(((n, t) for n in table for t in sorted(table[n])[1:-1]), key=value)


def held_cells(table: Table, picks: list[tuple[str, float]]) -> str:
    """Held-fold pairwise/B-cubed mean ± sd at each fold's pick and its ±0.05 neighbours."""
    cells = []
    means: dict[float, tuple[float, float]] = {}
    for d in (-0.05, 0.0, 0.05):
        held = [table[n][round(t + d, 3)][k] for k, (n, t) in enumerate(picks)]
        p = [s[0] for s in held]
        b = [s[1] for s in held]
        means[d] = statistics.fmean(p), statistics.fmean(b)
        cells.append(
            f"{d:+.2f}: {statistics.fmean(p):.3f}±{statistics.stdev(p):.3f}"
            f"/{statistics.fmean(b):.3f}±{statistics.stdev(b):.3f}"
        )
    drop = [max(means[0.0][i] - means[d][i] for d in (-0.05, 0.05)) for i in (0, 1)]
    cells.append(f"worst drop {drop[0]:+.3f}/{drop[1]:+.3f}")
    return "  ".join(cells)


if __name__ == "__main__":
    main()
