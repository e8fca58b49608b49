"""The Tantivy search index on SQLite and PostgreSQL: catch-up, restart, re-fetched articles,
late commits, filters, two processes on one folder, and the database fallback."""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from bot.pipeline.bm25 import boost
from bot.pipeline.text import matching_terms, query_groups
from bot.search import SearchService, run_queries
from bot.search_index import (
    SearchIndex,
    _boosts,
    _Hits,
    _Spec,
    _Tantivy,
    index_directory,
)
from storage.db import Database
from storage.repos.articles import ArticleFields, ArticleRepo
from storage.repos.search import IndexRow
from tests.test_search import NOW, add, new_story


async def index_of(db: Database, folder: Path, **options: float) -> SearchIndex:
    """An index of `db` in `folder`, opened and caught up."""
    index = SearchIndex(db, folder, **options)  # type: ignore[arg-type]
    assert await index.prepare()
    return index


async def ids(index: SearchIndex, query: str, **filters: object) -> list[int]:
    """Ids the index ranks for a query, best first."""
    answer = await index.search(query_groups(query), limit=20, now=NOW, **filters)  # type: ignore[arg-type]
    assert answer is not None
    return [article_id for article_id, _ in answer[0]]


async def refetch(db: Database, article_id: int, title: str, fetched: datetime) -> None:
    """Replace an article's content as ingest does (new text, new fetch time)."""
    async with db.unit_of_work() as session:
        await ArticleRepo(session).replace(
            article_id,
            ArticleFields(
                url=f"https://example.test/refetched/{article_id}",
                title=title,
                published_at=NOW - timedelta(hours=1),
                fetched_at=fetched,
                search_text=" ".join(matching_terms(title)),
            ),
        )


async def test_catch_up_ranks_filters_and_skips_copies(db: Database, tmp_path: Path) -> None:
    """New articles are indexed; ranking, `since`, `lang` and syndicated copies as the database."""
    flood = await add(db, "Flood warning in Jeddah", "Heavy rain floods the streets", hours_ago=2)
    old = await add(db, "Flood damage assessed", "Insurers count the cost", hours_ago=24 * 40)
    copy = await add(db, "Flood warning in Jeddah", "Heavy rain", duplicate_of=flood.id)
    arabic = await add(db, "فيضانات في جدة", "أمطار غزيرة وسيول", lang="ar")
    index = await index_of(db, tmp_path / "index")
    try:
        assert index.ready and index.mode == "writer"
        assert await ids(index, "flood") == [flood.id, old.id]
        assert copy.id not in await ids(index, "jeddah warning")
        assert await ids(index, "flood", since=NOW - timedelta(days=7)) == [flood.id]
        assert await ids(index, "سيول") == [arabic.id]
        assert await ids(index, "سيول", langs=["en"]) == []
        service = SearchService(db, index=index)
        database = SearchService(db)
        for query in ("flood", "flood jeddah", "فيضانات جدة", "nothing here"):
            from_index = [h.article.id for h in await service.hits(query, 10, now=NOW)]
            from_db = [h.article.id for h in await database.hits(query, 10, now=NOW)]
            assert from_index == from_db, query
    finally:
        await index.close()


async def test_restart_catches_up_only_the_delta(db: Database, tmp_path: Path) -> None:
    """A reopened index starts from its own high-water mark and adds only newer articles."""
    first = await add(db, "Harbour strike talks", hours_ago=3)
    index = await index_of(db, tmp_path / "index")
    await index.close()
    second = await add(db, "Harbour strike ends", hours_ago=1)
    index = SearchIndex(db, tmp_path / "index")
    assert await index.open()
    assert index.last_id == first.id
    assert await index.catch_up() == 1
    try:
        assert sorted(await ids(index, "harbour")) == sorted([first.id, second.id])
    finally:
        await index.close()


async def test_refetched_articles_are_reindexed(db: Database, tmp_path: Path) -> None:
    """A replaced article far below the mark is found by its new words only."""
    story = await new_story(db, "x")
    old = await add(db, "Volcano erupts on the island", hours_ago=5, story_id=story)
    for n in range(5):
        await add(db, f"Market report number {n}", hours_ago=4)
    index = await index_of(db, tmp_path / "index", lookback_ids=2, update_scan_seconds=0)
    try:
        assert await ids(index, "volcano") == [old.id]
        await refetch(db, old.id, "Glacier collapse filmed", datetime.now(UTC))
        assert await index.catch_up() == 1
        assert await ids(index, "volcano") == []
        assert await ids(index, "glacier") == [old.id]
        assert await index.catch_up() == 0  # nothing changed since
    finally:
        await index.close()


async def test_an_article_committed_late_below_the_mark(db: Database, tmp_path: Path) -> None:
    """An id below one already indexed (another process's batch committed later) is found."""
    first = await add(db, "Election results announced", hours_ago=3)
    await add(db, "Election turnout high", hours_ago=2)
    async with db.unit_of_work() as session:
        await session.execute(
            text(
                "INSERT INTO articles (id, url, title, text, lang, published_at, search_text,"
                " lede, fetched_at, fanned_out) VALUES (:id, 'https://example.test/late', 'x',"
                " '', 'en', :at, :st, '', :at, true)"
            ),
            {"id": first.id + 40, "at": NOW.replace(tzinfo=None), "st": "comet sight"},
        )
    index = await index_of(db, tmp_path / "index")
    try:
        async with db.unit_of_work() as session:
            await session.execute(
                text(
                    "INSERT INTO articles (id, url, title, text, lang, published_at, search_text,"
                    " lede, fetched_at, fanned_out) VALUES (:id, 'https://example.test/late2',"
                    " 'y', '', 'en', :at, :st, '', :at, true)"
                ),
                {"id": first.id + 20, "at": NOW.replace(tzinfo=None), "st": "comet tail"},
            )
        assert await ids(index, "comet") == [first.id + 40]
        assert await index.catch_up() == 1
        assert sorted(await ids(index, "comet")) == [first.id + 20, first.id + 40]
    finally:
        await index.close()


async def test_two_processes_share_one_folder(db: Database, tmp_path: Path) -> None:
    """One writer holds the lock, the other reads its commits and takes over when it stops."""
    await add(db, "Desert locust swarm", hours_ago=2)
    writer = await index_of(db, tmp_path / "index")
    reader = await index_of(db, tmp_path / "index")
    try:
        assert (writer.mode, reader.mode) == ("writer", "reader")
        fresh = await add(db, "Locust swarm reaches the coast", hours_ago=1)
        assert fresh.id not in await ids(reader, "locust")
        await writer.catch_up()
        await reader.catch_up()
        assert fresh.id in await ids(reader, "locust")
        await writer.close()
        later = await add(db, "Locust control teams deployed", hours_ago=0.5)
        await reader.catch_up()
        assert reader.mode == "writer"
        assert later.id in await ids(reader, "locust")
    finally:
        await writer.close()
        await reader.close()


async def test_an_old_headline_finds_its_own_article(db: Database, tmp_path: Path) -> None:
    """A years-old article is first for its own headline among many newer ones sharing words."""
    old = await add(db, "Ferry capsizes near Lagos port, dozens missing", hours_ago=24 * 900)
    for n in range(60):
        await add(db, f"Lagos port traffic update {n}", "ferry missing dozens", hours_ago=n + 1)
    index = await index_of(db, tmp_path / "index")
    try:
        assert (await ids(index, "Ferry capsizes near Lagos port, dozens missing"))[0] == old.id
    finally:
        await index.close()


async def test_fallback_when_the_folder_cannot_be_used(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A folder that is a file: not ready, one log line saying why, the database answers."""
    article = await add(db, "Solar eclipse crowds", hours_ago=1)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    index = SearchIndex(db, blocked)
    assert not await index.prepare()
    assert "search answered by the database" in caplog.text
    assert (await index.state()).describe().startswith("search: database (index not used: ")
    assert await index.search(query_groups("eclipse"), limit=5, now=NOW) is None
    service = SearchService(db, index=index)
    assert [h.article.id for h in await service.hits("eclipse", 5, now=NOW)] == [article.id]


async def test_fallback_without_tantivy(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When tantivy cannot be imported `akhbar search` still answers from the database."""
    article = await add(db, "Tidal surge warning", hours_ago=1)
    monkeypatch.setitem(sys.modules, "tantivy", None)
    (hits,) = await run_queries(db, ["surge"], 5, index_dir=str(tmp_path / "index"))
    assert [h.article.id for h in hits] == [article.id]
    index = SearchIndex(db, tmp_path / "index")
    assert not await index.open()
    assert "ImportError" in index.reason or "ModuleNotFoundError" in index.reason


async def test_status_line_reads_another_process_index(db: Database, tmp_path: Path) -> None:
    """`peek` reports the index without taking the writer lock; before a build it says so."""
    await add(db, "Sandstorm closes airport", hours_ago=1)
    assert "no index built" in (await SearchIndex(db, tmp_path / "index").peek()).describe()
    index = await index_of(db, tmp_path / "index")
    try:
        await add(db, "Sandstorm eases", hours_ago=0.5)
        state = await SearchIndex(db, tmp_path / "index").peek()
        assert (
            state.describe() == "search: tantivy index (reader, 1 articles, 1 behind the database)"
        )
        assert index.mode == "writer"
    finally:
        await index.close()


def test_index_directory_setting() -> None:
    """auto: beside a SQLite file, data/search-index for a server; off: no index."""
    assert index_directory("auto", "sqlite+aiosqlite:////tmp/x/akhbar.db") == Path(
        "/tmp/x/akhbar.db.search-index"
    )
    assert index_directory("auto", "postgresql+asyncpg://u@h/db") == Path("data/search-index")
    assert index_directory("off", "sqlite+aiosqlite:///a.db") is None
    assert index_directory("/srv/idx", "sqlite+aiosqlite:///a.db") == Path("/srv/idx")


async def test_a_failed_index_recovers_at_the_next_catch_up(db: Database, tmp_path: Path) -> None:
    """After a failure the database answers; the next successful catch-up brings the index back."""
    article = await add(db, "Heatwave alert issued", hours_ago=1)
    index = await index_of(db, tmp_path / "index")
    try:
        index._fail("search failed: simulated")
        assert not index.ready
        assert await index.search(query_groups("heatwave"), limit=5, now=NOW) is None
        await index.catch_up()
        assert index.ready and index.reason == ""
        assert await ids(index, "heatwave") == [article.id]
    finally:
        await index.close()


def _corpus_rows(count: int, seed: int) -> list[IndexRow]:
    """Articles over a tiny vocabulary: `common` in most, `mid` in some, `rare` and `scarce`
    in a few."""
    rng = random.Random(seed)
    rows = []
    for article_id in range(1, count + 1):
        words = rng.choices(
            ["filler", "other", "common", "mid"], [40, 20, 12, 2], k=rng.randint(3, 40)
        )
        for rare, every in (("rare", 97), ("scarce", 89)):
            if article_id % every == 0:  # a third of them also hold `common`, the others not
                words = [w for w in words if w != "common" or article_id % 3 == 0]
                words += [rare] * rng.randint(1, 3)
        rows.append(
            IndexRow(
                id=article_id,
                published_at=(NOW - timedelta(hours=rng.uniform(0, 400))).replace(tzinfo=None),
                fetched_at=NOW.replace(tzinfo=None),
                lang="en",
                search_text=" ".join(words),
            )
        )
    return rows


def _exhaustive(engine: _Tantivy, spec: _Spec) -> list[int]:
    """The top by boosted score with every match of each tier read (holding every group, then
    the others, excluded by Tantivy)."""
    searcher = engine.index.searcher()
    occur = engine.t.Occur
    tiers = [engine._group(spec.groups[0])]
    if len(spec.groups) > 1:
        holds_all = engine._bool([(occur.Must, engine._group(g)) for g in spec.groups])
        anything = engine._bool([(occur.Should, engine._group(g)) for g in spec.groups])
        tiers = [holds_all, engine._bool([(occur.Must, anything), (occur.MustNot, holds_all)])]
    out: list[int] = []
    for query in tiers:
        every = _Hits(searcher, searcher.search(query, 1_000_000).hits, 1_000_000)
        out += [i for i, _ in every.ranked(spec.limit, spec)[0]]
    return out[: spec.limit]


class _CountingIndex:
    """An index whose searchers count the searches run."""

    def __init__(self, index: Any) -> None:
        """Wrap a Tantivy index."""
        self.index = index
        self.searches = 0

    def searcher(self) -> Any:
        """A searcher that counts its searches."""
        counter = self
        inner = self.index.searcher()

        class Searcher:
            def search(self, *args: Any, **kwargs: Any) -> Any:
                counter.searches += 1
                return inner.search(*args, **kwargs)

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

        return Searcher()


def test_few_searches_per_tier_give_the_exhaustive_top(tmp_path: Path) -> None:
    """A single group is one Tantivy search of `MAX_FETCH` hits, a tier of several groups at
    most two (`FIRST_FETCH`, then `MAX_FETCH`); articles holding every group are dropped from
    the rest here, and the top is the one found by reading every match."""
    engine = _Tantivy(tmp_path / "index")
    assert engine.take_writer()
    engine.write(_corpus_rows(6_000, seed=3), (), ())
    counting = _CountingIndex(engine.index)
    engine.index = counting  # type: ignore[assignment]
    try:
        cases = [
            ([("common",)], 10),
            ([("rare",), ("common",)], 30),
            ([("rare",), ("mid",), ("common",)], 30),
            ([("rare", "scarce"), ("common",)], 60),
            ([("rare",), ("nowhere",)], 10),
        ]
        for groups, limit in cases:
            spec = _Spec(groups, limit, 0, NOW.timestamp(), 48.0, None, ())
            counting.searches = 0
            ranked, exact = engine.search(spec)
            engine.index = counting.index  # type: ignore[assignment]
            expected = _exhaustive(engine, spec)
            engine.index = counting  # type: ignore[assignment]
            assert [i for i, _ in ranked] == expected, groups
            # one search for a single group, at most two per tier (512 hits, then 2,048)
            assert counting.searches == 1 if len(groups) == 1 else counting.searches <= 4
            if groups[-1] == ("nowhere",):
                assert exact and len(ranked) == limit
    finally:
        engine.index = counting.index  # type: ignore[assignment]
        engine.release()


@pytest.mark.parametrize("half_life", [0.0, 6.0, 48.0])
def test_array_boosts_match_the_scalar_boost(half_life: float) -> None:
    """The numpy boosts that pick re-ranking candidates equal `bm25.boost` for every age,
    future and epoch-0 (unknown) publication times included."""
    now = NOW.timestamp()
    ages = [0.0, 1.0, 59.0, 3_600.0, 86_400.0, 30 * 86_400.0, -7_200.0]
    published = [now - age for age in ages] + [0.0]
    got = _boosts(np.array(published, dtype=np.float64), now, half_life)
    want = [boost(p, now, half_life) for p in published]
    assert got.tolist() == pytest.approx(want, rel=1e-12)
