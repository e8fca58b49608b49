"""NTREX stream pair scores when the linker's lexical stories are formed by a clusterer variant.

As tests/test_xlink.py, but the stream is clustered with each variant (ClusterConfig
overrides, as in tools/sweep_clustering.py; every article carries its cached use-m3
vector of headline + lead) before the shipped linker joins stories across languages.
Prints per variant the pair recall / precision / F1 and the lexical stories that mix
gold events with at least one NTREX article among them.

    nice -n 15 .venv/bin/python tools/xlink_variant.py [variant ...]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.pipeline.cluster import ClusterConfig  # noqa: E402
from bot.pipeline.xlink import LinkArticle, link_stories, merged_story_keys  # noqa: E402
from tests.xling_stream import score_pairs  # noqa: E402
from tools.cluster_vectors import ntrex_stream, vectors_for  # noqa: E402
from tools.sweep_clustering import cluster_with_vectors, parse_variant  # noqa: E402


def mixed_stories(
    records: list[dict[str, Any]], gold: dict[str, str], stories: dict[str, int]
) -> list[list[str]]:
    """Ids of each lexical story that holds an NTREX article and more than one gold event."""
    members: dict[int, list[str]] = defaultdict(list)
    for record in records:
        members[stories[record["id"]]].append(record["id"])
    return [
        ids
        for ids in members.values()
        if any(i.startswith("ntrex") for i in ids) and len({gold.get(i, i) for i in ids}) > 1
    ]


def linked(
    records: list[dict[str, Any]], vectors: list[Any], stories: dict[str, int]
) -> dict[str, int]:
    """Story per article id after the shipped linker joins the lexical stories."""
    articles = [
        LinkArticle(r["id"], stories[r["id"]], r["lang"], datetime.fromisoformat(r["published"]), v)
        for r, v in zip(records, vectors, strict=True)
    ]
    merged = merged_story_keys(link_stories(articles))
    return {key: merged.get(story, story) for key, story in stories.items()}


def main() -> None:
    """Score the shipped clusterer and each variant named on the command line."""
    records, gold = ntrex_stream()
    vectors = vectors_for(records)
    rows = [v.tolist() for v in vectors]
    titles = {r["id"]: r["title"] for r in records}
    for arg in ["shipped", *sys.argv[1:]]:
        name, overrides = parse_variant(arg)
        stories = cluster_with_vectors(records, replace(ClusterConfig(), **overrides), rows)
        score = score_pairs(gold, linked(records, list(vectors), stories))
        print(f"{name}: lexical stories {len(set(stories.values()))}; linked {score}")
        for ids in mixed_stories(records, gold, stories):
            index = [next(k for k, r in enumerate(records) if r["id"] == i) for i in ids]
            block = np.stack([vectors[k] for k in index])
            sims = block @ block.T
            low = float(sims[np.triu_indices(len(ids), 1)].min())
            print(f"  mixed story (min pair cosine {low:.2f}):")
            for i in ids:
                print(f"    {i[:28]:<28} {titles[i][:70]!r}")


if __name__ == "__main__":
    main()
