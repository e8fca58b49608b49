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
minutes); on PostgreSQL it keeps the database `akhbar_bench_<size>` (reused when it holds
every row and its GIN index) and its search index (`DIR/index-pg-<size>`). The exhaustive
recall is still computed in the same run unless `--no-exhaustive`; `--exhaustive-db FILE`
computes it on an SQLite corpus of the same size built earlier (opened immutable, never
written), so a PostgreSQL-only run need not build the SQLite one.

`--database-queries N` times only N queries per shape on the database path, and its recall
over N evenly spaced dev headlines (at 1,000,000 articles a PostgreSQL full-text search
can take seconds). Run under `nice`, the benchmark gives its PostgreSQL backends its own
niceness (the load, the GIN build and the reads; the machine is shared).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_search.py [--sizes 20000 100000]
        [--engines sqlite postgres] [--paths index database service] [--queries 40]
        [--no-exhaustive] [--exhaustive-db FILE] [--keep DIR] [--no-settle]
        [--database-queries N]
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
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.looplag import settle_startup_heap
from bot.pipeline.bm25 import Group
from bot.pipeline.text import query_groups
from bot.search import SearchService
from bot.search_index import SearchIndex
from storage.db import Database, create_engine
from storage.fts import POSTGRES_FTS_INDEX
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
ASYNCPG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
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
    """Recall@10 of FTS5's own bm25() over every match of each headline's terms (the file
    is opened immutable: read only, no lock, no WAL files written beside it)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
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


async def measure(
    search: Search, dev: DevSet, queries: dict[str, list[str]], headlines: int | None = None
) -> None:
    """Print recall@10 with the exact share (over `headlines` evenly spaced dev headlines,
    else all), then latency per shape."""
    recalls: list[float] = []
    exact = total = 0
    step = max(1, len(dev.rows) // headlines) if headlines else 1
    with LoopWatch() as watch, GcWatch() as collections:
        for row in dev.rows[::step][:headlines]:
            own = dev.ids[row["id"]]
            found, was_exact = await search(clean_groups(query_groups(row["title"])))
            exact += was_exact
            total += 1
            partners = dev.events[row["cluster_id"]] - {own}
            if partners:
                recalls.append(len(partners & set(found)) / len(partners))
        every = f" (1 headline in {step})" if step > 1 else ""
        print(f"   recall@10 {sum(recalls) / len(recalls):.3f}{every}, exact {exact}/{total}")
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
    """A migrated Database (on PostgreSQL, its sessions named as the benchmark's)."""
    postgres = url.startswith("postgresql")
    db = Database(url, connect_args=bench_session(schema)) if postgres else Database(url)
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
    database_queries: int | None = None,
) -> None:
    """Build (or catch up) the database's search index, settle the heap, measure each path
    (the database path on the first `database_queries` queries per shape when given)."""
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
                sample = {shape: texts[:database_queries] for shape, texts in queries.items()}
                async with db.unit_of_work() as session:
                    search = database_search(SearchRepo(session))
                    await measure(search, dev, sample, database_queries)
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
    exhaustive_db: Path | None = None,
    database_queries: int | None = None,
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
        path = exhaustive_db
        if "sqlite" in engines or (exhaustive and path is None):
            path = await sqlite_corpus(folder, corpus, keep is not None)
        started = time.perf_counter()
        if exhaustive and path is not None:
            recall = exhaustive_recall(path, corpus.dev)
            print(
                f"  exhaustive FTS5 bm25 recall@10 {recall:.3f} on {path}"
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
            with Renicer() as renicer:
                async with postgres_corpus(corpus, keep is not None) as db:
                    if keep is None:
                        index_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                    else:
                        index_dir = folder / f"index-pg-{size}"
                    await measure_paths(
                        db, index_dir, corpus.dev, queries, paths, settle, database_queries
                    )
            renicer.report()


BENCH_APPLICATION = "akhbar_bench_search"  # the application_name of the benchmark's sessions


class Renicer:
    """Gives the PostgreSQL backends of the benchmark's sessions the benchmark's own
    niceness while it is on (a thread polls `pg_stat_activity` every second; nothing when
    the benchmark is not niced or the server's processes are not this machine's to renice)."""

    def __init__(self) -> None:
        """The niceness to give: this process's own."""
        self.niceness = os.getpriority(os.PRIO_PROCESS, 0)
        self.reniced: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        """Renice every new backend of the benchmark's sessions until stopped."""
        asyncio.run(self._poll_async())

    async def _poll_async(self) -> None:
        """The polling loop, on this thread's own event loop and connection."""
        conn = await asyncpg.connect(ASYNCPG_DSN)
        try:
            while not self._stop.is_set():
                rows = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                    BENCH_APPLICATION,
                )
                for row in rows:
                    if row["pid"] not in self.reniced:
                        self.renice(row["pid"])
                await asyncio.sleep(1.0)
        finally:
            await conn.close()

    def renice(self, pid: int) -> None:
        """Give one backend the benchmark's niceness (skipped where not permitted)."""
        with contextlib.suppress(OSError):
            if os.getpriority(os.PRIO_PROCESS, pid) < self.niceness:
                os.setpriority(os.PRIO_PROCESS, pid, self.niceness)
            self.reniced.add(pid)

    def report(self) -> None:
        """How many backends were reniced."""
        if self.niceness > 0:
            print(f"  {len(self.reniced)} PostgreSQL backends reniced to {self.niceness}")

    def __enter__(self) -> Renicer:
        """Start polling when niced."""
        if self.niceness > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


@contextlib.asynccontextmanager
async def postgres_corpus(corpus: Corpus, keep: bool) -> AsyncIterator[Database]:
    """The corpus on PostgreSQL: kept in (and reused from) the database
    `akhbar_bench_<size>`, else in a schema of the test database dropped afterwards."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    expected = len(corpus.dev_rows) + corpus.size
    database = f"akhbar_bench_{corpus.size}"
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{database}"
    schema = "public" if keep else f"bench_{uuid.uuid4().hex[:8]}"
    try:
        if keep:
            exists = await admin_scalar(
                admin, "SELECT 1 FROM pg_database WHERE datname = :d", {"d": database}
            )
            if exists and await postgres_complete(url, expected):
                print(f" PostgreSQL: reusing database {database} ({expected} articles)")
                db = Database(url, connect_args=bench_session())
                yield db
                await db.engine.dispose()
                return
            await admin_execute(admin, f'DROP DATABASE IF EXISTS "{database}"')
            await admin_execute(admin, f'CREATE DATABASE "{database}"')
            db = await migrated(url, None)
        else:
            await admin_execute(admin, f'CREATE SCHEMA "{schema}"')
            db = await migrated(POSTGRES_URL, schema)
        started = time.perf_counter()
        seconds = await load_postgres(db, schema, corpus.rows())
        phases = ", ".join(f"{name} {value:.0f} s" for name, value in seconds.items())
        print(
            f" PostgreSQL: {expected} articles built in {time.perf_counter() - started:.0f} s"
            f" ({phases}){f'; kept as database {database}' if keep else ''}"
        )
        yield db
        await db.engine.dispose()
    finally:
        if not keep:
            await admin_execute(admin, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.dispose()


def bench_session(schema: str | None = None) -> dict[str, object]:
    """asyncpg connect arguments: the benchmark's application name (and a search path)."""
    settings = {"application_name": BENCH_APPLICATION}
    if schema:
        settings["search_path"] = schema
    return {"server_settings": settings}


async def postgres_complete(url: str, expected: int) -> bool:
    """Whether a kept corpus database holds `expected` articles and its GIN index."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM articles"))
            index = await conn.scalar(
                text("SELECT 1 FROM pg_indexes WHERE tablename = 'articles' AND indexname = :i"),
                {"i": POSTGRES_FTS_INDEX},
            )
    except Exception:  # a half-built database is rebuilt
        return False
    finally:
        await engine.dispose()
    return count == expected and index is not None


async def admin_execute(admin: AsyncEngine, sql: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    async with admin.connect() as conn:
        await conn.execute(text(sql))


async def admin_scalar(admin: AsyncEngine, sql: str, params: dict[str, object]) -> object:
    """One value read through the admin engine."""
    async with admin.connect() as conn:
        return await conn.scalar(text(sql), params)


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
        "--exhaustive-db", type=Path, help="an SQLite corpus of the same size for the exhaustive"
    )
    parser.add_argument(
        "--database-queries",
        type=int,
        help="queries per shape (and headlines) on the database path",
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
                args.exhaustive_db,
                args.database_queries,
            )
        )


if __name__ == "__main__":
    main()
