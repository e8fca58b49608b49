"""Replay saudinewsnet through normalise -> cluster -> summarise -> related; print throughput.

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
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    doc_xml = _rss(rows)
    t1 = time.perf_counter()
    parsed = feedparser.parse(doc_xml)
    feed_s = time.perf_counter() - t1
    sizes = Counter(len(v) for v in members.values())
    rate, feed_rate = len(rows) / elapsed, len(parsed.entries) / feed_s
    print(
        f"articles={len(rows)} pipeline={rate:.0f} articles/s wall "
        f"({len(rows) / cpu:.0f} articles/s of CPU time) peak_rss={peak / 2**20:.1f} MiB"
    )
    print(
        f"feedparser raw parse={feed_rate:.0f} items/s  pipeline/feedparser ratio={rate / feed_rate:.2f}"
    )
    print(
        f"stories={len(members)} largest={max(len(v) for v in members.values())} size distribution={sorted(sizes.items())}"
    )


if __name__ == "__main__":
    main()
