"""Benchmark: search recall and latency with the gva dev set planted among N generated articles.

For each size the corpus of `tests/search_corpus.py` is built (the 412 dev articles, then N
newer generated ones in their vocabulary, half English and half Arabic) on SQLite and/or
PostgreSQL. Printed per engine and size:

- recall@10 of same-event articles for every dev headline through `SearchRepo.search` (the
  path `/search` uses), next to an exhaustive BM25 over the same corpus in the same run
  (SQLite FTS5's own `bm25()` ordering every match of an OR of the query terms, no bound),
  and how many searches the bounds proved exact;
- p50 / p95 / max wall milliseconds per query shape: 1, 2 and 3 consecutive headline words
  (English and Arabic) and whole headlines, with the load average (the machine is shared).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_search.py [--sizes 20000 100000]
        [--engines sqlite postgres] [--queries 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from bot.pipeline.text import query_groups
from storage.db import Database, create_engine
from storage.migrate import upgrade_connection
from storage.repos.search import SearchRepo, fts5_query
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


def corpus(size: int) -> tuple[list[Row], DevSet, Generator]:
    """Dev rows then `size` generated rows, the gold, and the generator (for queries)."""
    gva = load_jsonl(DATA / "gva_event_clusters" / "articles.jsonl")
    saudi = load_jsonl(DATA / "saudinewsnet" / "articles.jsonl")
    rows, dev = dev_rows(gva)
    generator = Generator(gva, saudi)
    rows += list(generator.rows(len(rows) + 1, size, seed=7))
    return rows, dev, generator


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


async def measure(db: Database, dev: DevSet, queries: dict[str, list[str]]) -> None:
    """Print recall@10 with the exact share, then latency per shape."""
    recalls: list[float] = []
    exact = total = 0
    async with db.unit_of_work() as session:
        repo = SearchRepo(session)
        for row in dev.rows:
            own = dev.ids[row["id"]]
            result = await repo.search_detailed(query_groups(row["title"]), limit=10, now=NOW)
            exact += result.exact
            total += 1
            partners = dev.events[row["cluster_id"]] - {own}
            if partners:
                top = {i for i, _ in result.ranked}
                recalls.append(len(partners & top) / len(partners))
        print(f"  recall@10 {sum(recalls) / len(recalls):.3f}, exact {exact}/{total}")
        for shape, texts in queries.items():
            times: list[float] = []
            for query in texts:
                started = time.perf_counter()
                await repo.search(query_groups(query), limit=10, now=NOW)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(
                f"  {shape:12s} p50 {statistics.median(times):7.1f}  p95 {p95:7.1f}"
                f"  max {times[-1]:7.1f} ms   (load {os.getloadavg()[0]:.1f})"
            )


async def migrated(url: str, schema: str | None) -> Database:
    """A migrated Database."""
    args = {"server_settings": {"search_path": schema}} if schema else {}
    db = Database(url, connect_args=args) if schema else Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(upgrade_connection)
    return db


async def run(size: int, engines: list[str], per: int) -> None:
    """Build the corpus of one size on each engine and measure it."""
    rows, dev, generator = corpus(size)
    queries = shapes(dev, generator, per)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        await (await migrated(f"sqlite+aiosqlite:///{path}", None)).engine.dispose()
        started = time.perf_counter()
        load_sqlite(path, iter(rows))
        print(
            f"size {size}: {len(rows)} articles (SQLite built in {time.perf_counter() - started:.0f} s)"
        )
        print(f"  exhaustive FTS5 bm25 recall@10 {exhaustive_recall(path, dev):.3f}")
        if "sqlite" in engines:
            print(" SQLite")
            db = Database(f"sqlite+aiosqlite:///{path}")
            await measure(db, dev, queries)
            await db.engine.dispose()
    if "postgres" in engines:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            db = await migrated(POSTGRES_URL, schema)
            await load_postgres(db, schema, iter(rows))
            print(" PostgreSQL")
            await measure(db, dev, queries)
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
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    for size in args.sizes:
        asyncio.run(run(size, args.engines, args.queries))


if __name__ == "__main__":
    main()
