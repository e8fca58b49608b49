"""Search quality on gva_event_clusters: recall@10 of same-event articles for a headline query.

Measured twice: on the 412 dev articles alone, and with them planted among 20,000 newer
generated articles (`tests/search_corpus.py`) that share their vocabulary, so that common
query words match far more articles than any bounded pool would hold. On the planted corpus
the top 10 of a sample of queries are also checked against a brute-force scoring of every
article, and every headline must find its own article.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.pipeline.bm25 import Key, idf, score_rows
from bot.pipeline.text import query_groups
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

RECALL_AT_10_FLOOR = 0.76  # dev set alone: measured 0.775 on both engines
# Among 20,000 generated articles: measured 0.539 on SQLite; an exhaustive FTS5 bm25() over
# the same corpus gets 0.549, and 0.52 is 0.95 of that.
PLANTED_RECALL_FLOOR = 0.52
TOP_OVERLAP_FLOOR = 0.9  # mean share of the brute-force top 10 found (1.0 where exact)
GENERATED = 20_000
EXACT_SAMPLE = 40  # planted queries whose top 10 is checked against brute force
OWN_FLOOR = (
    0.99  # headlines whose own article is in their top 10 (measured 0.995 dev, 0.990 planted)
)


async def recall_at_10(db: Database, dev: DevSet) -> tuple[float, float]:
    """(mean share of same-event partners in a headline's top 10, share finding itself)."""
    recalls: list[float] = []
    found_self = 0
    async with db.unit_of_work() as session:
        search = SearchRepo(session)
        for row in dev.rows:
            own = dev.ids[row["id"]]
            found = await search.search(query_groups(row["title"]), limit=10, now=NOW)
            top = {article_id for article_id, _ in found}
            found_self += own in top
            partners = dev.events[row["cluster_id"]] - {own}
            if partners:
                recalls.append(len(partners & top) / len(partners))
    return sum(recalls) / len(recalls), found_self / len(dev.rows)


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

    def database(self) -> Database:
        """A Database on the corpus (for the running test's event loop)."""
        if self.schema:
            return Database(
                self.url, connect_args={"server_settings": {"search_path": self.schema}}
            )
        return Database(self.url)


def _rows(generated: int) -> tuple[list[Row], DevSet]:
    """The dev rows (ids 1..412) followed by `generated` newer generated rows."""
    gva = load_jsonl(data_path("gva_event_clusters", "articles.jsonl"))
    saudi = load_jsonl(data_path("saudinewsnet", "articles.jsonl"))
    rows, dev = dev_rows(gva)
    rows += list(Generator(gva, saudi).rows(len(rows) + 1, generated, seed=7))
    return rows, dev


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
        yield Corpus(url, None, rows, dev)
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
    try:
        yield Corpus(POSTGRES_URL, schema, rows, dev)
    finally:
        asyncio.run(_schema("drop", schema))


async def test_headline_search_recall(db: Database) -> None:
    """Searching each headline finds its same-event articles in the top 10, on each engine."""
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
    recall, own = await recall_at_10(db, dev)
    print(f"gva_event_clusters headline search recall@10 ({db.dialect}) = {recall:.3f}")
    assert recall >= RECALL_AT_10_FLOOR
    assert own >= OWN_FLOOR


def brute_force(rows: list[Row], groups: list[tuple[str, ...]], docs: int, avg: float) -> list[Key]:
    """The top 10 keys by scoring every row (no index, no bounds)."""
    term_sets = [(r, set(r[6].split())) for r in rows]
    holding = [[r for r, terms in term_sets if terms.intersection(group)] for group in groups]
    weights = [idf(docs, len({r[0] for r in held})) for held in holding]
    matched = {r[0]: r for held in holding for r in held}
    keys = score_rows(
        ((r[0], r[5].timestamp(), r[6]) for r in matched.values()),
        groups,
        weights,
        avg,
        NOW.timestamp(),
        48.0,
    )
    return sorted(keys, reverse=True)[:10]


async def test_planted_headline_recall_and_exact_top(planted: Corpus) -> None:
    """Among 20,000 newer generated articles the dev headlines still find their events."""
    db = planted.database()
    try:
        recall, own = await recall_at_10(db, planted.dev)
        print(
            f"planted ({GENERATED}) headline recall@10 ({db.dialect}) = {recall:.3f}, own {own:.3f}"
        )
        assert recall >= PLANTED_RECALL_FLOOR
        assert own >= OWN_FLOOR
        overlaps: list[float] = []
        async with db.unit_of_work() as session:
            repo = SearchRepo(session)
            docs, avg = await repo.stats()
            for row in planted.dev.rows[:EXACT_SAMPLE]:
                groups = clean_groups(query_groups(row["title"]))
                result = await repo.search_detailed(groups, limit=10, now=NOW)
                expected = [k[3] for k in brute_force(planted.rows, groups, docs, avg)]
                found = [i for i, _ in result.ranked]
                if result.exact:
                    assert found == expected, row["title"]
                overlaps.append(len(set(found) & set(expected)) / len(expected))
        overlap = sum(overlaps) / len(overlaps)
        print(f"planted: mean overlap with the brute-force top 10 = {overlap:.3f}")
        assert overlap >= TOP_OVERLAP_FLOOR
    finally:
        await db.engine.dispose()
