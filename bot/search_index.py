"""Search index: a Tantivy index of articles' matching form, kept in step with the database.

The database stays the source of truth; the index is a cache that answers the top of a
search in milliseconds at a million articles: Tantivy scores every match by BM25 (the
Python binding's search wraps its top-docs collector in a multi-collector, which does not
prune, so block-max WAND is never used) and keeps the best, so its top m are the exact top
m by BM25, never the best of a slice.

What it holds, per article that is not a syndicated copy: `terms`, our own `search_text`
(already normalised and stemmed by `bot.pipeline.text`, indexed with Tantivy's whitespace
tokenizer, so Arabic normalisation and clitic handling stay ours), and fast fields `id`,
`published` (epoch seconds, for `7d` filters and the recency boost), `fetched` (epoch
microseconds: which version of the article is indexed) and `lang` (for `lang:` filters).

Ranking is the database path's (`storage.repos.search`): articles holding every group
first, then by BM25 times the bounded recency boost of `bot.pipeline.bm25` (at most
`MAX_BOOST`). Tantivy gives the top `m` by plain BM25; they are re-ranked with the boost,
and the result is exact once the k-th boosted score is at least `MAX_BOOST` times the m-th
plain one (nothing further down can overtake it). As every search is a pass over all the
matches, m starts large (`FIRST_FETCH` for a query of several groups wanting a short page,
else `MAX_FETCH`) and grows at most once, to `MAX_FETCH`; past that the best of those is
returned, inexact.
A query group is the OR of a word's readings, groups are ORed (each variant is its own
BM25 term, so a group's weight is that of the variant found).

Keeping in step (`catch_up`, every `interval` seconds in `akhbar run`):
- new articles by a high-water mark, the highest indexed id (read back from the index, so a
  restart only catches up the delta);
- ids just below the mark are compared with the database each time (an article committed
  late by another process, under an id below one already indexed, is picked up), and every
  `UPDATE_SCAN_SECONDS` the articles re-fetched since the last scan (`fetched_at`, which
  ingest sets again when it replaces an article's content) are re-indexed. That scan reads
  the whole table (`fetched_at` has no index), which is why it runs rarely.

Persistence and processes: the index lives in `AKHBAR_SEARCH_INDEX_DIR/<epoch>` (by default
`auto`: beside a SQLite database file, else `data/search-index`), where the
epoch is a random name stored in the database (`app_state`), so a recreated database never
reads another one's index. Several `akhbar run` processes on one database share the folder:
Tantivy's writer lock lets one of them write; the others open it read-only, reload after each
commit, and try to take the lock over at every tick (a writer that exits releases it).

Fallback: until the index is open and caught up (or when `tantivy` cannot be imported, the
folder is not writable, or a search fails) `ready` is false and `bot.search` answers from
the database; every change of state is logged once. All Tantivy calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import make_url

from bot.pipeline.bm25 import MAX_BOOST, Group, boost
from storage.db import Database
from storage.repos.search import IndexFeedRepo, IndexRow, clean_groups
from storage.repos.state import AppStateRepo

log = logging.getLogger(__name__)

EPOCH_KEY = "search_index_epoch"
SCHEMA_VERSION = "1"  # a folder built with another schema is rebuilt
BATCH = 20_000  # articles committed per step of a catch-up
READ_CHUNK = 2_000  # articles read per statement
LOOKBACK_IDS = 2_000  # ids below the mark compared with the database at every tick
UPDATE_SCAN_SECONDS = 60.0
UPDATE_OVERLAP = timedelta(minutes=5)  # re-fetches committed late are still seen
READY_LAG = 500  # a read-only index this far behind the database is still used
FIRST_FETCH = 512  # hits read first for a tier of several groups when at most SMALL_PAGE wanted
SMALL_PAGE = 32  # (a single group, or more results, usually need MAX_FETCH: read it at once)
MAX_FETCH = 2_048  # hits read at most for one tier before the result is marked inexact
WRITER_HEAP = 64_000_000

Ranked = list[tuple[int, float]]


@dataclass(frozen=True, slots=True)
class IndexState:
    """What the index can say about itself: engine, mode, size and lag behind the database."""

    ready: bool
    mode: str  # "writer", "reader", "off", "failed", "opening"
    documents: int
    lag: int
    reason: str = ""

    def describe(self) -> str:
        """One line for `akhbar status` and the logs: which engine answers searches."""
        if self.ready:
            return (
                f"search: tantivy index ({self.mode}, {self.documents} articles,"
                f" {self.lag} behind the database)"
            )
        why = self.reason or f"{self.mode}, {self.lag} articles behind"
        return f"search: database (index not used: {why})"


def _epoch_us(moment: datetime) -> int:
    """A stored naive-UTC (or aware) moment as integer epoch microseconds."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1_000_000)


class _Tantivy:
    """The index itself (synchronous; every method is called from a worker thread)."""

    def __init__(self, folder: Path, *, writable: bool = True) -> None:
        """Open or create the index in `folder` (created; a stale schema rebuilt if writable)."""
        import tantivy

        self.t = tantivy
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / "akhbar-schema"
        stale = marker.exists() and marker.read_text().strip() != SCHEMA_VERSION
        if stale and not writable:
            raise RuntimeError(f"{folder} holds an index of another schema")
        if stale:
            shutil.rmtree(folder)
            folder.mkdir(parents=True)
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("id", stored=True, indexed=True, fast=True)
        builder.add_integer_field("published", indexed=True, fast=True)
        builder.add_integer_field("fetched", fast=True)
        builder.add_text_field("lang", tokenizer_name="raw", index_option="basic")
        builder.add_text_field("terms", tokenizer_name="whitespace", index_option="freq")
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema, path=str(folder), reuse=True)
        if writable:
            marker.write_text(SCHEMA_VERSION)
        self.writer: Any = None
        self.lock = threading.Lock()

    def take_writer(self) -> bool:
        """Hold the writer lock if no other process does; whether this process writes."""
        if self.writer is None:
            try:
                self.writer = self.index.writer(WRITER_HEAP, 1)
            except ValueError:
                return False
        return True

    def release(self) -> None:
        """Give the writer lock back (waits for merges to finish)."""
        with self.lock:
            writer, self.writer = self.writer, None
        if writer is not None:
            writer.wait_merging_threads()

    def reload(self) -> None:
        """See the last commit (this process's or another's)."""
        self.index.reload()

    def documents(self) -> int:
        """Articles the index holds."""
        return int(self.index.searcher().num_docs)

    def newest(self, field: str) -> int:
        """The largest value of a fast field (0 when empty)."""
        searcher = self.index.searcher()
        hits = searcher.search(self.t.Query.all_query(), 1, count=False, order_by_field=field).hits
        return int(hits[0][0] or 0) if hits else 0

    def versions(self, low: int, high: int) -> dict[int, int]:
        """Indexed id -> fetched (epoch µs) for ids in (low, high]."""
        if high <= low:
            return {}
        query = self.t.Query.range_query(
            self.schema, "id", self.t.FieldType.Integer, low, high, include_lower=False
        )
        return self._versions(query, high - low)

    def versions_of(self, ids: Sequence[int]) -> dict[int, int]:
        """Indexed id -> fetched (epoch µs) for the given ids."""
        if not ids:
            return {}
        query = self.t.Query.term_set_query(self.schema, "id", list(ids))
        return self._versions(query, len(ids))

    def _versions(self, query: Any, most: int) -> dict[int, int]:
        """id -> fetched of every document matching `query` (at most `most`)."""
        searcher = self.index.searcher()
        addresses = [a for _, a in searcher.search(query, most, count=False).hits]
        ids = searcher.fast_field_values("id", addresses)
        fetched = searcher.fast_field_values("fetched", addresses)
        return {int(i or 0): int(f or 0) for i, f in zip(ids, fetched, strict=True)}

    def write(self, rows: Sequence[IndexRow], replace: Sequence[int], drop: Sequence[int]) -> None:
        """Add `rows` (replacing ids in `replace`), delete `drop`, commit and reload."""
        with self.lock:
            if self.writer is None:
                raise RuntimeError("the index writer is not held")
            for article_id in (*replace, *drop):
                self.writer.delete_documents_by_term("id", article_id)
            for row in rows:
                self.writer.add_document(
                    self.t.Document(
                        id=row.id,
                        published=int(_epoch_us(row.published_at) // 1_000_000),
                        fetched=_epoch_us(row.fetched_at),
                        lang=row.lang or "",
                        terms=row.search_text or "",
                    )
                )
            self.writer.commit()
        self.index.reload()

    def search(self, spec: _Spec) -> tuple[Ranked, bool]:
        """The ranked page of one search and whether it is exact.

        With several groups, the articles holding every group come first (tier one, an
        intersection). When they are fewer than asked, tier one was read whole, so the rest
        is the OR of the groups with those articles dropped here (no exclusion clause for
        Tantivy to evaluate on every match).
        """
        searcher = self.index.searcher()
        occur = self.t.Occur
        filters = self._filters(spec)
        wanted = spec.offset + spec.limit
        small = len(spec.groups) > 1 and wanted <= SMALL_PAGE
        first = FIRST_FETCH if small else MAX_FETCH
        ranked: Ranked = []
        exact = True
        if len(spec.groups) > 1:
            holds_all = self._bool([(occur.Must, self._group(g)) for g in spec.groups])
            query = self._bool([(occur.Must, holds_all), *filters])
            ranked, exact = self._tier(searcher, query, wanted, spec, first)
        if len(ranked) < wanted:
            anything = self._bool([(occur.Should, self._group(g)) for g in spec.groups])
            query = self._bool([(occur.Must, anything), *filters])
            held = {article_id for article_id, _ in ranked}
            rest, rest_exact = self._tier(searcher, query, wanted - len(ranked), spec, first, held)
            ranked += rest
            exact = exact and rest_exact
        return ranked[spec.offset : wanted], exact

    def _bool(self, clauses: list[tuple[Any, Any]]) -> Any:
        """A boolean query of (occur, query) clauses."""
        return self.t.Query.boolean_query(clauses)

    def _term(self, term: str) -> Any:
        """A BM25-scored query for one term."""
        return self.t.Query.term_query(self.schema, "terms", term)

    def _group(self, group: Group) -> Any:
        """One query group: the OR of a word's readings."""
        if len(group) == 1:
            return self._term(group[0])
        return self._bool([(self.t.Occur.Should, self._term(term)) for term in group])

    def _filters(self, spec: _Spec) -> list[tuple[Any, Any]]:
        """Must clauses (scoring nothing) for the time and language filters."""
        query = self.t.Query
        out: list[tuple[Any, Any]] = []
        if spec.since_s is not None:
            window = query.range_query(
                self.schema, "published", self.t.FieldType.Integer, int(spec.since_s), None
            )
            out.append((self.t.Occur.Must, query.const_score_query(window, 0.0)))
        if spec.langs:
            langs = [
                (self.t.Occur.Should, query.term_query(self.schema, "lang", lang))
                for lang in spec.langs
            ]
            out.append(
                (self.t.Occur.Must, query.const_score_query(query.boolean_query(langs), 0.0))
            )
        return out

    def _tier(
        self,
        searcher: Any,
        query: Any,
        k: int,
        spec: _Spec,
        first: int,
        skip: frozenset[int] | set[int] = frozenset(),
    ) -> tuple[Ranked, bool]:
        """The top k of one tier by boosted score (leaving out `skip`) and whether exact.

        Tantivy scores every match whatever the number of hits asked (its collector here
        does not prune), so each search costs a pass over the matches and a second one
        goes straight to `MAX_FETCH` hits; the first asks `first` (collecting and
        converting 2,048 hits costs several ms more than 512, which is enough for the
        top 10 of a headline at 1,000,000 articles, not for one word's or a top 100).
        """
        asked = max(first, k + len(skip))
        while True:
            hits = _Hits(searcher, searcher.search(query, asked, count=False).hits, asked)
            top, exact = hits.ranked(k, spec, skip)
            if exact or asked >= MAX_FETCH:
                return top, exact
            asked = max(MAX_FETCH, k + len(skip))


class _Hits:
    """The top hits of one query by plain BM25, to be re-ranked with the recency boost."""

    def __init__(self, searcher: Any, hits: list[tuple[float, Any]], asked: int) -> None:
        """Hits as Tantivy returned them (best first) and how many were asked for."""
        self.searcher = searcher
        self.hits = hits
        self.asked = asked

    def ranked(
        self, k: int, spec: _Spec, skip: frozenset[int] | set[int] = frozenset()
    ) -> tuple[Ranked, bool]:
        """The k best by boosted score (ties: newer, then higher id), leaving out `skip`, and
        whether exact: every match was read, or the k-th is at least `MAX_BOOST` times the
        last plain score read (no article further down can overtake it).

        The boost of every hit is computed at once (numpy); only the hits within a hair of
        the k-th boosted score are keyed exactly as `bot.pipeline.bm25.boost` scores them.
        """
        if not self.hits or k <= 0:
            return [], True
        addresses = [address for _, address in self.hits]
        ids = np.array(
            [i or 0 for i in self.searcher.fast_field_values("id", addresses)], dtype=np.int64
        )
        published = np.array(
            [p or 0 for p in self.searcher.fast_field_values("published", addresses)],
            dtype=np.float64,
        )
        scores = np.fromiter((score for score, _ in self.hits), np.float64, len(self.hits))
        boosted = scores * _boosts(published, spec.now_s, spec.half_life)
        if skip:
            boosted[np.isin(ids, np.fromiter(skip, np.int64, len(skip)))] = -1.0
        kept = int((boosted >= 0).sum())
        if kept > k:
            kth = np.partition(boosted, len(boosted) - k)[len(boosted) - k]
            near = np.nonzero(boosted >= kth * (1 - 1e-9))[0]
        else:
            near = np.nonzero(boosted >= 0)[0]
        now, half_life = spec.now_s, spec.half_life
        keys = sorted(
            (
                (
                    self.hits[i][0] * boost(float(published[i]), now, half_life),
                    float(published[i]),
                    int(ids[i]),
                )
                for i in near.tolist()
            ),
            reverse=True,
        )
        top = [(article_id, score) for score, _, article_id in keys[:k]]
        if len(self.hits) < self.asked:
            return top, True
        return top, len(top) >= k and top[k - 1][1] >= MAX_BOOST * self.hits[-1][0]


def _boosts(published: Any, now_s: float, half_life_hours: float) -> Any:
    """`bot.pipeline.bm25.boost` of each publication time (epoch s) of an array."""
    if half_life_hours <= 0:
        return np.ones_like(published)
    age_hours = np.maximum(0.0, (now_s - published) / 3600.0)
    return 1.0 + (MAX_BOOST - 1.0) * 0.5 ** (age_hours / half_life_hours)


@dataclass(frozen=True, slots=True)
class _Spec:
    """One search as the index runs it."""

    groups: list[Group]
    limit: int
    offset: int
    now_s: float
    half_life: float
    since_s: float | None
    langs: tuple[str, ...]


def index_directory(setting: str | Path | None, database_url: str) -> Path | None:
    """Where the index lives: the setting, or for "auto" beside a SQLite file (its name plus
    `.search-index`) and `data/search-index` for a server database; None when off."""
    if setting in (None, "", "off"):
        return None
    if str(setting) != "auto":
        return Path(str(setting))
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(f"{url.database}.search-index")
    return Path("data") / "search-index"


class SearchIndex:
    """The Tantivy index of one database: opened, caught up and searched off the event loop."""

    def __init__(
        self,
        db: Database,
        directory: Path | str | None,
        *,
        interval: float = 2.0,
        lookback_ids: int = LOOKBACK_IDS,
        update_scan_seconds: float = UPDATE_SCAN_SECONDS,
    ) -> None:
        """Index `db` under `directory` ("auto": beside a SQLite file; None or "off": no index,
        the database answers)."""
        self.db = db
        self.directory = index_directory(directory, db.url)
        self.interval = interval
        self.lookback_ids = lookback_ids
        self.update_scan_seconds = update_scan_seconds
        self.engine: _Tantivy | None = None
        self.mode = "off" if self.directory is None else "opening"
        self.reason = "AKHBAR_SEARCH_INDEX_DIR is off" if self.directory is None else ""
        self.lag = 0
        self.caught_up = False
        self.last_id = 0
        self.next_update_scan = 0.0
        self.update_mark: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._logged: str | None = None

    @property
    def ready(self) -> bool:
        """Whether searches may be answered from the index."""
        if self.engine is None or self.mode not in ("writer", "reader"):
            return False
        return self.caught_up if self.mode == "writer" else self.lag <= READY_LAG

    async def state(self) -> IndexState:
        """Mode, size and lag, for `akhbar status`."""
        documents = 0
        if self.engine is not None:
            documents = await asyncio.to_thread(self.engine.documents)
        return IndexState(self.ready, self.mode, documents, self.lag, self.reason)

    async def peek(self) -> IndexState:
        """The state of the index as another process keeps it (read-only: never writes)."""
        if self.directory is None:
            return IndexState(False, "off", 0, 0, self.reason)
        async with self.db.unit_of_work() as session:
            epoch = await AppStateRepo(session).get(EPOCH_KEY)
            top = await IndexFeedRepo(session).top_id()
        folder = None if epoch is None else self.directory / epoch
        if folder is None or not (folder / "meta.json").exists():
            return IndexState(False, "off", 0, top, f"no index built in {self.directory} yet")
        try:
            self.engine = await asyncio.to_thread(
                functools.partial(_Tantivy, folder, writable=False)
            )
            self.mode = "reader"
            self.last_id = await asyncio.to_thread(self.engine.newest, "id")
        except Exception as exc:
            self._fail(f"cannot open {folder}: {type(exc).__name__}: {exc}")
            return await self.state()
        self.lag = max(top - self.last_id, 0)
        return await self.state()

    async def open(self) -> bool:
        """Open (or create) the index folder of this database; False (logged) when it cannot."""
        if self.directory is None:
            self._log_state()
            return False
        try:
            async with self.db.unit_of_work() as session:
                epoch = await AppStateRepo(session).get_or_create(EPOCH_KEY, uuid.uuid4().hex)
            self.engine = await asyncio.to_thread(_Tantivy, self.directory / epoch)
            writer = await asyncio.to_thread(self.engine.take_writer)
            self.mode = "writer" if writer else "reader"
            self.last_id = await asyncio.to_thread(self.engine.newest, "id")
            fetched = await asyncio.to_thread(self.engine.newest, "fetched")
            if fetched:
                self.update_mark = datetime.fromtimestamp(fetched / 1e6, UTC) - UPDATE_OVERLAP
        except Exception as exc:  # import, permissions, a corrupt folder: the database answers
            self._fail(f"cannot open {self.directory}: {type(exc).__name__}: {exc}")
            return False
        self._log_state()
        return True

    async def catch_up(self) -> int:
        """Bring the index in step with the database; articles written (0 for a reader)."""
        if self.engine is None:
            return 0
        engine = self.engine
        try:
            writer = await asyncio.to_thread(engine.take_writer)
            self.mode = "writer" if writer else "reader"
            if not writer:
                await asyncio.to_thread(engine.reload)
                self.last_id = await asyncio.to_thread(engine.newest, "id")
                written = 0
            else:
                written = await self._write_new()
                written += await self._write_changed()
                self.caught_up = True
            async with self.db.unit_of_work() as session:
                top = await IndexFeedRepo(session).top_id()
            self.lag = max(top - self.last_id, 0)
        except Exception as exc:  # the database or the folder failed: retried next tick
            self._fail(f"catch-up failed: {type(exc).__name__}: {exc}")
            return 0
        self.reason = ""
        self._log_state()
        return written

    async def _write_new(self) -> int:
        """Index the articles above the mark, a commit per `BATCH`, until none are left.

        Rows are read `READ_CHUNK` at a time: turning rows into objects runs on the event
        loop, and a chunk of that size takes a few milliseconds of it.
        """
        assert self.engine is not None
        written = 0
        done = False
        while not done:
            rows: list[IndexRow] = []
            while len(rows) < BATCH:
                async with self.db.unit_of_work() as session:
                    chunk = await IndexFeedRepo(session).after(
                        rows[-1].id if rows else self.last_id, READ_CHUNK
                    )
                rows += chunk
                if len(chunk) < READ_CHUNK:
                    done = True
                    break
            if rows:
                await asyncio.to_thread(self.engine.write, rows, (), ())
                self.last_id = rows[-1].id
                written += len(rows)
        return written

    async def _write_changed(self) -> int:
        """Re-index articles below the mark that are missing or whose version changed."""
        assert self.engine is not None
        low = max(self.last_id - self.lookback_ids, 0)
        async with self.db.unit_of_work() as session:
            stored = await IndexFeedRepo(session).versions_between(low, self.last_id)
        indexed = await asyncio.to_thread(self.engine.versions, low, self.last_id)
        now = time.monotonic()
        if now >= self.next_update_scan:
            scan_started = datetime.now(UTC)
            if self.update_mark is not None:
                async with self.db.unit_of_work() as session:
                    changed = await IndexFeedRepo(session).fetched_since(self.update_mark, low)
                stored.update(changed)
                indexed.update(await asyncio.to_thread(self.engine.versions_of, list(changed)))
            self.update_mark = scan_started - UPDATE_OVERLAP
            self.next_update_scan = now + self.update_scan_seconds
        stale = [i for i, f in stored.items() if indexed.get(i) != _epoch_us(f)]
        gone = [i for i in indexed if i not in stored and i > low]
        if not stale and not gone:
            return 0
        async with self.db.unit_of_work() as session:
            feed = IndexFeedRepo(session)
            rows = await feed.rows(stale)
            gone += sorted(await feed.duplicates_among([i for i in stale if i in indexed]))
        fresh = {row.id for row in rows}
        gone = [i for i in gone if i not in fresh]
        await asyncio.to_thread(self.engine.write, rows, [i for i in fresh if i in indexed], gone)
        return len(rows)

    async def search(
        self,
        groups: Sequence[str | Sequence[str]],
        *,
        limit: int,
        offset: int = 0,
        now: datetime,
        recency_half_life_hours: float = 48.0,
        since: datetime | None = None,
        langs: Sequence[str] | None = None,
    ) -> tuple[Ranked, bool] | None:
        """(article id, score) best first and whether exact; None when the index cannot answer."""
        if not self.ready or self.engine is None:
            return None
        spec = _Spec(
            groups=clean_groups(groups),
            limit=max(limit, 0),
            offset=max(offset, 0),
            now_s=now.timestamp(),
            half_life=recency_half_life_hours,
            since_s=None if since is None else _aware(since).timestamp(),
            langs=tuple(langs or ()),
        )
        if not spec.groups or spec.limit == 0:
            return [], True
        try:
            return await asyncio.to_thread(self.engine.search, spec)
        except Exception as exc:
            self._fail(f"search failed: {type(exc).__name__}: {exc}")
            return None

    def start(self) -> None:
        """Open and keep catching up in the background (`akhbar run`)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="search-index")

    async def _run(self) -> None:
        """Open, then catch up every `interval` seconds."""
        if not await self.open():
            return
        while True:
            await self.catch_up()
            await asyncio.sleep(self.interval)

    async def prepare(self) -> bool:
        """Open and catch up once (a one-shot command such as `akhbar search`); whether ready."""
        if self.engine is None and not await self.open():
            return False
        await self.catch_up()
        return self.ready

    async def close(self) -> None:
        """Stop catching up and release the writer lock."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self.engine is not None:
            await asyncio.to_thread(self.engine.release)
            self.engine = None
        self.mode = "off"

    def _fail(self, reason: str) -> None:
        """Stop using the index (the database answers) and say why, once."""
        self.mode = "failed"
        self.reason = reason
        self.caught_up = False
        self._log_state()

    def _log_state(self) -> None:
        """Log which engine answers searches whenever that changes."""
        line = IndexState(self.ready, self.mode, 0, 0, self.reason).describe().split(" (")[0]
        key = f"{line}|{self.mode}|{self.reason}"
        if key != self._logged:
            self._logged = key
            if self.ready:
                log.info(
                    "search answered by the tantivy index in %s (%s)", self.directory, self.mode
                )
            else:
                report = log.warning if self.reason else log.info
                report(
                    "search answered by the database: index not used (%s)",
                    self.reason or "catching up",
                )


def _aware(moment: datetime) -> datetime:
    """A naive moment read as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
