"""Full-text search over articles' matching form: FTS5 on SQLite, tsvector/GIN on PostgreSQL.

Queries arrive as groups of alternative terms in matching form (`bot.pipeline.text.
query_groups`; a plain term is a group of one). Terms are only ever sent as bound
parameters: on SQLite inside one FTS5 query string where every term is a quoted string
literal (embedded quotes doubled), on PostgreSQL each through its own
`plainto_tsquery('simple', :term)`, combined with `||`. No user text is ever spliced into
SQL or parsed as query syntax.

The top results are the top results by BM25 with a bounded recency boost
(`bot.pipeline.bm25`) over everything the index holds, found without scoring every match
(MaxScore, rarest groups first):

1. Each group's posting list is read from the index as ids, newest first, up to
   `POSTINGS_CAP`: a shorter list is complete (its length is the group's document
   frequency); a full one gives an estimate from its id span.
2. Groups are taken rarest first. The documents of the groups taken so far are the
   candidates; each one's ceiling is the sum of the bounds of the groups it holds plus
   those of the groups not yet taken. Candidates are scored (their `search_text` read and
   counted) in ceiling order until the next ceiling cannot beat the k-th score.
3. A document outside the candidates holds none of the groups taken, so it can score at
   most the bounds of the others: once the k-th score is at least that, the result is
   exact and the commoner groups are never read. Otherwise the next group is taken.
4. Only when a group too common for a complete list would be needed, or more than
   `SCORE_BUDGET` documents would have to be read, does the search stop early: it then also
   scores the newest matches of the remaining groups, and the result is the best of all
   it scored (`SearchResult.exact` is false).

Scoring runs in a worker thread, so the event loop is never held for long. Syndicated copies
(`duplicate_of` set), articles before `since` and, when `langs` is given, articles in
other languages are left out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.pipeline.bm25 import (
    Group,
    Key,
    boost,
    cannot_beat,
    ceiling_order,
    decay,
    density_estimate,
    group_bound,
    idf,
    score_rows,
)
from storage.models import ArticleRow
from storage.repos._dialect import is_postgres

log = logging.getLogger(__name__)

MAX_TERMS = 32  # groups per query
MAX_VARIANTS = 6  # terms per group
MAX_TERM_CHARS = 100
PROBE = 1_000  # newest ids read first for every group (all of a rare group's)
POSTINGS_CAP = 5_000  # ids read per group; a longer list is too common to read whole
SCORE_BUDGET = 400  # documents whose text one search may read and score
CANDIDATE_CAP = 10_000  # ids of the rarest groups ranked by ceiling together at first
BATCH = 400  # documents read and scored per statement
FALLBACK_NEWEST = 400  # newest matches of each remaining group scored when stopping early
AVG_SAMPLE = 1_000  # newest articles whose lengths estimate the mean length (PostgreSQL)

__all__ = [
    "IndexFeedRepo",
    "IndexRow",
    "SearchRepo",
    "SearchResult",
    "clean_groups",
    "clean_terms",
    "decay",
    "fts5_query",
]

Row = tuple[int, float | None, str]  # (article id, published_at as epoch seconds, search_text)

# One string of ids per group (a row per id would cost more than the search itself).
_SQLITE_POSTINGS = (
    "SELECT group_concat(rowid) FROM (SELECT rowid FROM articles_fts WHERE articles_fts"
    " MATCH :q ORDER BY rowid DESC LIMIT :cap)"
)
_SQLITE_ROWS = """
SELECT a.id, (julianday(a.published_at) - 2440587.5) * 86400.0, a.search_text
FROM articles AS a
WHERE a.id IN (SELECT value FROM json_each(:ids)) AND a.duplicate_of IS NULL {filters}
"""
# PostgreSQL: the GIN index on the stored vector gives a group's ids as a bitmap; with
# index scans and sequential scans off for this statement the planner cannot walk the
# primary key instead (which for a rare term would visit the whole table).
_POSTGRES_POSTINGS = (
    "SELECT array_agg(id) FROM (SELECT id FROM articles WHERE search_tsv @@ ({q}) LIMIT :cap) s"
)
_POSTGRES_NEWEST = (
    "SELECT id FROM (SELECT id, search_tsv FROM articles ORDER BY id DESC LIMIT :walk) AS w"
    " WHERE w.search_tsv @@ ({q}) LIMIT :n"
)
_POSTGRES_NEWEST = "SELECT array_agg(id) FROM (" + _POSTGRES_NEWEST + ") AS n"
_POSTGRES_ROWS = """
SELECT a.id, extract(epoch FROM a.published_at)::float8, a.search_text
FROM articles AS a
WHERE a.id = ANY(CAST(:ids AS bigint[])) AND a.duplicate_of IS NULL {filters}
"""
_POSTGRES_STATS = """
SELECT (SELECT max(id) FROM articles),
       (SELECT avg(length(s.search_text) - length(replace(s.search_text, ' ', '')) + 1)
        FROM (SELECT search_text FROM articles ORDER BY id DESC LIMIT :sample) AS s
        WHERE s.search_text <> '')
"""
_BITMAP_SETTINGS = {"enable_indexscan": "off", "enable_seqscan": "off", "jit": "off"}


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Ranked (article id, score) pairs and whether they are the exact top by BM25."""

    ranked: list[tuple[int, float]]
    exact: bool
    scored: int  # documents whose text was read and scored


@dataclass(slots=True)
class _Postings:
    """One group's posting list: ids newest first, complete or the newest `POSTINGS_CAP`."""

    ids: list[int]
    complete: bool
    df: int


def _clean_term(raw: str) -> str:
    """A term without NULs or broken UTF-8, trimmed and bounded ("" when it has no word)."""
    term = raw.replace("\x00", "").encode("utf-8", "ignore").decode("utf-8").strip()
    term = term[:MAX_TERM_CHARS]
    return term if any(ch.isalnum() for ch in term) else ""


def clean_terms(terms: list[str]) -> list[str]:
    """Distinct, bounded, encodable terms that contain at least one letter or digit."""
    return [group[0] for group in clean_groups(terms)]


def clean_groups(groups: Sequence[str | Sequence[str]]) -> list[Group]:
    """Distinct, bounded groups of clean terms (a plain string is a group of one)."""
    out: list[Group] = []
    seen: set[str] = set()
    for group in groups:
        members = [group] if isinstance(group, str) else list(group)
        terms: dict[str, None] = {}
        for raw in members:
            term = _clean_term(raw)
            if term and term not in seen:
                terms.setdefault(term, None)
        if terms:
            kept = tuple(terms)[:MAX_VARIANTS]
            seen.update(kept)
            out.append(kept)
        if len(out) >= MAX_TERMS:
            break
    return out


def fts5_query(terms: Sequence[str], *, match_all: bool = False) -> str:
    """An FTS5 MATCH expression where every term is a quoted string literal."""
    quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
    return (" AND " if match_all else " OR ").join(quoted)


def recency_boost(published_at: datetime | None, now: datetime, half_life_hours: float) -> float:
    """1 + 0.5 ** (age / half-life): 2 for a brand-new article, towards 1 for old ones."""
    published = None if published_at is None else published_at.timestamp()
    return boost(published, now.timestamp(), half_life_hours)


def _kth(top: list[Key], k: int) -> Key | None:
    """The k-th best key so far, or None while fewer than k are known."""
    return top[k - 1] if len(top) >= k else None


class SearchRepo:
    """Full-text queries over `articles.search_text`."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        postings_cap: int = POSTINGS_CAP,
        score_budget: int = SCORE_BUDGET,
        candidate_cap: int = CANDIDATE_CAP,
    ) -> None:
        """Bind to one unit of work; the caps bound the work of one search."""
        self.session = session
        self.postings_cap = postings_cap
        self.score_budget = score_budget
        self.candidate_cap = candidate_cap

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
    ) -> list[tuple[int, float]]:
        """(article id, score) best first: articles with every group first, then the rest."""
        result = await self.search_detailed(
            groups,
            limit=limit,
            offset=offset,
            now=now,
            recency_half_life_hours=recency_half_life_hours,
            since=since,
            langs=langs,
        )
        return result.ranked

    async def search_detailed(
        self,
        groups: Sequence[str | Sequence[str]],
        *,
        limit: int,
        offset: int = 0,
        now: datetime,
        recency_half_life_hours: float = 48.0,
        since: datetime | None = None,
        langs: Sequence[str] | None = None,
    ) -> SearchResult:
        """The ranked page with whether it is exact and how many documents were scored."""
        wanted = clean_groups(groups)
        offset = max(offset, 0)
        if not wanted or limit <= 0:
            return SearchResult([], True, 0)
        postgres = is_postgres(self.session)
        run = _Run(self, wanted, offset + limit, now.timestamp(), recency_half_life_hours)
        run.filters, run.params = _filters(since, langs, postgres=postgres)
        saved = await self._bitmap_settings() if postgres else None
        try:
            top, exact = await run.execute()
        finally:
            if saved is not None:
                await self.session.execute(
                    text(_SETTINGS_RESTORE), dict(zip(_BITMAP_SETTINGS, saved, strict=True))
                )
        ranked = [(key[3], key[1]) for key in top[offset : offset + limit]]
        return SearchResult(ranked, exact, run.scored)

    async def _bitmap_settings(self) -> tuple[str, ...]:
        """Switch this transaction to bitmap index plans; the previous values to restore."""
        row = (await self.session.execute(text(_SETTINGS_SAVE))).one()
        return tuple(str(value) for value in row[: len(_BITMAP_SETTINGS)])

    async def stats(self) -> tuple[int, float]:
        """(documents, mean length in terms) of the index."""
        if is_postgres(self.session):
            row = (await self.session.execute(text(_POSTGRES_STATS), {"sample": AVG_SAMPLE})).one()
            return int(row[0] or 0), float(row[1] or 1.0)
        blob = await self.session.scalar(text("SELECT block FROM articles_fts_data WHERE id = 1"))
        docs, tokens = _fts5_averages(blob)
        top = await self.session.scalar(text("SELECT max(id) FROM articles"))
        return max(docs, 0) or int(top or 0), (tokens / docs if docs else 1.0)

    async def postings(self, group: Group, top: int, cap: int) -> _Postings:
        """Ids holding any term of `group`, newest first: all of them when at most `cap`.

        A longer list keeps its newest ids and estimates the group's document frequency
        from the density of its ids (on PostgreSQL the bitmap gives ids in table order, so
        the newest are walked for separately).
        """
        if not is_postgres(self.session):
            value = await self.session.scalar(
                text(_SQLITE_POSTINGS), {"q": fts5_query(group), "cap": cap + 1}
            )
            ids = [int(i) for i in value.split(",")] if value else []
            ids.sort(reverse=True)
            if len(ids) <= cap:
                return _Postings(ids, True, len(ids))
            return _Postings(ids[:cap], False, density_estimate(cap, ids[0], ids[cap - 1], top))
        tsquery, params = _postgres_tsquery(group)
        value = await self.session.scalar(
            text(_POSTGRES_POSTINGS.format(q=tsquery)), {**params, "cap": cap + 1}
        )
        ids = sorted((int(i) for i in value or ()), reverse=True)
        if len(ids) <= cap:
            return _Postings(ids, True, len(ids))
        rough = density_estimate(cap, max(ids), 1, top)
        newest = await self._postgres_newest(group, cap, rough, top)
        df = density_estimate(len(newest), top, newest[-1], top) if newest else rough
        return _Postings(newest, False, max(df, cap + 1))

    async def _postgres_newest(self, group: Group, n: int, df: int, top: int) -> list[int]:
        """The newest `n` ids holding the group, walking the newest rows (it is common)."""
        tsquery, params = _postgres_tsquery(group)
        walk = min(top, math.ceil(n * 4 * top / max(df, 1)))
        await self.session.execute(text("SELECT set_config('enable_indexscan', 'on', true)"))
        try:
            value = await self.session.scalar(
                text(_POSTGRES_NEWEST.format(q=tsquery)), {**params, "walk": walk, "n": n}
            )
            return sorted((int(i) for i in value or ()), reverse=True)
        finally:
            await self.session.execute(text("SELECT set_config('enable_indexscan', 'off', true)"))

    async def rows(self, ids: list[int], filters: str, params: dict[str, object]) -> list[Row]:
        """(id, published epoch s, search_text) of the given articles that pass the filters."""
        if not ids:
            return []
        if is_postgres(self.session):
            sql = _POSTGRES_ROWS.format(
                filters=filters.replace("%LANGS%", "= ANY(CAST(:langs AS text[]))")
            )
            bound: dict[str, object] = {"ids": ids, **params}
        else:
            sql = _SQLITE_ROWS.format(
                filters=filters.replace("%LANGS%", "IN (SELECT value FROM json_each(:langs))")
            )
            bound = {"ids": json.dumps(ids), **params}
            if "langs" in bound:
                bound["langs"] = json.dumps(bound["langs"])
        result = await self.session.execute(text(sql), bound)
        return [(int(i), None if ts is None else float(ts), st or "") for i, ts, st in result]


class _Run:
    """The state of one search: groups, their postings and bounds, the best keys so far."""

    def __init__(
        self, repo: SearchRepo, groups: list[Group], k: int, now_s: float, half_life: float
    ) -> None:
        """Prepare a search for the top `k` of `groups`."""
        self.repo = repo
        self.groups = groups
        self.k = k
        self.now_s = now_s
        self.half_life = half_life
        self.filters = ""
        self.params: dict[str, object] = {}
        self.scored = 0
        self.seen: set[int] = set()
        self.top: list[Key] = []
        self.weights: list[float] = []
        self.avg = 1.0

    async def execute(self) -> tuple[list[Key], bool]:
        """Run MaxScore over the groups, rarest first; (best keys, exact)."""
        docs, self.avg = await self.repo.stats()
        if docs <= 0:
            return [], True
        repo = self.repo
        lists = [await repo.postings(group, docs, PROBE) for group in self.groups]
        order = sorted(range(len(lists)), key=lambda i: lists[i].df)
        # The rarest groups are read whole up front (up to `candidate_cap` ids in all), so
        # that their document frequencies, and with them the weights, are exact.
        first = total = 0
        for i in order:
            if lists[i].df > repo.postings_cap or (
                first and total + lists[i].df > repo.candidate_cap
            ):
                break
            if not lists[i].complete:
                lists[i] = await repo.postings(self.groups[i], docs, repo.postings_cap)
                if not lists[i].complete:
                    break
            total += lists[i].df
            first += 1
        order = sorted(range(len(lists)), key=lambda i: lists[i].df)
        self.weights = [idf(docs, p.df) for p in lists]
        bounds = [group_bound(w) for w in self.weights]
        for taken in range(max(first, 1), len(order) + 1):
            head = order[:taken]
            if not lists[head[-1]].complete and lists[head[-1]].df <= repo.postings_cap:
                fetched = await repo.postings(self.groups[head[-1]], docs, repo.postings_cap)
                lists[head[-1]] = _Postings(fetched.ids, fetched.complete, lists[head[-1]].df)
            if not lists[head[-1]].complete:
                break  # too common to read whole
            rest = sum(bounds[i] for i in order[taken:])
            ceilings = await asyncio.to_thread(
                ceiling_order, [lists[i].ids for i in head], [bounds[i] for i in head]
            )
            if not await self._score_ceilings(ceilings, rest):
                return self.top, False  # over budget: the best ceilings were scored
            if taken == len(order) or cannot_beat((False, rest), _kth(self.top, self.k)):
                return self.top, True
        # A group too common to read whole is needed: its newest matches are scored too.
        newest = [lists[i].ids[:FALLBACK_NEWEST] for i in order if not lists[i].complete]
        extra = [i for i in _interleave(newest) if i not in self.seen]
        await self._score(extra[: max(self.repo.score_budget - self.scored, 0)])
        return self.top, False

    async def _score_ceilings(self, ceilings: list[tuple[bool, float, int]], rest: float) -> bool:
        """Score candidates in ceiling order until none left can enter; False when over budget."""
        batch: list[int] = []
        for holds_all, ceiling, article_id in ceilings:
            if article_id in self.seen:
                continue
            if cannot_beat((holds_all, ceiling + rest), _kth(self.top, self.k)):
                break
            if self.scored + len(batch) >= self.repo.score_budget:
                await self._score(batch)
                return False
            batch.append(article_id)
            if len(batch) >= BATCH:
                await self._score(batch)
                batch = []
        await self._score(batch)
        return True

    async def _score(self, ids: list[int]) -> None:
        """Read and score some documents, merging them into the best keys."""
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            self.seen.update(chunk)
            self.scored += len(chunk)
            rows = await self.repo.rows(chunk, self.filters, self.params)
            keys = await asyncio.to_thread(
                score_rows, rows, self.groups, self.weights, self.avg, self.now_s, self.half_life
            )
            self.top = sorted(self.top + keys, reverse=True)[: self.k]


def _interleave(lists: list[list[int]]) -> list[int]:
    """The lists' items taken in turn (first of each, then second of each, ...), distinct."""
    out: dict[int, None] = {}
    for position in range(max((len(ids) for ids in lists), default=0)):
        for ids in lists:
            if position < len(ids):
                out.setdefault(ids[position], None)
    return list(out)


def _filters(
    since: datetime | None, langs: Sequence[str] | None, *, postgres: bool
) -> tuple[str, dict[str, object]]:
    """Extra SQL conditions and parameters for a time and language filter."""
    sql = ""
    params: dict[str, object] = {}
    if since is not None:
        naive = since.astimezone(UTC).replace(tzinfo=None) if since.tzinfo else since
        sql += " AND a.published_at >= :since"
        # Stored naive UTC; SQLite holds the text SQLAlchemy writes, which sorts by time.
        params["since"] = naive if postgres else naive.strftime("%Y-%m-%d %H:%M:%S.%f")
    if langs:
        sql += " AND a.lang %LANGS%"
        params["langs"] = list(langs)
    return sql, params


def _fts5_averages(blob: bytes | None) -> tuple[int, int]:
    """(rows, tokens) from FTS5's averages record: a varint row count, then token totals."""
    if not blob:
        return 0, 0
    values: list[int] = []
    value = shift = 0
    for byte in blob:
        if len(values) == 2:
            break
        if shift >= 56:  # the ninth byte of an SQLite varint carries 8 bits
            values.append(value << 8 | byte)
            value = shift = 0
            continue
        value = value << 7 | (byte & 0x7F)
        shift += 7
        if not byte & 0x80:
            values.append(value)
            value = shift = 0
    while len(values) < 2:
        values.append(0)
    return values[0], values[1]


def _postgres_tsquery(group: Group) -> tuple[str, dict[str, object]]:
    """A tsquery OR of one bound `plainto_tsquery` per term, and its parameters."""
    tsquery = " || ".join(f"plainto_tsquery('simple'::regconfig, :t{i})" for i in range(len(group)))
    return tsquery, {f"t{i}": term for i, term in enumerate(group)}


_SETTINGS_SAVE = "SELECT " + ", ".join(
    [f"current_setting('{name}')" for name in _BITMAP_SETTINGS]
    + [f"set_config('{name}', '{value}', true)" for name, value in _BITMAP_SETTINGS.items()]
)
_SETTINGS_RESTORE = "SELECT " + ", ".join(
    f"set_config('{name}', :{name}, true)" for name in _BITMAP_SETTINGS
)


@dataclass(frozen=True, slots=True)
class IndexRow:
    """What the search index holds of one article (times as naive UTC, as stored)."""

    id: int
    published_at: datetime
    fetched_at: datetime
    lang: str
    search_text: str


class IndexFeedRepo:
    """Reads that keep a search index in step with `articles` (syndicated copies left out)."""

    def __init__(self, session: AsyncSession) -> None:
        """Bind to one unit of work."""
        self.session = session

    async def top_id(self) -> int:
        """The highest article id (0 when there are none)."""
        return int(await self.session.scalar(select(func.max(ArticleRow.id))) or 0)

    async def after(self, last_id: int, limit: int) -> list[IndexRow]:
        """Up to `limit` indexable articles with ids above `last_id`, in id order."""
        stmt = _index_select().where(ArticleRow.id > last_id).order_by(ArticleRow.id).limit(limit)
        return [IndexRow(*row) for row in await self.session.execute(stmt)]

    async def rows(self, ids: Sequence[int]) -> list[IndexRow]:
        """The indexable articles among `ids`."""
        out: list[IndexRow] = []
        for start in range(0, len(ids), 1000):
            part = list(ids[start : start + 1000])
            stmt = _index_select().where(ArticleRow.id.in_(part))
            out += [IndexRow(*row) for row in await self.session.execute(stmt)]
        return out

    async def versions_between(self, low: int, high: int) -> dict[int, datetime]:
        """fetched_at of the indexable articles with ids in (low, high]."""
        stmt = select(ArticleRow.id, ArticleRow.fetched_at).where(
            ArticleRow.id > low, ArticleRow.id <= high, ArticleRow.duplicate_of.is_(None)
        )
        return {int(i): fetched for i, fetched in await self.session.execute(stmt)}

    async def fetched_since(self, moment: datetime, high: int) -> dict[int, datetime]:
        """fetched_at of articles with ids up to `high` fetched (or re-fetched) since `moment`.

        Reads the whole table (`fetched_at` has no index): run it rarely.
        """
        naive = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
        stmt = select(ArticleRow.id, ArticleRow.fetched_at).where(
            ArticleRow.fetched_at >= naive, ArticleRow.id <= high
        )
        return {int(i): fetched for i, fetched in await self.session.execute(stmt)}

    async def duplicates_among(self, ids: Sequence[int]) -> set[int]:
        """The ids among `ids` that are syndicated copies (or no longer stored)."""
        found: set[int] = set()
        for start in range(0, len(ids), 1000):
            part = list(ids[start : start + 1000])
            stmt = select(ArticleRow.id).where(
                ArticleRow.id.in_(part), ArticleRow.duplicate_of.is_(None)
            )
            found |= {int(i) for i in await self.session.scalars(stmt)}
        return set(ids) - found


def _index_select() -> Select[tuple[int, datetime, datetime, str, str]]:
    """The columns the search index holds, of articles that are not syndicated copies."""
    return select(
        ArticleRow.id,
        ArticleRow.published_at,
        ArticleRow.fetched_at,
        ArticleRow.lang,
        ArticleRow.search_text,
    ).where(ArticleRow.duplicate_of.is_(None))
