"""Search quality on gva_event_clusters: recall@10 of same-event articles for a headline query.

Measured twice: on the 412 dev articles alone, and with them planted among 20,000 newer
generated articles (`tests/search_corpus.py`) that share their vocabulary, so that common
query words match far more articles than any bounded pool would hold. Both search paths are
measured on both engines: the Tantivy index (`bot.search_index`, every dev headline) and
the database path it falls back to (`storage.repos.search`; on the planted corpus every
eighth headline, which keeps the test fast). The top 10 of a sample of queries are also
checked against a brute-force scoring of every article, and every headline must find its
own article. The corpus is built once per engine (bulk-loaded) and shared by both paths.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.pipeline.bm25 import Group, Key, idf, score_rows
from bot.pipeline.text import query_groups
from bot.search_index import SearchIndex
from storage.db import Database, create_engine
from storage.migrate import upgrade_connection
from storage.repos.search import SearchRepo, clean_groups
from tests.conftest import POSTGRES_URL
from tests.datapaths import data_path
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

RECALL_AT_10_FLOOR = 0.76  # dev set alone: measured 0.775 on both engines and both paths
# Among 20,000 generated articles an exhaustive FTS5 bm25() gets 0.549; 0.52 is 0.95 of that.
# Measured: index 0.541 (both engines); database path 0.539 SQLite / 0.535 PostgreSQL on
# every headline. The database path runs every eighth headline here (its fallback role is
# pinned, not its speed: on PostgreSQL it takes ~0.5 s a query), at its own floor (0.469
# measured on that sample, both engines).
PLANTED_RECALL_FLOOR = 0.52
DATABASE_SAMPLE_STEP = 8  # the database path runs every eighth dev headline
DATABASE_SAMPLE_FLOOR = 0.45
DATABASE_EXACT_SAMPLE = 10
# The database path is inexact past its scoring budget: on its 10 sampled queries it finds
# 0.88 (PostgreSQL) / 0.90 (SQLite) of the brute-force top 10; the index 0.955 of 20.
DATABASE_OVERLAP_FLOOR = 0.85
TOP_OVERLAP_FLOOR = 0.9  # mean share of the brute-force top 10 found (1.0 where exact)
GENERATED = 20_000
EXACT_SAMPLE = 20  # planted queries whose top 10 is checked against brute force
OWN_FLOOR = (
    0.99  # headlines whose own article is in their top 10 (measured 0.995 dev, 0.990 planted)
)
Search = Callable[[list[Group]], Awaitable[list[int]]]  # query groups -> top 10 ids


async def recall_at_10(search: Search, dev: DevSet, step: int = 1) -> tuple[float, float]:
    """(mean share of same-event partners in a headline's top 10, share finding itself),
    over every `step`-th dev headline."""
    recalls: list[float] = []
    found_self = 0
    rows = dev.rows[::step]
    for row in rows:
        own = dev.ids[row["id"]]
        top = set(await search(clean_groups(query_groups(row["title"]))))
        found_self += own in top
        partners = dev.events[row["cluster_id"]] - {own}
        if partners:
            recalls.append(len(partners & top) / len(partners))
    return sum(recalls) / len(recalls), found_self / len(rows)


def database_search(session_repo: SearchRepo) -> Search:
    """The database path's top 10."""

    async def search(groups: list[Group]) -> list[int]:
        return [i for i, _ in await session_repo.search(groups, limit=10, now=NOW)]

    return search


def index_search(index: SearchIndex) -> Search:
    """The index path's top 10."""

    async def search(groups: list[Group]) -> list[int]:
        answer = await index.search(groups, limit=10, now=NOW)
        assert answer is not None, "the index did not answer"
        return [i for i, _ in answer[0]]

    return search


async def _migrated(url: str, schema: str | None) -> Database:
    """A Database on `url` (in `schema` when given), migrated."""
    args = {"server_settings": {"search_path": schema}} if schema else {}
    db = Database(url, connect_args=args) if schema else Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(upgrade_connection)
    return db


async def _schema(action: str, schema: str) -> None:
    """Create or drop a PostgreSQL schema."""
    admin = create_engine(POSTGRES_URL)
    try:
        async with admin.begin() as conn:
            if action == "create":
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            else:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@dataclass(frozen=True, slots=True)
class Corpus:
    """A built corpus: where it lives, its rows and the dev gold."""

    url: str
    schema: str | None
    rows: list[Row]
    dev: DevSet
    index_dir: Path

    def database(self) -> Database:
        """A Database on the corpus (for the running test's event loop)."""
        if self.schema:
            return Database(
                self.url, connect_args={"server_settings": {"search_path": self.schema}}
            )
        return Database(self.url)


@functools.cache
def _rows(generated: int) -> tuple[list[Row], DevSet]:
    """The dev rows (ids 1..412) followed by `generated` newer generated rows."""
    gva = load_jsonl(data_path("gva_event_clusters", "articles.jsonl"))
    saudi = load_jsonl(data_path("saudinewsnet", "articles.jsonl"))
    rows, dev = dev_rows(gva)
    rows += list(Generator(gva, saudi).rows(len(rows) + 1, generated, seed=7))
    return rows, dev


async def _build_index(corpus: Corpus) -> None:
    """Build the corpus's search index (bulk loads bypass the app, so it starts empty)."""
    db = corpus.database()
    index = SearchIndex(db, corpus.index_dir)
    try:
        assert await index.prepare()
    finally:
        await index.close()
        await db.engine.dispose()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def planted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Corpus]:
    """The dev set planted among 20,000 generated articles, built once per engine."""
    rows, dev = _rows(GENERATED)
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("planted") / "search.db"
        url = f"sqlite+aiosqlite:///{path}"

        async def build_sqlite() -> None:
            await (await _migrated(url, None)).engine.dispose()

        asyncio.run(build_sqlite())
        load_sqlite(path, iter(rows))
        corpus = Corpus(url, None, rows, dev, path.parent / "index")
        asyncio.run(_build_index(corpus))
        yield corpus
        return
    schema = f"t_planted_{uuid.uuid4().hex[:8]}"

    async def build_postgres() -> None:
        try:
            await _schema("create", schema)
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
        db = await _migrated(POSTGRES_URL, schema)
        try:
            await load_postgres(db, schema, iter(rows))
        finally:
            await db.engine.dispose()

    asyncio.run(build_postgres())
    corpus = Corpus(POSTGRES_URL, schema, rows, dev, tmp_path_factory.mktemp("index"))
    try:
        asyncio.run(_build_index(corpus))
        yield corpus
    finally:
        asyncio.run(_schema("drop", schema))


async def test_headline_search_recall(db: Database, tmp_path: Path) -> None:
    """Searching each headline finds its same-event articles in the top 10, on each engine
    and on both search paths."""
    rows, dev = _rows(0)
    async with db.unit_of_work() as session:
        await session.execute(
            text(
                "INSERT INTO articles (id, url, title, text, lang, published_at, search_text,"
                " lede, fetched_at, fanned_out) VALUES (:id, :url, :title, :text, :lang,"
                " :published, :st, '', :published, true)"
            ),
            [
                {
                    "id": r[0],
                    "url": r[1],
                    "title": r[2],
                    "text": r[3],
                    "lang": r[4],
                    "published": r[5].replace(tzinfo=None),
                    "st": r[6],
                }
                for r in rows
            ],
        )
    index = SearchIndex(db, tmp_path / "index")
    assert await index.prepare()
    try:
        async with db.unit_of_work() as session:
            for path, search in (
                ("database", database_search(SearchRepo(session))),
                ("index", index_search(index)),
            ):
                recall, own = await recall_at_10(search, dev)
                print(
                    f"gva headline recall@10 ({db.dialect}, {path}) = {recall:.3f}, own {own:.3f}"
                )
                assert recall >= RECALL_AT_10_FLOOR, path
                assert own >= OWN_FLOOR, path
    finally:
        await index.close()


_POSTINGS: dict[int, dict[str, list[int]]] = {}
_BRUTE: dict[tuple[int, tuple[Group, ...]], list[int]] = {}


def _postings(rows: list[Row]) -> dict[str, list[int]]:
    """Term -> positions in `rows` of the rows holding it (built once per corpus)."""
    if id(rows) not in _POSTINGS:
        postings: dict[str, list[int]] = {}
        for position, row in enumerate(rows):
            for term in set(row[6].split()):
                postings.setdefault(term, []).append(position)
        _POSTINGS[id(rows)] = postings
    return _POSTINGS[id(rows)]


def brute_force_ids(rows: list[Row], groups: list[Group], docs: int, avg: float) -> list[int]:
    """Ids of the brute-force top 10 (computed once per corpus and query, shared by paths)."""
    key = (id(rows), tuple(groups))
    if key not in _BRUTE:
        _BRUTE[key] = [k[3] for k in brute_force(rows, groups, docs, avg)]
    return _BRUTE[key]


def brute_force(rows: list[Row], groups: list[tuple[str, ...]], docs: int, avg: float) -> list[Key]:
    """The top 10 keys by scoring every row that holds a query term (no bounds)."""
    postings = _postings(rows)
    holding = [{p for term in group for p in postings.get(term, ())} for group in groups]
    weights = [idf(docs, len(held)) for held in holding]
    matched = [rows[p] for p in set().union(*holding)]
    keys = score_rows(
        ((r[0], r[5].timestamp(), r[6]) for r in matched),
        groups,
        weights,
        avg,
        NOW.timestamp(),
        48.0,
    )
    return sorted(keys, reverse=True)[:10]


@pytest.mark.parametrize("path", ["index", "database"])
async def test_planted_headline_recall_and_exact_top(planted: Corpus, path: str) -> None:
    """Among 20,000 newer generated articles the dev headlines still find their events."""
    db = planted.database()
    index = SearchIndex(db, planted.index_dir)
    try:
        assert await index.prepare()
        async with db.unit_of_work() as session:
            repo = SearchRepo(session)
            if path == "index":
                recall, own = await recall_at_10(index_search(index), planted.dev)
            else:
                search = database_search(repo)
                recall, own = await recall_at_10(search, planted.dev, DATABASE_SAMPLE_STEP)
            print(
                f"planted ({GENERATED}) headline recall@10 ({db.dialect}, {path})"
                f" = {recall:.3f}, own {own:.3f}"
            )
            assert recall >= (PLANTED_RECALL_FLOOR if path == "index" else DATABASE_SAMPLE_FLOOR)
            assert own >= OWN_FLOOR
            overlaps: list[float] = []
            docs, avg = await repo.stats()
            sample = EXACT_SAMPLE if path == "index" else DATABASE_EXACT_SAMPLE
            for row in planted.dev.rows[:sample]:
                groups = clean_groups(query_groups(row["title"]))
                expected = brute_force_ids(planted.rows, groups, docs, avg)
                if path == "index":
                    answer = await index.search(groups, limit=10, now=NOW)
                    assert answer is not None
                    found, exact = [i for i, _ in answer[0]], False
                else:
                    result = await repo.search_detailed(groups, limit=10, now=NOW)
                    found, exact = [i for i, _ in result.ranked], result.exact
                if exact:
                    assert found == expected, row["title"]
                overlaps.append(len(set(found) & set(expected)) / len(expected))
        overlap = sum(overlaps) / len(overlaps)
        print(f"planted ({path}): mean overlap with the brute-force top 10 = {overlap:.3f}")
        assert overlap >= (TOP_OVERLAP_FLOOR if path == "index" else DATABASE_OVERLAP_FLOOR)
    finally:
        await index.close()
        await db.engine.dispose()
