"""Full-text search over articles' matching form: FTS5 on SQLite, tsvector/GIN on PostgreSQL.

Terms arrive already in matching form (`bot.pipeline.text.query_terms`). They are only ever
sent as bound parameters: on SQLite inside one FTS5 query string where every term is a
quoted string literal (embedded quotes doubled), on PostgreSQL each through its own
`plainto_tsquery('simple', :term)`, combined with `&&` / `||`. No user text is ever
spliced into SQL or parsed as query syntax.

Work per query is bounded, so latency does not grow with the number of matches. The
engine only finds candidates, newest first, and never scores: the newest `pool` matches, or
every match when there are fewer than `pool * WIDE_FACTOR` (on PostgreSQL: when the probe
expects so, or the search reaches the whole table). On SQLite that is the rowids of
the newest FTS5 matches (rowid order is how FTS5 stores its doclists). On PostgreSQL, over
the stored vector `search_tsv` (revision 0002), the newest rows are probed first; common
queries fill the pool there or on a short walk further back, rarer ones go through the GIN
index over an id window sized by the probe's hit rate (or over the whole table when few
matches are expected), each path chosen by a measured cost ratio. Scoring is BM25 over the
candidates' `search_text`, computed here (`text_relevance`), with each term's IDF
estimated from the candidates: the engines' own scores cost more than the search (bm25()
walks every query term's full doclist for its statistics; ts_rank would read each row's
vector again). The final score is that relevance times a recency boost
`1 + 0.5 ** (age_hours / half_life)`, so between equally relevant articles the newer wins
and a fresh article can count up to double.
Articles with all the terms come first; when they are fewer than asked for, articles with
any of the terms follow them. Syndicated copies (`duplicate_of` set) are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.repos._dialect import is_postgres

MAX_TERMS = 32
MAX_TERM_CHARS = 100
DEFAULT_POOL = 200  # matches scored per query (the newest ones)
WIDE_FACTOR = 3  # a match set up to pool * WIDE_FACTOR is scored whole
# PostgreSQL: the newest pool * PROBE_FACTOR articles are checked first; the share of them
# that match sizes the id window searched through the GIN index when they are too few.
PROBE_FACTOR = 8
WINDOW_MARGIN = 2.0  # the window is sized to hold about this many pools of matches
# Walking rows newest first costs about WALK_ROW_COST per row; a GIN lookup about
# GIN_ENTRY_COST per indexed match of the whole table (measured ratio, 1M articles).
WALK_ROW_COST = 1.8
GIN_ENTRY_COST = 0.25
KEY_RANGE_RATIO = 100  # ids of a key-range bitmap that cost as much as reading one row
BM25_K1 = 1.2
BM25_B = 0.75
_EPOCH_JULIAN_DAY = 2440587.5  # julianday('1970-01-01')

# SQLite, one statement: the rowids of the newest `wide` FTS5 matches (FTS5 walks its
# doclists in rowid order and stops at the LIMIT; no auxiliary function runs, so nothing is
# scored there), then the text of all of them when they are fewer than `wide`, otherwise of
# the newest `pool`. (bm25() would first walk every query term's whole doclist for its
# statistics: 40 ms for a term in 30% of a million articles, whatever the LIMIT.)
_SQLITE_SQL = f"""
WITH m AS MATERIALIZED (
  SELECT rowid AS id FROM articles_fts WHERE articles_fts MATCH :q ORDER BY rowid DESC LIMIT :wide
)
SELECT a.id, (julianday(a.published_at) - {_EPOCH_JULIAN_DAY}) * 86400.0, a.search_text
FROM articles AS a
WHERE a.id IN (
  SELECT id FROM m ORDER BY id DESC
  LIMIT CASE WHEN (SELECT count(*) FROM m) < :wide THEN :wide ELSE :pool END
) AND a.duplicate_of IS NULL
"""
# PostgreSQL step 1, the probe: the newest `probe` articles by primary key (fenced with
# OFFSET 0 so the planner walks the key backwards rather than the GIN index), filtered on
# the stored vector `search_tsv`. Common terms fill the pool here, at the cost of a few
# hundred rows; the count of matches tells how rare the query is.
_POSTGRES_PROBE = """
SELECT p.id, p.published_at, p.search_text
FROM (
  SELECT id, extract(epoch FROM published_at)::float8 AS published_at, search_text,
         search_tsv, duplicate_of
  FROM articles WHERE id > :lo AND id <= :hi ORDER BY id DESC OFFSET 0
) AS p
WHERE p.search_tsv @@ ({q}) AND p.duplicate_of IS NULL
ORDER BY p.id DESC
LIMIT :pool
"""
# PostgreSQL step 2: the newest matches inside an id window, through the GIN index on the
# stored vector (`id + 0` in ORDER BY keeps the planner from walking the key instead, which
# for terms that rarely meet costs the whole table). The window is either an indexable key
# range, whose bitmap is ANDed with the GIN one so that only the window's matches are read,
# or ({key} = `a.id + 0`) a filter on the rows the GIN index finds: a key-range bitmap costs
# about as much per id as reading a matching row costs per KEY_RANGE_RATIO ids. Of the newest
# `wide` matches only the newest `pool` come back, or all of them when they are fewer.
_POSTGRES_WINDOW = """
SELECT c.id, c.published_at, c.search_text
FROM (
  SELECT w.*, row_number() OVER () AS r, count(*) OVER () AS n
  FROM (
    SELECT a.id, extract(epoch FROM a.published_at)::float8 AS published_at, a.search_text
    FROM articles AS a
    WHERE a.search_tsv @@ ({q}) AND a.duplicate_of IS NULL AND {key} > :lo
    ORDER BY (a.id + 0) DESC
    LIMIT :wide
  ) AS w
) AS c
WHERE c.n < :wide OR c.r <= :pool
ORDER BY c.id DESC
"""
_WINDOW_SETTINGS = {
    "enable_indexscan": "off",
    "enable_seqscan": "off",
    "jit": "off",
    "random_page_cost": "40",
}
_SETTINGS_SAVE = "SELECT " + ", ".join(
    [f"current_setting('{name}')" for name in _WINDOW_SETTINGS]
    + [f"set_config('{name}', '{value}', true)" for name, value in _WINDOW_SETTINGS.items()]
)
_SETTINGS_RESTORE = "SELECT " + ", ".join(
    f"set_config('{name}', :{name}, true)" for name in _WINDOW_SETTINGS
)
Row = tuple[int, float | None, str]  # (article id, published_at as epoch seconds, search_text)


@dataclass(frozen=True, slots=True)
class _Candidate:
    """One matching article before the recency boost."""

    article_id: int
    published: float | None  # epoch seconds
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


def decay(age_hours: float, half_life_hours: float) -> float:
    """0.5 ** (age / half-life), 1 for future or brand-new articles, 0 without a half-life."""
    if half_life_hours <= 0:
        return 0.0
    value: float = 0.5 ** (max(0.0, age_hours) / half_life_hours)
    return value


def recency_boost(published_at: datetime | None, now: datetime, half_life_hours: float) -> float:
    """1 + 0.5 ** (age / half-life): 2 for a brand-new article, towards 1 for old ones."""
    if published_at is None:
        return 1.0
    return 1.0 + decay((now - published_at).total_seconds() / 3600.0, half_life_hours)


def rank(
    candidates: list[_Candidate], now: datetime, half_life_hours: float
) -> list[tuple[int, float]]:
    """(article id, final score), best first; ties go to the newer, then higher id."""
    now_s = now.timestamp()
    scored = {
        c.article_id: (
            max(c.relevance, 0.0)
            * (
                1.0
                if c.published is None
                else 1.0 + decay((now_s - c.published) / 3600.0, half_life_hours)
            ),
            c.published if c.published is not None else 0.0,
        )
        for c in candidates
    }
    order = sorted(scored.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0]), reverse=True)
    return [(article_id, score) for article_id, (score, _) in order]


def window_size(probed: int, found: int, pool: int) -> int:
    """Newest-id window expected to hold WINDOW_MARGIN pools, from the probe's hit rate."""
    rate = max(found, 0.5) / max(probed, 1)
    return math.ceil(pool * WINDOW_MARGIN / rate)


def expected_matches(probed: int, found: int, total: int) -> float:
    """Matches expected in `total` rows at the probe's hit rate (half a hit when none)."""
    return total * max(found, 0.5) / max(probed, 1)


def walk_is_cheaper(window: int, probed: int, found: int, total: int) -> bool:
    """Whether walking `window` rows costs less than a GIN lookup of all the matches."""
    return window * WALK_ROW_COST < expected_matches(probed, found, total) * GIN_ENTRY_COST


def key_range_pays(window: int, probed: int, found: int, total: int) -> bool:
    """Whether ANDing a `window`-id key range beats reading every match the index finds."""
    return window < expected_matches(probed, found, total) * KEY_RANGE_RATIO


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
            rows = await self._postgres_rows(terms, match_all=match_all, pool=pool)
        else:
            rows = await self._sqlite_rows(terms, match_all=match_all, pool=pool)
        return _scored(rows, terms)

    async def _sqlite_rows(self, terms: list[str], *, match_all: bool, pool: int) -> list[Row]:
        """The newest `pool` matches, or all of them when fewer than `pool * WIDE_FACTOR`."""
        params = {"q": fts5_query(terms, match_all=match_all), "wide": pool * WIDE_FACTOR}
        result = await self.session.execute(text(_SQLITE_SQL), {**params, "pool": pool})
        return [(int(i), None if ts is None else float(ts), st or "") for i, ts, st in result]

    async def _postgres_rows(self, terms: list[str], *, match_all: bool, pool: int) -> list[Row]:
        """The newest `pool` matches, or all of them when fewer than `pool * WIDE_FACTOR`.

        The newest rows are probed first: common queries fill the pool there, or on a short
        walk further back. Rarer ones go through the GIN index, over an id window sized by
        the probe's hit rate, or over the whole table when few matches are expected.
        """
        tsquery, params = _postgres_tsquery(terms, match_all=match_all)
        top = await self.session.scalar(text("SELECT max(id) FROM articles"))
        if top is None:
            return []
        top = int(top)
        wide = pool * WIDE_FACTOR
        probe = pool * PROBE_FACTOR
        walk = _POSTGRES_PROBE.format(q=tsquery)
        if probe >= top:  # a small table: the probe reads all of it
            rows = await self._postgres_fetch(walk, {**params, "pool": wide, "lo": 0, "hi": top})
            return rows if len(rows) < wide else rows[:pool]
        rows = await self._postgres_fetch(
            walk, {**params, "pool": pool, "lo": top - probe, "hi": top}
        )
        found = len(rows)
        if found >= pool:
            return rows
        window = window_size(probe, found, pool)
        few = expected_matches(probe, found, top) <= wide
        if not few and walk_is_cheaper(window, probe, found, top):
            more = await self._postgres_fetch(
                walk, {**params, "pool": pool - len(rows), "lo": top - window, "hi": top - probe}
            )
            rows += more
            if len(rows) >= pool or window >= top:
                return rows
            window *= 10
        # Planner settings for the window statements only: plain index scans off (given
        # `id > lo` the planner may walk the primary key and test every row it passes),
        # sequential scans off, JIT off, and random page reads priced high, so that it reads
        # only the GIN index's matches and ANDs in the key range whenever it is offered
        # (its estimate for several terms together assumes they are unrelated and is far
        # too low, which otherwise makes it read every match in the table).
        previous = (await self.session.execute(text(_SETTINGS_SAVE))).one()
        try:
            for size in (None,) if few else (window, window * 10, None):
                lo = 0 if size is None or size >= top else top - size
                ranged = lo > 0 and key_range_pays(top - lo, probe, found, top)
                statement = _POSTGRES_WINDOW.format(q=tsquery, key="a.id" if ranged else "a.id + 0")
                limits = {"pool": pool, "wide": wide if lo == 0 else pool}
                rows = await self._postgres_fetch(statement, {**params, **limits, "lo": lo})
                if len(rows) >= pool or lo == 0:
                    break
        finally:
            await self.session.execute(
                text(_SETTINGS_RESTORE),
                dict(zip(_WINDOW_SETTINGS, previous[: len(_WINDOW_SETTINGS)], strict=True)),
            )
        return rows

    async def _postgres_fetch(self, sql: str, params: dict[str, object]) -> list[Row]:
        """Run one PostgreSQL candidate statement."""
        result = await self.session.execute(text(sql), params)
        return [(int(i), None if ts is None else float(ts), st or "") for i, ts, st in result]


def _scored(rows: list[Row], terms: list[str]) -> list[_Candidate]:
    """Candidates from (id, published epoch, search_text) rows, scored by `text_relevance`."""
    scores = text_relevance([search_text for _, _, search_text in rows], terms)
    return [
        _Candidate(article_id, published, score)
        for (article_id, published, _), score in zip(rows, scores, strict=True)
    ]


def term_counts(text: str, terms: list[str]) -> list[int]:
    """How often each term occurs as a whole word of a space-separated text.

    Substring counts on a copy with every space doubled, so that neighbouring words do not
    share the space between them; a term absent from the text costs one `in` test.
    """
    padded = ""
    counts: list[int] = []
    for term in terms:
        if term not in text:
            counts.append(0)
            continue
        if not padded:
            padded = " " + text.replace(" ", "  ") + " "
        counts.append(padded.count(" " + term + " "))
    return counts


def text_relevance(texts: list[str], terms: list[str]) -> list[float]:
    """BM25 of each matching-form text for `terms`, with the IDF taken from these texts.

    The candidates are the newest matches, so how many of them hold a term estimates how
    common it is among matches: a term in every candidate weighs log 2, a rare one more.
    """
    if not texts:
        return []
    lengths = [t.count(" ") + 1 if t else 0 for t in texts]
    counts = [term_counts(t, terms) for t in texts]
    avg_len = max(sum(lengths) / len(texts), 1.0)
    total = len(texts)
    idf = [
        math.log(1.0 + total / max(sum(1 for row in counts if row[i]), 1))
        for i in range(len(terms))
    ]
    scores: list[float] = []
    for length, row in zip(lengths, counts, strict=True):
        norm = BM25_K1 * (1.0 - BM25_B + BM25_B * length / avg_len)
        scores.append(
            sum(
                w * tf * (BM25_K1 + 1.0) / (tf + norm) for w, tf in zip(idf, row, strict=True) if tf
            )
        )
    return scores


def _postgres_tsquery(terms: list[str], *, match_all: bool) -> tuple[str, dict[str, object]]:
    """A tsquery expression of one bound `plainto_tsquery` per term, and its parameters."""
    joiner = " && " if match_all else " || "
    tsquery = joiner.join(f"plainto_tsquery('simple'::regconfig, :t{i})" for i in range(len(terms)))
    return tsquery, {f"t{i}": term for i, term in enumerate(terms)}
