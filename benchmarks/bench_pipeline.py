"""Replay saudinewsnet through normalise -> cluster -> summarise -> related; print throughput.

Prints wall-clock and CPU-time rates (the CPU rate is the meaningful one on a shared,
loaded machine), cold (fresh process) and warm (token tables filled), and peak memory.

Each run is a fresh process (spawned), so every cold pass starts with empty tables; the
runs go one after another and the medians are printed with every run. Within a run the
cold pass is timed in parts with feedparser's parse of the whole stream after each, so the
pipeline/feedparser ratio compares rates taken over the same stretch of time. Peak memory
comes from one more process that runs the pipeline alone.

Usage: .venv/bin/python benchmarks/bench_pipeline.py [DATA_DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import resource
import statistics
import time
from collections import Counter
from collections.abc import Callable
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
PARTS = 3  # the cold pass is timed in this many parts, feedparser once after each


def _rss(rows: list[dict[str, str]]) -> str:
    """Render rows as one RSS 2.0 document."""
    items = "".join(
        f"<item><title>{escape(r['title'] or '')}</title><link>{escape(r['url'] or '')}</link>"
        f"<description>{escape(r['text'] or '')}</description>"
        f"<pubDate>{format_datetime(datetime.fromisoformat(r['published']))}</pubDate></item>"
        for r in rows
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>b</title>{items}</channel></rss>'


class Replay:
    """The pure pipeline over a stream, fed in chunks: cluster, summarise, related headlines."""

    def __init__(self) -> None:
        """A fresh clusterer and no stories yet."""
        self.clusterer = StoryClusterer()
        self.members: dict[int, list[Headline]] = {}

    def feed(self, rows: list[dict[str, str]]) -> None:
        """Run every row through the pipeline, in order."""
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
            story = self.clusterer.add(doc).story
            summarise(doc.title, doc.text, "ar")
            head = Headline(doc.id, doc.title, doc.source, doc.published, story)
            group = self.members.setdefault(story, [])
            related_headlines(head, group[-50:], limit=5)
            group.append(head)


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - t0, time.process_time() - c0


@dataclass(frozen=True)
class Run:
    """One fresh process's measurements."""

    cold: float  # articles per wall-second, empty token tables
    cold_cpu: float
    warm: float  # the same stream again, tables filled
    warm_cpu: float
    feed: float  # feedparser items per second on the same items
    stories: list[int]  # story sizes of the cold pass


def measure(base: Path) -> Run:
    """Replay the stream cold and warm and time feedparser on it, in this process."""
    with (base / "saudinewsnet" / "articles.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows.sort(key=lambda r: r["published"])
    # Cold: empty token/stem tables (a freshly started process). The stream goes through in
    # PARTS, and after each part feedparser parses the whole stream as one RSS document:
    # both rates come from the same stretch of time, so a machine that speeds up or slows
    # down during the run moves both. Warm: the same stream again through a fresh
    # clusterer, the token tables filled, as in a long-running bot.
    document = _rss(rows)
    cold = Replay()
    elapsed = cpu = feed_s = 0.0
    parsed_items = 0
    size = -(-len(rows) // PARTS)
    for at in range(0, len(rows), size):
        t0, c0 = time.perf_counter(), time.process_time()
        cold.feed(rows[at : at + size])
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        t0 = time.perf_counter()
        parsed = feedparser.parse(document)
        feed_s += time.perf_counter() - t0
        parsed_items += len(parsed.entries)
        del parsed  # not timed: the parse's objects go before the next part of the pass
        gc.collect()
    members = cold.members
    warm_elapsed, warm_cpu = _timed(lambda: Replay().feed(rows))
    n = len(rows)
    return Run(
        n / elapsed,
        n / cpu,
        n / warm_elapsed,
        n / warm_cpu,
        parsed_items / feed_s,
        [len(v) for v in members.values()],
    )


def pipeline_peak_mib(base: Path) -> float:
    """Peak RSS of a process that runs the pipeline alone, cold then warm (no feedparser)."""
    with (base / "saudinewsnet" / "articles.jsonl").open(encoding="utf-8") as f:
        rows = sorted((json.loads(line) for line in f), key=lambda r: r["published"])
    Replay().feed(rows)
    Replay().feed(rows)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
            f"items/s; ratio {run.cold / run.feed:.2f}"
        )
    ratios = [r.cold / r.feed for r in runs]
    with context.Pool(1) as pool:
        peak = pool.apply(pipeline_peak_mib, (args.data,))
    print(
        f"median of {len(runs)}: cold {statistics.median(r.cold for r in runs):.0f} articles/s, "
        f"warm {statistics.median(r.warm for r in runs):.0f}, feedparser "
        f"{statistics.median(r.feed for r in runs):.0f} items/s; pipeline/feedparser ratio "
        f"median {statistics.median(ratios):.2f} (runs {min(ratios):.2f}-{max(ratios):.2f}); "
        f"peak_rss of the pipeline alone {peak:.1f} MiB"
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
