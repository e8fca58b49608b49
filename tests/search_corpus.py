"""A search corpus: the gold-labelled gva dev articles planted among generated articles.

Shared by the pinned recall test and `benchmarks/bench_search.py`. Generated articles are
newer than the dev set (so a search that scores only the newest matches misses the dev
articles) and share its vocabulary: English ones are words drawn at the dev set's own word
frequencies (headline words for the headline, body words for the body), so common query
words match tens of thousands of them and rare ones a few, while no generated article
copies a dev article's sentences (which would make it a true match the gold does not list).
Arabic ones recombine saudinewsnet headlines and sentences. Rows are bulk-loaded: SQLite
in one transaction with the FTS5 triggers off and one `rebuild`, PostgreSQL by COPY with the
GIN index dropped and rebuilt.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bot.pipeline.text import matching_terms, raw_tokens
from storage.db import Database
from storage.fts import POSTGRES_FTS_INDEX

NOW = datetime(2024, 6, 1, tzinfo=UTC)  # generated articles fall in the 60 days before
_SENTENCE_END = re.compile(r"(?<=[.!?؟])\s+|\n+")
Row = tuple[int, str, str, str, str, datetime, str]  # id, url, title, text, lang, published, st
LOAD_MAINTENANCE_WORK_MEM = "1GB"  # the bulk load's GIN build, one session only


@dataclass(frozen=True, slots=True)
class DevSet:
    """The gva dev articles: rows, their ids in the corpus and their events."""

    rows: list[dict[str, str]]
    ids: dict[str, int]  # gva id -> article id
    events: dict[str, set[int]]  # cluster id -> article ids


def load_jsonl(path: Path) -> list[dict[str, str]]:
    """Rows of a JSONL file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def search_text(title: str, body: str) -> str:
    """The matching form the index holds for a title and body (as ingest writes it)."""
    return " ".join(matching_terms(f"{title}\n{body}"))


def dev_rows(rows: list[dict[str, str]]) -> tuple[list[Row], DevSet]:
    """The dev articles as corpus rows with ids 1..n (the oldest ids), and their gold."""
    out: list[Row] = []
    ids: dict[str, int] = {}
    events: dict[str, set[int]] = defaultdict(set)
    for i, row in enumerate(rows, start=1):
        published = datetime.fromisoformat(row["published"]).replace(tzinfo=UTC)
        title, body = row["title"], row["text"]
        out.append(
            (i, f"{row['url']}#{row['id']}", title, body, "en", published, search_text(title, body))
        )
        ids[row["id"]] = i
        events[row["cluster_id"]].add(i)
    return out, DevSet(rows, ids, dict(events))


class _Vocabulary:
    """Words drawn at their observed frequencies, each with its matching term precomputed."""

    def __init__(self, texts: list[str]) -> None:
        """Count the raw words of `texts`."""
        counts = Counter(tok for t in texts for tok in raw_tokens(t))
        self.words = list(counts)
        total = 0
        self.cumulative: list[int] = []
        for word in self.words:
            total += counts[word]
            self.cumulative.append(total)
        self.terms = {w: " ".join(matching_terms(w)) for w in self.words}

    def draw(self, rng: random.Random, n: int) -> list[str]:
        """n words at their frequencies."""
        return rng.choices(self.words, cum_weights=self.cumulative, k=n)


class Generator:
    """Generated English and Arabic articles in the vocabulary of the shared data."""

    def __init__(self, gva: list[dict[str, str]], saudi: list[dict[str, str]]) -> None:
        """Learn the English word frequencies and the Arabic pieces."""
        self.en_titles = _Vocabulary([r["title"] for r in gva])
        self.en_body = _Vocabulary([r["text"] for r in gva])
        self.ar_titles: list[tuple[str, str]] = []
        self.ar_sentences: list[tuple[str, str]] = []
        for row in saudi:
            title = (row.get("title") or "").strip()
            if title:
                self.ar_titles.append((title, " ".join(matching_terms(title))))
            for sentence in _SENTENCE_END.split(row.get("text") or ""):
                sentence = sentence.strip()
                if 30 <= len(sentence) <= 400:
                    self.ar_sentences.append((sentence, " ".join(matching_terms(sentence))))

    def english(self, rng: random.Random) -> tuple[str, str, str]:
        """(title, body, search text) of one generated English article."""
        title = self.en_titles.draw(rng, rng.randint(6, 12))
        body = self.en_body.draw(rng, rng.randint(60, 240))
        terms = [self.en_titles.terms[w] for w in title] + [self.en_body.terms[w] for w in body]
        return " ".join(title), " ".join(body), " ".join(t for t in terms if t)

    def arabic(self, rng: random.Random) -> tuple[str, str, str]:
        """(title, body, search text) of one generated Arabic article."""
        title, title_terms = rng.choice(self.ar_titles)
        body = rng.sample(self.ar_sentences, rng.randint(3, 6))
        terms = " ".join([title_terms, *(t for _, t in body)])
        return title, "\n".join(s for s, _ in body), terms

    def rows(self, first_id: int, n: int, seed: int, english_share: float = 0.5) -> Iterator[Row]:
        """n generated rows with ids from `first_id`, published in the 60 days before NOW."""
        rng = random.Random(seed)
        for article_id in range(first_id, first_id + n):
            lang = "en" if rng.random() < english_share else "ar"
            title, body, terms = self.english(rng) if lang == "en" else self.arabic(rng)
            published = NOW - timedelta(seconds=rng.randrange(60 * 86400))
            yield (
                article_id,
                f"https://gen.test/{article_id}",
                title,
                body,
                lang,
                published,
                terms,
            )


def load_sqlite(path: Path, rows: Iterator[Row]) -> None:
    """Bulk insert into a migrated SQLite file, then build the FTS5 index in one pass.

    The FTS5 sync triggers are read back from `sqlite_master` (the migration stays the only
    place they are written), dropped for the load and put back afterwards.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'articles'"
        " AND name LIKE 'articles_fts_%'"
    ).fetchall()
    sql = (
        "INSERT INTO articles (id, url, title, text, lang, published_at, search_text, lede,"
        " fetched_at, fanned_out) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, 1)"
    )
    fetched = _sqlite_time(NOW)
    conn.execute("BEGIN")
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append((*row[:5], _sqlite_time(row[5]), row[6], fetched))
        if len(batch) >= 20_000:
            conn.executemany(sql, batch)
            batch.clear()
    conn.executemany(sql, batch)
    conn.execute("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")
    for _, trigger_sql in triggers:
        conn.execute(trigger_sql)
    conn.execute("COMMIT")
    conn.execute("INSERT INTO articles_fts(articles_fts) VALUES ('optimize')")
    conn.execute("ANALYZE")
    conn.close()


def _sqlite_time(moment: datetime) -> str:
    """A UTC moment in the text form SQLAlchemy stores on SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


async def load_postgres(
    db: Database,
    schema: str,
    rows: Iterator[Row],
    on_backend: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """COPY into a migrated PostgreSQL schema with the GIN index dropped, then rebuild it.

    The index definition is read back from `pg_indexes` (the migration stays the only place
    it is written); the stored search vector fills in as a generated column. The loading
    session commits without waiting for the WAL flush and builds the index with
    `maintenance_work_mem` raised (at 1,000,000 articles the default 64 MB spills the GIN
    build to disk). `on_backend` is told the loading session's backend pid (a benchmark
    renices it). The next batch is generated in a thread while the last one is copied.
    VACUUM ANALYZE at the end, as autovacuum would leave a settled table. Returns the
    seconds of each phase: `copy`, `gin` and `vacuum`.
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
    columns = ["id", "url", "title", "text", "lang", "published_at", "search_text"]
    columns += ["lede", "fetched_at", "fanned_out"]
    seconds: dict[str, float] = {}
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        if on_backend is not None:
            on_backend(await driver.fetchval("SELECT pg_backend_pid()"))
        await driver.execute("SET synchronous_commit = off")
        await driver.execute(f"SET maintenance_work_mem = '{LOAD_MAINTENANCE_WORK_MEM}'")
        try:
            started = time.perf_counter()
            batches = _copy_batches(rows)
            pending: asyncio.Task[str] | None = None
            while True:  # the next batch is generated while the last one is copied
                batch = await asyncio.to_thread(next, batches, None)
                if pending is not None:
                    await pending
                if batch is None:
                    break
                pending = asyncio.create_task(
                    driver.copy_records_to_table(
                        "articles", records=batch, columns=columns, schema_name=schema
                    )
                )
            seconds["copy"] = time.perf_counter() - started
            started = time.perf_counter()
            await driver.execute(str(index_sql))
            seconds["gin"] = time.perf_counter() - started
            await driver.execute(
                f"SELECT setval(pg_get_serial_sequence('{schema}.articles', 'id'),"
                f" (SELECT max(id) FROM {schema}.articles))"
            )
            started = time.perf_counter()
            await driver.execute(f"VACUUM ANALYZE {schema}.articles")
            seconds["vacuum"] = time.perf_counter() - started
        finally:
            await driver.execute("RESET synchronous_commit; RESET maintenance_work_mem")
    return seconds


def _copy_batches(rows: Iterator[Row], size: int = 20_000) -> Iterator[list[tuple[object, ...]]]:
    """Rows as COPY records (every column the load writes), `size` at a time."""
    fetched = NOW.replace(tzinfo=None)
    batch: list[tuple[object, ...]] = []
    for row in rows:
        published = row[5].astimezone(UTC).replace(tzinfo=None)
        batch.append((*row[:5], published, row[6], "", fetched, True))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
