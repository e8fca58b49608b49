"""Benchmark: search recall and latency with the gva dev set planted among N generated articles.

For each size the corpus of `tests/search_corpus.py` is built (the 412 dev articles, then N
newer generated ones in their vocabulary, half English and half Arabic) on SQLite and/or
PostgreSQL, and the Tantivy search index of each database (`bot.search_index`) is built
from it. Printed per engine, size and search path (`index`: the Tantivy index `/search`
uses once it has caught up; `database`: `SearchRepo`, its fallback; `service`, only when
asked: a whole `/search`, `SearchService.search` on the index, latency only):

- recall@10 of same-event articles for every dev headline, next to an exhaustive BM25 over
  the same corpus in the same run (SQLite FTS5's own `bm25()` ordering every match of an OR
  of the query terms, no bound), and how many searches were exact;
- p50 / p95 / max wall milliseconds per query shape: 1, 2 and 3 consecutive headline words
  (English and Arabic) and whole headlines, with the load average (the machine is shared),
  and the longest the event loop went without a turn while the index path ran, next to the
  garbage collections that ran meanwhile (per generation: how many, the longest).

Before measuring, the benchmark drops what it holds only to build the corpus and settles the
heap as `akhbar run` does once its services are built (`bot.looplag.settle_startup_heap`:
collect, then freeze): otherwise a full collection would walk the benchmark's own objects
(the generator's vocabularies, query lists, SQLAlchemy and Tantivy start-up state) on the
event loop's thread, a stall a bot process does not have. `--no-settle` measures without it.

`--keep DIR` keeps the SQLite database (`DIR/bench-<size>.db`) and its search index
(`DIR/index-<size>`) and reuses them on the next run (a 1,000,000-article build takes
minutes); the exhaustive recall is still computed in the same run unless `--no-exhaustive`.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_search.py [--sizes 20000 100000]
        [--engines sqlite postgres] [--paths index database service] [--queries 40]
        [--no-exhaustive] [--keep DIR] [--no-settle]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from sqlalchemy import text

from bot.looplag import settle_startup_heap
from bot.pipeline.bm25 import Group
from bot.pipeline.text import query_groups
from bot.search import SearchService
from bot.search_index import SearchIndex
from storage.db import Database, create_engine
from storage.migrate import upgrade_connection
from storage.repos.search import SearchRepo, clean_groups, fts5_query
from tests.search_corpus import (
    NOW,
    DevSet,
    Generator,
    Row,
    dev_rows,
    load_jsonl,
    load_postgres,
    load_sqlite,
)

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
Search = Callable[[list[Group]], Awaitable[tuple[list[int], bool]]]


class Corpus:
    """Dev rows then `size` generated rows (regenerated per engine, never all in memory)."""

    def __init__(self, size: int) -> None:
        """Read the shared data and the dev gold."""
        gva = load_jsonl(DATA / "gva_event_clusters" / "articles.jsonl")
        saudi = load_jsonl(DATA / "saudinewsnet" / "articles.jsonl")
        self.size = size
        self.dev_rows, self.dev = dev_rows(gva)
        self.generator = Generator(gva, saudi)

    def rows(self) -> Iterator[Row]:
        """Every row, in id order."""
        yield from self.dev_rows
        yield from self.generator.rows(len(self.dev_rows) + 1, self.size, seed=7)


def shapes(dev: DevSet, generator: Generator, per: int) -> dict[str, list[str]]:
    """Query texts per shape: 1-3 consecutive headline words per language, whole headlines."""
    rng = random.Random(11)
    titles = {"en": [r["title"] for r in dev.rows], "ar": [t for t, _ in generator.ar_titles]}
    out: dict[str, list[str]] = {}
    for lang, pool in titles.items():
        for words in (1, 2, 3):
            chosen: list[str] = []
            while len(chosen) < per:
                tokens = rng.choice(pool).split()
                if len(tokens) >= words:
                    start = rng.randrange(len(tokens) - words + 1)
                    chosen.append(" ".join(tokens[start : start + words]))
            out[f"{lang} {words}w"] = chosen
        out[f"{lang} headline"] = rng.sample(pool, per)
    return out


def exhaustive_recall(path: Path, dev: DevSet) -> float:
    """Recall@10 of FTS5's own bm25() over every match of each headline's terms."""
    conn = sqlite3.connect(path)
    recalls: list[float] = []
    for row in dev.rows:
        own = dev.ids[row["id"]]
        partners = dev.events[row["cluster_id"]] - {own}
        if not partners:
            continue
        terms = [t for group in query_groups(row["title"]) for t in group]
        top = {
            r[0]
            for r in conn.execute(
                "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?"
                " ORDER BY bm25(articles_fts) LIMIT 10",
                (fts5_query(terms),),
            )
        }
        recalls.append(len(partners & top) / len(partners))
    conn.close()
    return sum(recalls) / len(recalls)


class LoopWatch:
    """The longest the event loop went without a turn while it ran, and how much of that
    stall its thread spent runnable but waiting for a CPU (Linux schedstat; the machine is
    shared, so a stall can be another process's turn rather than anything of ours)."""

    def __init__(self, tick: float = 0.002) -> None:
        """Check every `tick` seconds."""
        self.tick = tick
        self.worst = 0.0
        self.worst_waiting = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        """Sleep a tick at a time and record how late each wake-up was."""
        while True:
            started, waited = time.perf_counter(), run_queue_seconds()
            await asyncio.sleep(self.tick)
            lag = time.perf_counter() - started - self.tick
            if lag > self.worst:
                self.worst, self.worst_waiting = lag, run_queue_seconds() - waited

    def line(self) -> str:
        """The longest stall in ms, with its share spent waiting for a CPU."""
        return (
            f"longest without a turn {self.worst * 1000:.1f} ms (its thread waited"
            f" {self.worst_waiting * 1000:.1f} ms for a CPU over that tick)"
        )

    def __enter__(self) -> LoopWatch:
        """Start watching."""
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()


def run_queue_seconds() -> float:
    """Seconds this thread has spent runnable but not running (0 where not on Linux)."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as handle:
            return int(handle.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class GcWatch:
    """Every garbage collection while it is on: generation and duration (`gc.callbacks`)."""

    def __init__(self) -> None:
        """Nothing recorded yet."""
        self.passes: list[tuple[int, float]] = []  # (generation, seconds)
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        """Time one collection from its start to its stop."""
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.passes.append((info["generation"], time.perf_counter() - self._started))

    def __enter__(self) -> GcWatch:
        """Start recording."""
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop recording."""
        gc.callbacks.remove(self._callback)

    def line(self) -> str:
        """Collections per generation with the longest of each, in ms."""
        parts = []
        for generation in (0, 1, 2):
            times = [t for g, t in self.passes if g == generation]
            if times:
                parts.append(f"gen{generation} {len(times)} (longest {max(times) * 1000:.1f} ms)")
        return ", ".join(parts) or "none"


def database_search(repo: SearchRepo) -> Search:
    """The database path's top 10 and whether it was exact."""

    async def search(groups: list[Group]) -> tuple[list[int], bool]:
        result = await repo.search_detailed(groups, limit=10, now=NOW)
        return [i for i, _ in result.ranked], result.exact

    return search


def index_search(index: SearchIndex) -> Search:
    """The index path's top 10 and whether it was exact."""

    async def search(groups: list[Group]) -> tuple[list[int], bool]:
        answer = await index.search(groups, limit=10, now=NOW)
        if answer is None:
            raise RuntimeError("the search index did not answer")
        return [i for i, _ in answer[0]], answer[1]

    return search


async def measure(search: Search, dev: DevSet, queries: dict[str, list[str]]) -> None:
    """Print recall@10 with the exact share, then latency per shape."""
    recalls: list[float] = []
    exact = total = 0
    with LoopWatch() as watch, GcWatch() as collections:
        for row in dev.rows:
            own = dev.ids[row["id"]]
            found, was_exact = await search(clean_groups(query_groups(row["title"])))
            exact += was_exact
            total += 1
            partners = dev.events[row["cluster_id"]] - {own}
            if partners:
                recalls.append(len(partners & set(found)) / len(partners))
        print(f"   recall@10 {sum(recalls) / len(recalls):.3f}, exact {exact}/{total}")
        for shape, texts in queries.items():
            times: list[float] = []
            inexact = 0
            for query in texts:
                groups = clean_groups(query_groups(query))
                started = time.perf_counter()
                _, was_exact = await search(groups)
                times.append((time.perf_counter() - started) * 1000)
                inexact += not was_exact
            print(latency_line(shape, times, f"exact {len(texts) - inexact}/{len(texts)}"))
    print_loop(watch, collections)


def latency_line(shape: str, times: list[float], note: str = "") -> str:
    """p50 / p95 / max of one shape's wall times (ms), with the load average."""
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return (
        f"   {shape:12s} p50 {statistics.median(times):7.1f}  p95 {p95:7.1f}"
        f"  max {times[-1]:7.1f} ms  {note}  (load {os.getloadavg()[0]:.1f})"
    )


def print_loop(watch: LoopWatch, collections: GcWatch) -> None:
    """The longest loop stall and the garbage collections while a path ran."""
    print(f"   event loop: {watch.line()}")
    print(
        f"   garbage collections meanwhile: {collections.line()};"
        f" {len(gc.get_objects())} tracked objects, {gc.get_freeze_count()} frozen"
    )


async def measure_service(service: SearchService, queries: dict[str, list[str]]) -> None:
    """Latency per shape of a whole `/search` (`SearchService.search`: the top 100 from the
    index, their rows read back, grouped by story), and the loop meanwhile."""
    with LoopWatch() as watch, GcWatch() as collections:
        for shape, texts in queries.items():
            times: list[float] = []
            for query in texts:
                started = time.perf_counter()
                await service.search(query, now=NOW)
                times.append((time.perf_counter() - started) * 1000)
            print(latency_line(shape, times))
    print_loop(watch, collections)


async def migrated(url: str, schema: str | None) -> Database:
    """A migrated Database."""
    args = {"server_settings": {"search_path": schema}} if schema else {}
    db = Database(url, connect_args=args) if schema else Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(upgrade_connection)
    return db


async def measure_paths(
    db: Database,
    folder: Path,
    dev: DevSet,
    queries: dict[str, list[str]],
    paths: list[str],
    settle: bool,
) -> None:
    """Build (or catch up) the database's search index, settle the heap, measure each path."""
    index = SearchIndex(db, folder)
    started = time.perf_counter()
    if {"index", "service"} & set(paths):
        if not await index.prepare():
            raise RuntimeError(f"search index not ready: {index.reason}")
        state = await index.state()
        print(
            f"  index built in {time.perf_counter() - started:.0f} s ({state.documents} articles)"
        )
    if settle:
        print(f"  heap settled as `akhbar run` does: {settle_startup_heap()} objects frozen")
    with LoopWatch() as idle:
        await asyncio.sleep(3.0)
    print(f"  event loop idle for 3 s: {idle.line()} (noise)")
    try:
        for path in paths:
            print(f"  path {path}")
            if path == "index":
                await measure(index_search(index), dev, queries)
            elif path == "service":
                await measure_service(SearchService(db, index=index), queries)
            else:
                async with db.unit_of_work() as session:
                    await measure(database_search(SearchRepo(session)), dev, queries)
    finally:
        await index.close()
        if settle:
            gc.unfreeze()


async def sqlite_corpus(folder: Path, corpus: Corpus, keep: bool) -> Path:
    """The corpus's SQLite file in `folder`: reused when kept from an earlier run, else built."""
    path = folder / f"bench-{corpus.size}.db"
    done = folder / f"bench-{corpus.size}.done"
    if keep and done.exists():
        print(f"size {corpus.size}: reusing {path}")
        return path
    path.unlink(missing_ok=True)
    await (await migrated(f"sqlite+aiosqlite:///{path}", None)).engine.dispose()
    started = time.perf_counter()
    load_sqlite(path, corpus.rows())
    done.write_text("built\n")
    print(
        f"size {corpus.size}: {len(corpus.dev_rows) + corpus.size} articles"
        f" (SQLite built in {time.perf_counter() - started:.0f} s)"
    )
    return path


async def run(
    size: int,
    engines: list[str],
    paths: list[str],
    per: int,
    exhaustive: bool = True,
    keep: Path | None = None,
    settle: bool = True,
) -> None:
    """Build (or reuse) the corpus of one size on each engine and measure it."""
    corpus = Corpus(size)
    queries = shapes(corpus.dev, corpus.generator, per)
    with contextlib.ExitStack() as stack:
        if keep is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            folder = keep
            folder.mkdir(parents=True, exist_ok=True)
        path = await sqlite_corpus(folder, corpus, keep is not None)
        started = time.perf_counter()
        if exhaustive:
            recall = exhaustive_recall(path, corpus.dev)
            print(
                f"  exhaustive FTS5 bm25 recall@10 {recall:.3f}"
                f" ({time.perf_counter() - started:.0f} s for {len(corpus.dev.rows)} headlines)"
            )
        else:
            print("  exhaustive FTS5 recall not computed (--no-exhaustive)")
        if "sqlite" in engines:
            print(" SQLite")
            db = Database(f"sqlite+aiosqlite:///{path}")
            index_dir = folder / f"index-{size}"
            await measure_paths(db, index_dir, corpus.dev, queries, paths, settle)
            await db.engine.dispose()
    if "postgres" in engines:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            db = await migrated(POSTGRES_URL, schema)
            started = time.perf_counter()
            await load_postgres(db, schema, corpus.rows())
            print(f" PostgreSQL (built in {time.perf_counter() - started:.0f} s)")
            with tempfile.TemporaryDirectory() as folder:
                await measure_paths(db, Path(folder), corpus.dev, queries, paths, settle)
            await db.engine.dispose()
        finally:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await admin.dispose()


def main() -> None:
    """Parse arguments and run every size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 20_000, 100_000])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--paths", nargs="+", default=["index", "database"])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument(
        "--no-exhaustive", action="store_true", help="skip the exhaustive FTS5 recall (slow at 1M)"
    )
    parser.add_argument(
        "--keep", type=Path, help="keep the SQLite database and index here and reuse them"
    )
    parser.add_argument(
        "--no-settle", action="store_true", help="measure without settling the heap first"
    )
    args = parser.parse_args()
    for size in args.sizes:
        asyncio.run(
            run(
                size,
                args.engines,
                args.paths,
                args.queries,
                not args.no_exhaustive,
                args.keep,
                not args.no_settle,
            )
        )


if __name__ == "__main__":
    main()
