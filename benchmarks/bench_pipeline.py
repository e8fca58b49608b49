"""Replay saudinewsnet through normalise -> cluster -> summarise -> related; print throughput.

Prints wall-clock and CPU-time rates (the CPU rate is the meaningful one on a shared,
loaded machine), cold (fresh process) and warm (token tables filled), and peak memory.

Usage: .venv/bin/python benchmarks/bench_pipeline.py [DATA_DIR]
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections import Counter
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import feedparser

from bot.pipeline.cluster import ClusterDoc, StoryClusterer
from bot.pipeline.related import Headline, related_headlines
from bot.pipeline.summarise import summarise
from bot.pipeline.text import matching_terms


def _rss(rows: list[dict[str, str]]) -> str:
    """Render rows as one RSS 2.0 document."""
    items = "".join(
        f"<item><title>{escape(r['title'] or '')}</title><link>{escape(r['url'] or '')}</link>"
        f"<description>{escape(r['text'] or '')}</description>"
        f"<pubDate>{format_datetime(datetime.fromisoformat(r['published']))}</pubDate></item>"
        for r in rows
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>b</title>{items}</channel></rss>'


def _replay(rows: list[dict[str, str]]) -> tuple[float, float, dict[int, list[Headline]]]:
    """One pass of the pure pipeline over rows; (wall seconds, CPU seconds, story members)."""
    clusterer = StoryClusterer()
    members: dict[int, list[Headline]] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for r in rows:
        matching_terms(r["title"] or "")
        doc = ClusterDoc(
            r["id"],
            r["title"] or "",
            r["text"] or "",
            lang="ar",
            published=datetime.fromisoformat(r["published"]),
            source=r["source"],
        )
        story = clusterer.add(doc).story
        summarise(doc.title, doc.text, "ar")
        head = Headline(doc.id, doc.title, doc.source, doc.published, story)
        group = members.setdefault(story, [])
        related_headlines(head, group[-50:], limit=5)
        group.append(head)
    return time.perf_counter() - t0, time.process_time() - c0, members


def main() -> None:
    """Run the benchmark and print the numbers."""
    base = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    with (base / "saudinewsnet" / "articles.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows.sort(key=lambda r: r["published"])
    # Cold: empty token/stem tables (a freshly started process). Warm: the same stream
    # again through a fresh clusterer, with the token tables already filled, as in a
    # long-running bot whose vocabulary has been seen.
    elapsed, cpu, members = _replay(rows)
    warm_elapsed, warm_cpu, _ = _replay(rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    doc_xml = _rss(rows)
    t1 = time.perf_counter()
    parsed = feedparser.parse(doc_xml)
    feed_s = time.perf_counter() - t1
    sizes = Counter(len(v) for v in members.values())
    n = len(rows)
    rate, feed_rate = n / elapsed, len(parsed.entries) / feed_s
    print(
        f"articles={n} cold: {rate:.0f} articles/s wall, {n / cpu:.0f} articles/s of CPU time; "
        f"warm: {n / warm_elapsed:.0f} wall, {n / warm_cpu:.0f} CPU; peak_rss={peak / 2**20:.1f} MiB"
    )
    print(
        f"feedparser raw parse={feed_rate:.0f} items/s  pipeline/feedparser ratio={rate / feed_rate:.2f}"
    )
    largest = max(len(v) for v in members.values())
    print(
        f"stories={len(members)} largest={largest} ({100 * largest / n:.1f}% of articles) "
        f"size distribution={sorted(sizes.items())}"
    )


if __name__ == "__main__":
    main()
