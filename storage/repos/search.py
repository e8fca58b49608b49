"""Full-text search over articles' matching form: FTS5 on SQLite, tsvector/GIN on PostgreSQL.

Terms arrive already in matching form (`bot.pipeline.text.query_terms`). They are only ever
sent as bound parameters: on SQLite inside one FTS5 query string where every term is a
quoted string literal (embedded quotes doubled), on PostgreSQL each through its own
`plainto_tsquery('simple', :term)`, combined with `&&` / `||`. No user text is ever
spliced into SQL or parsed as query syntax.

Ranking: the engine's relevance (negated `bm25()` on SQLite, `ts_rank` on PostgreSQL)
times a recency boost `1 + 0.5 ** (age_hours / half_life)`, so between equally relevant
articles the newer wins and a fresh article can count up to double. To stay fast on a
large table the candidates are bounded: the newest `pool` matches (plus, on SQLite, the
`pool` most relevant ones) are scored. Articles with all the terms come first; when
they are fewer than asked for, articles with any of the terms follow them. Syndicated copies (`duplicate_of` set) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, Integer, TextualSelect, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import UTCDateTime
from storage.repos._dialect import is_postgres

MAX_TERMS = 32
MAX_TERM_CHARS = 100
DEFAULT_POOL = 200
_SQLITE_SQL = """
SELECT a.id AS id, a.published_at AS published_at, c.score AS score
FROM (
    SELECT rowid AS rid, -bm25(articles_fts) AS score FROM articles_fts
    WHERE articles_fts MATCH :q ORDER BY rowid DESC LIMIT :pool
) AS c
JOIN articles AS a ON a.id = c.rid
WHERE a.duplicate_of IS NULL
UNION
SELECT a.id AS id, a.published_at AS published_at, c.score AS score
FROM (
    SELECT rowid AS rid, -bm25(articles_fts) AS score FROM articles_fts
    WHERE articles_fts MATCH :q ORDER BY rank LIMIT :pool
) AS c
JOIN articles AS a ON a.id = c.rid
WHERE a.duplicate_of IS NULL
"""
_POSTGRES_SQL = """
SELECT c.id AS id, c.published_at AS published_at,
       ts_rank(to_tsvector('simple'::regconfig, c.search_text), {q}) AS score
FROM (
    SELECT a.id, a.published_at, a.search_text FROM articles AS a
    WHERE to_tsvector('simple'::regconfig, a.search_text) @@ ({q})
      AND a.duplicate_of IS NULL
    ORDER BY (a.id + 0) DESC
    LIMIT :pool
) AS c
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
            statement, params = _postgres_statement(terms, match_all=match_all)
        else:
            statement, params = _sqlite_statement(terms, match_all=match_all)
        result = await self.session.execute(statement, {**params, "pool": pool})
        return [
            _Candidate(int(article_id), published_at, float(score or 0.0))
            for article_id, published_at, score in result
        ]


def _typed(sql: str) -> TextualSelect:
    """A textual statement whose result columns are typed (published_at comes back aware UTC)."""
    return text(sql).columns(id=Integer(), published_at=UTCDateTime(), score=Float())


def _sqlite_statement(
    terms: list[str], *, match_all: bool
) -> tuple[TextualSelect, dict[str, object]]:
    """The SQLite statement and its parameters (the FTS5 query is one bound string)."""
    return _typed(_SQLITE_SQL), {"q": fts5_query(terms, match_all=match_all)}


def _postgres_statement(
    terms: list[str], *, match_all: bool
) -> tuple[TextualSelect, dict[str, object]]:
    """The PostgreSQL statement, one bound `plainto_tsquery` per term, and its parameters."""
    joiner = " && " if match_all else " || "
    tsquery = joiner.join(f"plainto_tsquery('simple'::regconfig, :t{i})" for i in range(len(terms)))
    params: dict[str, object] = {f"t{i}": term for i, term in enumerate(terms)}
    return _typed(_POSTGRES_SQL.format(q=tsquery)), params
