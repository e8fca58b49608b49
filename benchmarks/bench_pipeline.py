"""Replay saudinewsnet through normalise -> cluster -> summarise -> related; print throughput.

Prints wall-clock and CPU-time rates (the CPU rate is the meaningful one on a shared,
loaded machine), cold (fresh process) and warm (token tables filled), and peak memory.

Each run is a fresh process (spawned), so every cold pass starts with empty tables; the
runs go one after another and the medians are printed with every run.

Usage: .venv/bin/python benchmarks/bench_pipeline.py [DATA_DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import feedparser

from bot.pipeline.cluster import ClusterDoc, StoryClusterer
from bot.pipeline.related import Headline, related_headlines
from bot.pipeline.summarise import summarise
from bot.pipeline.text import matching_terms

ROOT = Path(__file__).resolve().parents[1]


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


@dataclass(frozen=True)
class Run:
    """One fresh process's measurements."""

    cold: float  # articles per wall-second, empty token tables
    cold_cpu: float
    warm: float  # the same stream again, tables filled
    warm_cpu: float
    feed: float  # feedparser items per second on the same items
    peak_mib: float
    stories: list[int]  # story sizes of the cold pass


def measure(base: Path) -> Run:
    """Replay the stream cold and warm and time feedparser on it, in this process."""
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
    n = len(rows)
    return Run(
        n / elapsed,
        n / cpu,
        n / warm_elapsed,
        n / warm_cpu,
        len(parsed.entries) / feed_s,
        peak / 2**20,
        [len(v) for v in members.values()],
    )


def main() -> None:
    """Measure in `--runs` fresh processes, one after another, and print every run and the
    medians: one run on a shared machine can be off by a third either way."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", nargs="?", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes (default 3)")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    runs: list[Run] = []
    for index in range(args.runs):
        with context.Pool(1) as pool:
            run = pool.apply(measure, (args.data,))
        runs.append(run)
        print(
            f"run {index + 1}: cold {run.cold:.0f} articles/s wall ({run.cold_cpu:.0f} per "
            f"CPU-s), warm {run.warm:.0f} ({run.warm_cpu:.0f}); feedparser {run.feed:.0f} "
            f"items/s; ratio {run.cold / run.feed:.2f}; peak_rss={run.peak_mib:.1f} MiB"
        )
    ratios = [r.cold / r.feed for r in runs]
    print(
        f"median of {len(runs)}: cold {statistics.median(r.cold for r in runs):.0f} articles/s, "
        f"warm {statistics.median(r.warm for r in runs):.0f}, feedparser "
        f"{statistics.median(r.feed for r in runs):.0f} items/s; pipeline/feedparser ratio "
        f"median {statistics.median(ratios):.2f} (runs {min(ratios):.2f}-{max(ratios):.2f})"
    )
    sizes = Counter(runs[0].stories)
    n = sum(runs[0].stories)
    largest = max(runs[0].stories)
    print(
        f"stories={len(runs[0].stories)} largest={largest} ({100 * largest / n:.1f}% of "
        f"articles) size distribution={sorted(sizes.items())}"
    )


if __name__ == "__main__":
    main()
