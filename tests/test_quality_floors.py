"""Quality floors measured on the shared dev data (own metric code; see eval/ for the reference)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.pipeline.cluster import ClusterConfig
from bot.pipeline.offline import cluster_records, summarise_records
from bot.pipeline.text import normalize_arabic
from tests.datapaths import data_path

_WORD = re.compile(r"[^\W_]+")


def _load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def cluster_scores(gold: dict[str, str], pred: dict[str, int]) -> tuple[float, float]:
    """Pairwise F1 and B-cubed F1 of a predicted clustering."""
    joint = Counter((gold[i], pred[i]) for i in gold)
    g_sizes = Counter(gold.values())
    p_sizes = Counter(pred[i] for i in gold)
    n = len(gold)
    b_p = sum(c * c / p_sizes[p] for (_, p), c in joint.items()) / n
    b_r = sum(c * c / g_sizes[g] for (g, _), c in joint.items()) / n
    tp = sum(_pairs(c) for c in joint.values())
    pp = sum(_pairs(c) for c in p_sizes.values())
    gp = sum(_pairs(c) for c in g_sizes.values())
    prec, rec = (tp / pp if pp else 0.0), tp / gp
    pair_f1 = 2 * prec * rec / (prec + rec) if tp else 0.0
    return pair_f1, 2 * b_p * b_r / (b_p + b_r)


def _gva(config: ClusterConfig | None = None) -> tuple[float, float]:
    rows = _load(data_path("gva_event_clusters", "articles.jsonl"))
    pred = {o["id"]: o["story"] for o in cluster_records(rows, config)}
    return cluster_scores({r["id"]: r["cluster_id"] for r in rows}, pred)


def test_gva_clustering_floor() -> None:
    pair_f1, b3_f1 = _gva()
    assert pair_f1 >= 0.70 and b3_f1 >= 0.93, (pair_f1, b3_f1)


@pytest.mark.parametrize("delta", [-0.05, 0.05])
def test_gva_clustering_no_cliff(delta: float) -> None:
    pair_f1, b3_f1 = _gva(ClusterConfig(threshold=ClusterConfig().threshold + delta))
    assert pair_f1 >= 0.65 and b3_f1 >= 0.915, (delta, pair_f1, b3_f1)


def test_gva_clustering_bounded_memory_no_cliff() -> None:
    # Capping active stories (LRU) instead of a short window keeps the quality.
    pair_f1, b3_f1 = _gva(ClusterConfig(max_active=50))
    assert pair_f1 >= 0.69 and b3_f1 >= 0.93, (pair_f1, b3_f1)


def test_saudinewsnet_cluster_sizes_sane() -> None:
    rows = _load(data_path("saudinewsnet", "articles.jsonl"))
    rows.sort(key=lambda r: r["published"])
    sizes = Counter(o["story"] for o in cluster_records(rows))
    assert max(sizes.values()) <= 0.05 * len(rows), sizes.most_common(3)
    assert len(sizes) < len(rows)  # some reports do join up


def _tokens(text: str) -> list[str]:
    return _WORD.findall(normalize_arabic(text).lower())


def _rouge_n(cand: list[str], ref: list[str], n: int) -> float:
    c = Counter(tuple(cand[i : i + n]) for i in range(len(cand) - n + 1))
    r = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
    overlap = sum((c & r).values())
    if not overlap:
        return 0.0
    p, rec = overlap / sum(c.values()), overlap / sum(r.values())
    return 2 * p * rec / (p + rec)


def _easc(by_budget: bool) -> tuple[float, float]:
    arts = _load(data_path("easc", "easc.jsonl"))
    refs = {a["id"]: [_tokens(s["text"]) for s in a["summaries"]] for a in arts}
    records = []
    for a in arts:
        rec = {"id": a["id"], "title": "", "text": a["text"], "lang": "ar"}
        if by_budget:
            rec["budget_words"] = round(sum(map(len, refs[a["id"]])) / len(refs[a["id"]]))
        records.append(rec)
    r1 = r2 = 0.0
    for out in summarise_records(records, sentences=None if by_budget else 3):
        cand = _tokens(" ".join(out["summary"]))
        r1 += sum(_rouge_n(cand, r, 1) for r in refs[out["id"]]) / len(refs[out["id"]])
        r2 += sum(_rouge_n(cand, r, 2) for r in refs[out["id"]]) / len(refs[out["id"]])
    return r1 / len(arts), r2 / len(arts)


def test_easc_three_sentences_floor() -> None:
    r1, r2 = _easc(by_budget=False)
    assert r1 >= 0.41 and r2 >= 0.35, (r1, r2)


def test_easc_budget_floor() -> None:
    r1, _ = _easc(by_budget=True)
    assert r1 >= 0.51, r1
