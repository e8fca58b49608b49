"""Full-text search over articles' matching form: FTS5 on SQLite, tsvector/GIN on PostgreSQL.

Terms arrive already in matching form (`bot.pipeline.text.query_terms`). They are only ever
sent as bound parameters: on SQLite inside one FTS5 query string where every term is a
quoted string literal (embedded quotes doubled), on PostgreSQL each through its own
`plainto_tsquery('simple', :term)`, combined with `&&` / `||`. No user text is ever
spliced into SQL or parsed as query syntax.

Work per query is bounded, so latency does not grow with the number of matches. The
engine only finds candidates, newest first: on SQLite the rowids of the newest
`pool * WIDE_FACTOR` FTS5 matches (rowid order is how FTS5 stores its doclists; nothing is
scored); on PostgreSQL the newest `pool` matches inside the smallest recent id window that
holds that many (GIN and primary-key bitmaps ANDed). When the whole match set is that small
every match is scored, otherwise the newest `pool`. Scoring is BM25 over the candidates'
`search_text`, computed here (`text_relevance`), with each term's IDF estimated from the
candidates: the engines' own scores cost more than the search (bm25() walks every query
term's full doclist for its statistics; ts_rank needs to_tsvector per row). The final score
is that relevance times a recency boost `1 + 0.5 ** (age_hours / half_life)`, so between
equally relevant articles the newer wins and a fresh article can count up to double.
Articles with all the terms come first; when they are fewer than asked for, articles with
any of the terms follow them. Syndicated copies (`duplicate_of` set) are left out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, Text, TextualSelect, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import UTCDateTime
from storage.repos._dialect import is_postgres

MAX_TERMS = 32
MAX_TERM_CHARS = 100
DEFAULT_POOL = 200  # matches scored per query (the newest ones)
WIDE_FACTOR = 5  # a match set up to pool * WIDE_FACTOR is scored whole
# PostgreSQL: id windows (newest first) tried before the whole table; each must fill the pool.
PG_WINDOWS = (20_000, 200_000)
BM25_K1 = 1.2
BM25_B = 0.75

# SQLite step 1: the newest matches' rowids. FTS5 walks its doclists in rowid order and
# stops at the LIMIT, and no auxiliary function runs, so nothing is scored here.
_SQLITE_NEWEST = """
SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q ORDER BY rowid DESC LIMIT :wide
"""
# SQLite step 2: the chosen candidates' text, to be scored here. (bm25() would first walk
# every query term's whole doclist for its statistics: 40 ms for a term in 30% of a
# million articles, whatever the LIMIT.)
_SQLITE_TEXTS = """
SELECT a.id AS id, a.published_at AS published_at, a.search_text AS search_text
FROM articles AS a
WHERE a.id IN (SELECT value FROM json_each(:ids)) AND a.duplicate_of IS NULL
"""
# PostgreSQL: the newest matches inside an id window, found through the GIN index (a
# bitmap scan; `id + 0` keeps the planner from walking the primary key backwards and
# running to_tsvector on every row it passes). The text comes back to be scored here:
# ts_rank would recompute to_tsvector for each candidate, which costs more than the scan.
_POSTGRES_SQL = """
SELECT a.id AS id, a.published_at AS published_at, a.search_text AS search_text
FROM articles AS a
WHERE to_tsvector('simple'::regconfig, a.search_text) @@ ({q})
  AND a.duplicate_of IS NULL AND a.id > :lo
ORDER BY (a.id + 0) DESC
LIMIT :pool
"""


@dataclass(frozen=True, slots=True)
class _Candidate:
    """One matching article before the recency boost."""

    article_id: int
    published_at: datetime | None
    relevance: float


def clean_terms(terms: list[str]) -> list[str]:
    """Distinct, bounded, encodable terms that contain at least one letter or digit."""
    out: dict[str, None] = {}
    for raw in terms:
        term = raw.replace("\x00", "").encode("utf-8", "ignore").decode("utf-8")
        term = term.strip()[:MAX_TERM_CHARS]
        if term and any(ch.isalnum() for ch in term):
            out.setdefault(term, None)
        if len(out) >= MAX_TERMS:
            break
    return list(out)


def fts5_query(terms: list[str], *, match_all: bool) -> str:
    """An FTS5 MATCH expression where every term is a quoted string literal."""
    quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
    return (" AND " if match_all else " OR ").join(quoted)


def recency_boost(published_at: datetime | None, now: datetime, half_life_hours: float) -> float:
    """1 + 0.5 ** (age / half-life): 2 for a brand-new article, towards 1 for old ones."""
    if published_at is None or half_life_hours <= 0:
        return 1.0
    age_hours = max(0.0, (now - published_at).total_seconds() / 3600.0)
    decay: float = 0.5 ** (age_hours / half_life_hours)
    return 1.0 + decay


def rank(
    candidates: list[_Candidate], now: datetime, half_life_hours: float
) -> list[tuple[int, float]]:
    """(article id, final score), best first; ties go to the newer, then higher id."""
    scored = {
        c.article_id: (
            max(c.relevance, 0.0) * recency_boost(c.published_at, now, half_life_hours),
            c.published_at.timestamp() if c.published_at else 0.0,
        )
        for c in candidates
    }
    order = sorted(scored.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0]), reverse=True)
    return [(article_id, score) for article_id, (score, _) in order]


class SearchRepo:
    """Full-text queries over `articles.search_text`."""

    def __init__(self, session: AsyncSession, pool: int = DEFAULT_POOL) -> None:
        """Bind to one unit of work; `pool` bounds how many matches are scored."""
        self.session = session
        self.pool = pool

    async def search(
        self,
        terms: list[str],
        *,
        limit: int,
        offset: int = 0,
        now: datetime,
        recency_half_life_hours: float = 48.0,
    ) -> list[tuple[int, float]]:
        """(article id, score) best first: articles with all terms, then (to fill up) any term."""
        wanted = clean_terms(terms)
        if not wanted or limit <= 0:
            return []
        offset = max(offset, 0)
        pool = max(self.pool, offset + limit)
        ranked = rank(
            await self._candidates(wanted, match_all=True, pool=pool),
            now,
            recency_half_life_hours,
        )
        if len(ranked) < offset + limit and len(wanted) > 1:
            seen = {article_id for article_id, _ in ranked}
            extra = await self._candidates(wanted, match_all=False, pool=pool)
            ranked += rank(
                [c for c in extra if c.article_id not in seen], now, recency_half_life_hours
            )
        return ranked[offset : offset + limit]

    async def _candidates(
        self, terms: list[str], *, match_all: bool, pool: int
    ) -> list[_Candidate]:
        """Matching, non-duplicate articles with their raw relevance (bounded by `pool`)."""
        if is_postgres(self.session):
            return await self._postgres_candidates(terms, match_all=match_all, pool=pool)
        return await self._sqlite_candidates(terms, match_all=match_all, pool=pool)

    async def _sqlite_candidates(
        self, terms: list[str], *, match_all: bool, pool: int
    ) -> list[_Candidate]:
        """The newest `pool` matches (all of them when there are few) scored by bm25."""
        query = fts5_query(terms, match_all=match_all)
        wide = pool * WIDE_FACTOR
        newest = list(
            (await self.session.execute(text(_SQLITE_NEWEST), {"q": query, "wide": wide}))
            .scalars()
            .all()
        )
        if not newest:
            return []
        chosen = newest if len(newest) < wide else newest[:pool]
        result = await self.session.execute(
            _texts(_SQLITE_TEXTS), {"ids": json.dumps([int(i) for i in chosen])}
        )
        return _scored(
            [(int(i), published, search_text or "") for i, published, search_text in result], terms
        )

    async def _postgres_candidates(
        self, terms: list[str], *, match_all: bool, pool: int
    ) -> list[_Candidate]:
        """The newest `pool` matches, from the smallest recent id window that has them."""
        statement, params = _postgres_statement(terms, match_all=match_all)
        top = await self.session.scalar(text("SELECT max(id) FROM articles"))
        if top is None:
            return []
        rows: list[tuple[int, datetime | None, str]] = []
        # Plain index scans off for these statements only: given `id > lo` the planner
        # likes walking the primary key and running to_tsvector per row (seconds on a
        # 20,000-row window); with bitmap scans it ANDs the GIN and primary-key bitmaps.
        previous = await self.session.scalar(text("SELECT current_setting('enable_indexscan')"))
        await self.session.execute(text("SELECT set_config('enable_indexscan', 'off', true)"))
        try:
            for window in (*PG_WINDOWS, None):
                lo = 0 if window is None or window >= top else int(top) - window
                result = await self.session.execute(statement, {**params, "pool": pool, "lo": lo})
                rows = [(int(i), when, search_text or "") for i, when, search_text in result]
                if len(rows) >= pool or lo == 0:
                    break
        finally:
            await self.session.execute(
                text("SELECT set_config('enable_indexscan', :v, true)"), {"v": previous}
            )
        return _scored(rows, terms)


def _scored(rows: list[tuple[int, datetime | None, str]], terms: list[str]) -> list[_Candidate]:
    """Candidates from (id, published_at, search_text) rows, scored by `text_relevance`."""
    scores = text_relevance([search_text for _, _, search_text in rows], terms)
    return [
        _Candidate(article_id, published_at, score)
        for (article_id, published_at, _), score in zip(rows, scores, strict=True)
    ]


def text_relevance(texts: list[str], terms: list[str]) -> list[float]:
    """BM25 of each matching-form text for `terms`, with the IDF taken from these texts.

    The candidates are the newest matches, so how many of them hold a term estimates how
    common it is among matches: a term in every candidate weighs log 2, a rare one more.
    """
    if not texts:
        return []
    docs = [t.split() for t in texts]
    avg_len = max(sum(map(len, docs)) / len(docs), 1.0)
    counts = [[doc.count(term) for term in terms] for doc in docs]
    total = len(docs)
    idf = [
        math.log(1.0 + total / max(sum(1 for row in counts if row[i]), 1))
        for i in range(len(terms))
    ]
    scores: list[float] = []
    for doc, row in zip(docs, counts, strict=True):
        norm = BM25_K1 * (1.0 - BM25_B + BM25_B * len(doc) / avg_len)
        scores.append(
            sum(
                w * tf * (BM25_K1 + 1.0) / (tf + norm) for w, tf in zip(idf, row, strict=True) if tf
            )
        )
    return scores


def _postgres_statement(
    terms: list[str], *, match_all: bool
) -> tuple[TextualSelect, dict[str, object]]:
    """The PostgreSQL statement, one bound `plainto_tsquery` per term, and its parameters."""
    joiner = " && " if match_all else " || "
    tsquery = joiner.join(f"plainto_tsquery('simple'::regconfig, :t{i})" for i in range(len(terms)))
    params: dict[str, object] = {f"t{i}": term for i, term in enumerate(terms)}
    return _texts(_POSTGRES_SQL.format(q=tsquery)), params


def _texts(sql: str) -> TextualSelect:
    """A textual statement returning (id, published_at, search_text)."""
    return text(sql).columns(id=Integer(), published_at=UTCDateTime(), search_text=Text())
