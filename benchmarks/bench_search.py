"""Benchmark: search latency over N generated articles on SQLite and PostgreSQL.

Articles are made by recombining real headlines and sentences of the shared Arabic
(saudinewsnet) and English (gva_event_clusters) data: each gets a random headline of its
language plus 3-6 random sentences of it, published at a random time in the last 60
days, with its search text precomputed from the sentences' matching terms. They are
bulk-loaded (SQLite: one transaction with the FTS5 triggers off, then one FTS5 `rebuild`;
PostgreSQL: COPY into a throwaway schema with the GIN index dropped, the stored search
vector filling in as a generated column, then CREATE INDEX). Queries are 1, 2 and 3
consecutive matching terms of real headlines, run through `SearchRepo.search` (the code
path `/search` uses), limit 10. Each case reports p50/p95 wall time and p50/p95 CPU time
(this process plus, on a local PostgreSQL, the backend serving it), with the load average:
on a shared machine the CPU figures are the steadier ones.

    .venv/bin/python benchmarks/bench_search.py [--articles 1000000] [--queries 50]
        [--engines sqlite postgres] [--postgres-url URL] [--sqlite-path PATH]
        [--postgres-schema NAME] [--reuse]

With `--sqlite-path` and/or `--postgres-schema` the built database is kept; adding
`--reuse` measures the kept one again without rebuilding (to compare query strategies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bot.pipeline.text import matching_terms
from storage.db import Database, create_engine
from storage.fts import POSTGRES_FTS_INDEX
from storage.migrate import upgrade_connection
from storage.repos.search import SearchRepo

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SOURCES = {
    "ar": DATA / "saudinewsnet" / "articles.jsonl",
    "en": DATA / "gva_event_clusters" / "articles.jsonl",
}
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
_SENTENCE_END = re.compile(r"(?<=[.!?؟])\s+|\n+")
Piece = tuple[str, str]  # (raw text, its matching terms joined by spaces)


def load_pieces() -> dict[str, tuple[list[Piece], list[Piece]]]:
    """Per language: (headlines, sentences), each with its precomputed matching terms."""
    pieces: dict[str, tuple[list[Piece], list[Piece]]] = {}
    for lang, path in SOURCES.items():
        titles: list[Piece] = []
        sentences: list[Piece] = []
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                title = (row.get("title") or "").strip()
                if title:
                    titles.append((title, " ".join(matching_terms(title))))
                for sentence in _SENTENCE_END.split(row.get("text") or ""):
                    sentence = sentence.strip()
                    if 30 <= len(sentence) <= 400:
                        sentences.append((sentence, " ".join(matching_terms(sentence))))
        pieces[lang] = (titles, sentences)
    return pieces


def generate(
    n: int, pieces: dict[str, tuple[list[Piece], list[Piece]]], seed: int
) -> Iterator[tuple[object, ...]]:
    """Rows (id, url, title, text, lang, published_at, search_text) of n articles."""
    rng = random.Random(seed)
    for article_id in range(1, n + 1):
        lang = "ar" if rng.random() < 0.5 else "en"
        titles, sentences = pieces[lang]
        title, title_terms = rng.choice(titles)
        body = rng.sample(sentences, rng.randint(3, 6))
        published = (NOW - timedelta(seconds=rng.randrange(60 * 86400))).replace(tzinfo=None)
        yield (
            article_id,
            f"https://bench.test/{article_id}",
            title,
            "\n".join(s for s, _ in body),
            lang,
            published,
            " ".join([title_terms, *(t for _, t in body)]),
        )


def make_queries(
    pieces: dict[str, tuple[list[Piece], list[Piece]]], per_case: int, seed: int
) -> dict[tuple[str, int], list[list[str]]]:
    """Per (language, word count): queries of consecutive headline terms."""
    rng = random.Random(seed + 1)
    queries: dict[tuple[str, int], list[list[str]]] = {}
    for lang, (titles, _) in pieces.items():
        for words in (1, 2, 3):
            chosen: list[list[str]] = []
            while len(chosen) < per_case:
                terms = rng.choice(titles)[1].split()
                if len(terms) >= words:
                    start = rng.randrange(len(terms) - words + 1)
                    chosen.append(terms[start : start + words])
            queries[(lang, words)] = chosen
    return queries


async def migrate(db: Database) -> None:
    """Create the schema (tables and full-text index) in an empty database."""
    async with db.engine.begin() as conn:
        await conn.run_sync(upgrade_connection)


def load_sqlite(path: Path, rows: Iterator[tuple[object, ...]]) -> None:
    """Bulk insert into SQLite in one transaction, then build the FTS5 index in one pass.

    The FTS5 sync triggers are taken off for the load (their definitions are read back
    from `sqlite_master`, so the migration stays the only place they are written) and put
    back afterwards; `rebuild` indexes every row from the external content table at once,
    which is far faster than one trigger-driven insert per row.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'articles'"
        " AND name LIKE 'articles_fts_%'"
    ).fetchall()
    sql = (
        "INSERT INTO articles (id, url, title, text, lang, published_at, search_text, lede,"
        " fetched_at, fanned_out) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, 1)"
    )
    fetched = NOW.replace(tzinfo=None).isoformat(sep=" ")
    conn.execute("BEGIN")
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    batch: list[tuple[object, ...]] = []
    for row in rows:
        values = list(row)
        values[5] = row[5].isoformat(sep=" ")  # type: ignore[attr-defined]
        batch.append((*values, fetched))
        if len(batch) >= 50_000:
            conn.executemany(sql, batch)
            batch.clear()
    if batch:
        conn.executemany(sql, batch)
    conn.execute("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")
    for _, trigger_sql in triggers:
        conn.execute(trigger_sql)
    conn.execute("COMMIT")
    conn.execute("INSERT INTO articles_fts(articles_fts) VALUES ('optimize')")
    conn.execute("ANALYZE")
    conn.close()


async def load_postgres(db: Database, schema: str, rows: Iterator[tuple[object, ...]]) -> None:
    """COPY into PostgreSQL with the full-text GIN index dropped, then rebuild it and ANALYZE.

    The index definition is read back from `pg_indexes`, so the migration stays the only
    place it is written; the stored search vector (a generated column) fills in on COPY.
    """
    async with db.engine.begin() as conn:
        index_sql = await conn.scalar(
            text(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = :s AND tablename = 'articles'"
                " AND indexname = :i"
            ),
            {"s": schema, "i": POSTGRES_FTS_INDEX},
        )
        await conn.execute(text(f"DROP INDEX IF EXISTS {POSTGRES_FTS_INDEX}"))
    fetched = NOW.replace(tzinfo=None)
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        batch: list[tuple[object, ...]] = []
        columns = ["id", "url", "title", "text", "lang", "published_at", "search_text"]
        columns += ["lede", "fetched_at", "fanned_out"]
        for row in rows:
            batch.append((*row, "", fetched, True))
            if len(batch) >= 50_000:
                await driver.copy_records_to_table(
                    "articles", records=batch, columns=columns, schema_name=schema
                )
                batch.clear()
        if batch:
            await driver.copy_records_to_table(
                "articles", records=batch, columns=columns, schema_name=schema
            )
    async with db.engine.begin() as conn:
        await conn.execute(text("SET maintenance_work_mem = '1GB'"))
        if index_sql:
            await conn.execute(text(str(index_sql)))
        await conn.execute(text("ANALYZE articles"))


Result = tuple[float, float, float, float, float]  # p50, p95 wall; p50, p95 CPU ms; hits


def backend_cpu_ns(pid: int | None) -> int:
    """CPU time (ns) a local PostgreSQL backend has run, from /proc; 0 when unreadable."""
    if pid is None:
        return 0
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p95) of the values (p95 as the nearest rank)."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


async def measure(
    db: Database, queries: dict[tuple[str, int], list[list[str]]]
) -> dict[tuple[str, int], Result]:
    """Wall and CPU percentiles and mean hits per (language, word count), after a warm-up.

    Each query's `SearchRepo.search` call is timed inside its unit of work. CPU is this
    process's (aiosqlite's thread included) plus, on PostgreSQL, the serving backend's,
    read from /proc when the server is local: the machine is shared, so CPU is the steadier
    figure and wall time includes waiting for a core.
    """
    postgres = db.dialect == "postgresql"
    results: dict[tuple[str, int], Result] = {}
    for case, case_queries in queries.items():
        for terms in case_queries[:5]:
            async with db.unit_of_work() as session:
                await SearchRepo(session).search(terms, limit=10, now=NOW)
        walls: list[float] = []
        cpus: list[float] = []
        hits = 0
        for terms in case_queries:
            async with db.unit_of_work() as session:
                pid = await session.scalar(text("SELECT pg_backend_pid()")) if postgres else None
                server = backend_cpu_ns(pid)
                cpu, start = time.process_time(), time.perf_counter()
                found = await SearchRepo(session).search(terms, limit=10, now=NOW)
                walls.append((time.perf_counter() - start) * 1000)
                server = backend_cpu_ns(pid) - server
                cpus.append((time.process_time() - cpu) * 1000 + server / 1e6)
            hits += len(found)
        results[case] = (*percentiles(walls), *percentiles(cpus), hits / len(case_queries))
    return results


def print_table(
    engine: str, n: int, load_s: float | None, results: dict[tuple[str, int], Result]
) -> None:
    """Print one engine's results."""
    built = (
        "reused an existing build" if load_s is None else f"loaded and indexed in {load_s:.0f} s"
    )
    load = os.getloadavg()[0]
    print(f"\n{engine}: {n:,} articles, {built}; load average {load:.1f} on {os.cpu_count()} cores")
    print(
        f"{'lang':<5} {'words':>5} {'p50 ms':>8} {'p95 ms':>8} {'p50 CPU':>8} {'p95 CPU':>8} {'hits':>6}"
    )
    for (lang, words), (p50, p95, c50, c95, hits) in results.items():
        print(f"{lang:<5} {words:>5} {p50:>8.1f} {p95:>8.1f} {c50:>8.1f} {c95:>8.1f} {hits:>6.1f}")


async def run_sqlite(
    n: int,
    pieces: dict[str, tuple[list[Piece], list[Piece]]],
    queries: dict[tuple[str, int], list[list[str]]],
    seed: int,
    path: Path | None,
    reuse: bool,
) -> None:
    """Build (or, with `reuse`, reopen a kept file), measure and report SQLite."""
    with tempfile.TemporaryDirectory() as tmp:
        file = path or Path(tmp) / "bench.db"
        load_s: float | None = None
        if not (reuse and file.exists()):
            if file.exists():
                file.unlink()
            db = Database(f"sqlite+aiosqlite:///{file}")
            await migrate(db)
            await db.dispose()
            start = time.perf_counter()
            load_sqlite(file, generate(n, pieces, seed))
            load_s = time.perf_counter() - start
        db = Database(f"sqlite+aiosqlite:///{file}")
        try:
            count = await _article_count(db)
            print_table("SQLite FTS5", count, load_s, await measure(db, queries))
        finally:
            await db.dispose()


async def run_postgres(
    n: int,
    pieces: dict[str, tuple[list[Piece], list[Piece]]],
    queries: dict[tuple[str, int], list[list[str]]],
    seed: int,
    url: str,
    keep_schema: str | None,
    reuse: bool,
) -> None:
    """Build, measure and report PostgreSQL in a throwaway schema (or a kept, named one)."""
    schema = keep_schema or f"bench_{uuid.uuid4().hex[:10]}"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
        raise SystemExit(f"schema name must be a plain lower-case identifier: {schema!r}")
    admin = create_engine(url)
    async with admin.begin() as conn:
        exists = await conn.scalar(
            text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
        )
        if exists and not reuse:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        if not (exists and reuse):
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        load_s: float | None = None
        if not (exists and reuse):
            await migrate(db)
            start = time.perf_counter()
            await load_postgres(db, schema, generate(n, pieces, seed))
            load_s = time.perf_counter() - start
        count = await _article_count(db)
        print_table("PostgreSQL tsvector/GIN", count, load_s, await measure(db, queries))
    finally:
        await db.dispose()
        if keep_schema is None:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


async def _article_count(db: Database) -> int:
    """How many articles the benchmark database holds."""
    async with db.unit_of_work() as session:
        return int(await session.scalar(text("SELECT count(*) FROM articles")) or 0)


async def main() -> None:
    """Parse flags, build the corpora, run each engine."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=50, help="queries per language and length")
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--sqlite-path", type=Path, default=None)
    parser.add_argument(
        "--postgres-schema",
        default=None,
        help="build into this named schema and keep it (default: a throwaway schema)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure an existing --sqlite-path file / --postgres-schema instead of rebuilding",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    pieces = load_pieces()
    queries = make_queries(pieces, args.queries, args.seed)
    for lang, (titles, sentences) in pieces.items():
        print(f"{lang}: {len(titles)} headlines, {len(sentences)} sentences to recombine")
    if "sqlite" in args.engines:
        await run_sqlite(args.articles, pieces, queries, args.seed, args.sqlite_path, args.reuse)
    if "postgres" in args.engines:
        await run_postgres(
            args.articles,
            pieces,
            queries,
            args.seed,
            args.postgres_url,
            args.postgres_schema,
            args.reuse,
        )


if __name__ == "__main__":
    asyncio.run(main())
