"""Ingestion service against local 127.0.0.1 servers, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.domain import Source
from bot.fetch import Fetcher
from bot.ingest import FingerprintIndex, IngestService
from bot.pipeline.fingerprint import simhash
from bot.settings import Settings
from bot.stories import StoryService
from storage.db import Database
from storage.models import ArticleRow
from storage.repos.articles import ArticleRepo
from storage.repos.ops import NoticeRepo
from storage.repos.sources import SourceRepo

WORDS = [
    "minister",
    "council",
    "budget",
    "harbour",
    "railway",
    "drought",
    "vaccine",
    "election",
    "court",
    "bridge",
    "festival",
    "airline",
    "refinery",
    "treaty",
    "museum",
    "satellite",
    "flood",
    "stadium",
    "factory",
    "market",
    "province",
    "senate",
    "protest",
    "tariff",
    "reactor",
    "pipeline",
    "villa",
    "orchard",
    "tunnel",
    "glacier",
]


def prose(seed: int, sentences: int = 6) -> str:
    """Deterministic distinct English prose for one article."""
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(9, 14))]
        words.append(f"code{seed}x{rng.randint(0, 10**6)}")
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def rss(items: list[dict[str, str]]) -> bytes:
    """An RSS 2.0 document with the given items."""
    parts = []
    for item in items:
        parts.append(
            "<item>"
            f"<guid>{item['guid']}</guid><link>{item['link']}</link>"
            f"<title>{item['title']}</title><description>{item['text']}</description>"
            f"<pubDate>{item.get('date', 'Wed, 01 May 2024 10:00:00 GMT')}</pubDate>"
            "</item>"
        )
    body = "".join(parts)
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed</title><link>http://example.org/</link>{body}</channel></rss>"
    ).encode()


def article_html(title: str, text: str) -> bytes:
    """A small article page."""
    paras = "".join(f"<p>{s}</p>" for s in text.split(". "))
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"{paras}</article></body></html>"
    ).encode()


@dataclass
class Server:
    """A local HTTP server whose routes tests change; it counts requests per path."""

    base: str = ""
    routes: dict[str, Callable[[web.Request], web.Response]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def static(self, path: str, body: bytes, ctype: str = "application/rss+xml") -> None:
        """Serve fixed bytes at a path."""
        self.routes[path] = lambda _r: web.Response(body=body, content_type=ctype.split(";")[0])

    def url(self, path: str) -> str:
        """Absolute URL of a path."""
        return self.base + path


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """Start the local server on 127.0.0.1 and a free port."""
    state = Server()

    async def handle(request: web.Request) -> web.Response:
        """Dispatch to the current route or 404."""
        state.hits[request.path] = state.hits.get(request.path, 0) + 1
        route = state.routes.get(request.path)
        return route(request) if route else web.Response(status=404)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.base = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
async def service(db: Database) -> AsyncIterator[IngestService]:
    """An ingest service on the test database with private addresses allowed."""
    settings = Settings(allow_private_sources=True, pause_after_failures=3)
    stories = StoryService(db)
    await stories.load()
    async with Fetcher(allow_private=True) as fetcher:
        yield IngestService(db, fetcher, stories, settings)


async def add_source(db: Database, url: str, fetch_full_pages: int = 0) -> Source:
    """Store a source."""
    async with db.unit_of_work() as session:
        return await SourceRepo(session).add(
            url, url.rsplit("/", 1)[-1], poll_seconds=300, fetch_full_pages=fetch_full_pages
        )


async def fresh(db: Database, source_id: int) -> Source:
    """Reload a source."""
    async with db.unit_of_work() as session:
        found = await SourceRepo(session).get(source_id)
    assert found is not None
    return found


async def rows(db: Database) -> list[ArticleRow]:
    """Every article row (to compare stored fields)."""
    async with db.unit_of_work() as session:
        return list(await session.scalars(select(ArticleRow).order_by(ArticleRow.id)))


def items(server: Server, n: int, seed: int = 0) -> list[dict[str, str]]:
    """n distinct feed items on the server."""
    return [
        {
            "guid": f"g{seed}-{i}",
            "link": server.url(f"/news/{seed}-{i}"),
            "title": f"Headline {seed} {i} {WORDS[i % len(WORDS)]}",
            "text": prose(seed * 100 + i),
        }
        for i in range(n)
    ]


async def test_feed_stored_then_refetch_writes_nothing(
    server: Server, db: Database, service: IngestService
) -> None:
    """A feed is stored with summary, search text and story; the same feed again writes nothing."""
    server.static("/feed", rss(items(server, 3)))
    await add_source(db, server.url("/feed"))
    report = await service.poll_due("worker-1")
    assert (report.new, report.failed) == (3, 0)
    before = await rows(db)
    assert all(r.summary and r.search_text and r.story_id for r in before)
    assert all(2 <= len((r.summary or "").split("\n")) <= 3 for r in before)
    source = (await SourceRepo_list(db))[0]
    assert source.kind == "feed" and source.next_poll_at is not None
    again = await service.poll_source(source)
    assert (again.new, again.updated, again.duplicate) == (0, 0, 3)
    after = await rows(db)
    assert [(r.id, r.fetched_at, r.content_hash) for r in before] == [
        (r.id, r.fetched_at, r.content_hash) for r in after
    ]


async def SourceRepo_list(db: Database) -> list[Source]:
    """Every source."""
    async with db.unit_of_work() as session:
        return await SourceRepo(session).list_all()


async def test_304_with_etag(server: Server, db: Database, service: IngestService) -> None:
    """A stored ETag is sent back and a 304 writes no article."""
    body = rss(items(server, 2))
    seen: list[str | None] = []

    def feed(request: web.Request) -> web.Response:
        seen.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(body=body, headers={"ETag": '"v1"'}, content_type="application/xml")

    server.routes["/feed"] = feed
    source = await add_source(db, server.url("/feed"))
    assert (await service.poll_source(source)).new == 2
    stored = await fresh(db, source.id)
    assert stored.etag == '"v1"'
    report = await service.poll_source(stored)
    assert (report.new, report.updated, report.duplicate, report.failed) == (0, 0, 0, 0)
    assert seen == [None, '"v1"']
    assert len(await rows(db)) == 2


async def test_edited_item_updated_not_duplicated(
    server: Server, db: Database, service: IngestService
) -> None:
    """An item whose text changed is updated in place."""
    feed_items = items(server, 2)
    server.static("/feed", rss(feed_items))
    source = await add_source(db, server.url("/feed"))
    await service.poll_source(source)
    feed_items[0]["title"] = "Corrected headline about the railway"
    server.static("/feed", rss(feed_items))
    report = await service.poll_source(await fresh(db, source.id))
    assert (report.new, report.updated, report.duplicate) == (0, 1, 1)
    stored = await rows(db)
    assert len(stored) == 2
    assert stored[0].title == "Corrected headline about the railway"


async def test_same_guid_and_tracking_params_one_article(
    server: Server, db: Database, service: IngestService
) -> None:
    """Duplicate guids and the same canonical URL with utm params give one article."""
    base = items(server, 1)[0]
    copy_utm = dict(base, guid="other-guid", link=base["link"] + "?utm_source=x&fbclid=1")
    same_guid = dict(base, link=server.url("/elsewhere"))
    server.static("/feed", rss([base, copy_utm, same_guid]))
    source = await add_source(db, server.url("/feed"))
    report = await service.poll_source(source)
    assert report.new == 1
    assert len(await rows(db)) == 1


async def test_syndicated_copy_linked_and_related(
    server: Server, db: Database, service: IngestService
) -> None:
    """A copy of an article in another source gets duplicate_of; the story relates them."""
    original = items(server, 1, seed=7)[0]
    copy = dict(original, guid="copy", link=server.url("/copy/1"))
    server.static("/a", rss([original]))
    server.static("/b", rss([copy]))
    first = await add_source(db, server.url("/a"))
    second = await add_source(db, server.url("/b"))
    await service.poll_source(first)
    report = await service.poll_source(second)
    assert report.new == 1 and report.syndicated == 1
    a, b = await rows(db)
    assert b.duplicate_of == a.id
    assert a.story_id == b.story_id
    async with db.unit_of_work() as session:
        art = await ArticleRepo(session).get(a.id)
    assert art is not None
    related = await service.stories.related(art)
    assert related == []  # the copy's headline is near-identical, so it is folded away


async def test_one_failing_source_among_ten(
    server: Server, db: Database, service: IngestService
) -> None:
    """Nine sources ingest while the tenth fails."""
    for i in range(9):
        server.static(f"/f{i}", rss(items(server, 2, seed=i + 10)))
        await add_source(db, server.url(f"/f{i}"))
    server.routes["/broken"] = lambda _r: web.Response(status=500)
    await add_source(db, server.url("/broken"))
    report = await service.poll_due("worker")
    assert (report.new, report.failed) == (18, 1)
    sources = {s.url: s for s in await SourceRepo_list(db)}
    assert sources[server.url("/broken")].error_count == 1
    assert all(s.error_count == 0 for u, s in sources.items() if not u.endswith("/broken"))


async def test_backoff_grows_then_pause_with_notice(
    server: Server, db: Database, service: IngestService
) -> None:
    """Consecutive failures push the next poll further out, then pause with a notice."""
    server.routes["/down"] = lambda _r: web.Response(status=503)
    source = await add_source(db, server.url("/down"))
    delays = []
    for _ in range(3):
        source = await fresh(db, source.id)
        assert not source.paused
        report = await service.poll_source(source)
        assert report.failed == 1
        stored = await fresh(db, source.id)
        assert stored.next_poll_at is not None and stored.last_polled_at is not None
        delays.append((stored.next_poll_at - stored.last_polled_at).total_seconds())
    assert delays[0] < delays[1] < delays[2]
    stored = await fresh(db, source.id)
    assert stored.paused and stored.error_count == 3
    async with db.unit_of_work() as session:
        notices = await NoticeRepo(session).recent()
    assert any("paused" in n.text for n in notices)


async def test_section_page_articles(server: Server, db: Database, service: IngestService) -> None:
    """A section page's article links are fetched and extracted; known ones are skipped."""
    links = []
    for i in range(6):
        path = f"/news/2024/05/story-number-{i}-about-things"
        server.static(path, article_html(f"Story number {i} headline", prose(500 + i)), "text/html")
        links.append(f'<li><a href="{path}">Story number {i} headline here</a></li>')
    section = f"<html><body><h1>Latest</h1><ul>{''.join(links)}</ul></body></html>".encode()
    server.static("/section", section, "text/html")
    source = await add_source(db, server.url("/section"))
    report = await service.poll_source(source)
    assert report.new == 6, report.errors
    assert (await fresh(db, source.id)).kind == "page"
    again = await service.poll_source(await fresh(db, source.id))
    assert again.new == 0 and again.duplicate == 6
    assert server.hits["/news/2024/05/story-number-0-about-things"] == 1


async def test_summary_only_items_fetch_pages_bounded(
    server: Server, db: Database, service: IngestService
) -> None:
    """Summary-only items fetch their page, at most fetch_full_pages per poll."""
    feed_items = []
    for i in range(3):
        path = f"/full/{i}"
        server.static(path, article_html(f"Full {i}", prose(900 + i, 10)), "text/html")
        feed_items.append(
            {"guid": f"s{i}", "link": server.url(path), "title": f"Full {i}", "text": "Short."}
        )
    server.static("/feed", rss(feed_items))
    source = await add_source(db, server.url("/feed"), fetch_full_pages=1)
    report = await service.poll_source(source)
    assert report.new == 3
    assert sum(server.hits.get(f"/full/{i}", 0) for i in range(3)) == 1
    stored = await rows(db)
    assert sum(len(r.text) > 200 for r in stored) == 1


async def test_jsonl_records(db: Database, service: IngestService) -> None:
    """JSONL records are stored once per id, with synthetic sources and URLs."""
    records = [
        {
            "id": f"r{i}",
            "title": f"Record {i}",
            "text": prose(300 + i),
            "published": "2024-05-01T10:00:00",
            "source": "wire" if i % 2 else "daily",
            "lang": "en",
        }
        for i in range(5)
    ]
    records[0]["url"] = "https://example.org/a?utm_medium=x"
    report = await service.ingest_records(records)
    assert (report.new, report.failed) == (5, 0)
    again = await service.ingest_records(records)
    assert (again.new, again.duplicate) == (0, 5)
    stored = await rows(db)
    assert stored[0].url == "https://example.org/a"
    assert stored[0].published_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    names = sorted(s.url for s in await SourceRepo_list(db))
    assert names == ["jsonl:daily", "jsonl:wire"]
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count(ArticleRow.id))) == 5


async def test_story_state_survives_restart(db: Database, service: IngestService) -> None:
    """A new StoryService reloads active stories and keeps their ids."""
    now = format_datetime(datetime.now(UTC))
    records = [{"id": "x1", "title": "Flood hits the harbour", "text": prose(1), "published": now}]
    await service.ingest_records(records)
    reloaded = StoryService(db)
    assert await reloaded.load() == 1


def reference_simhash(terms: list[str]) -> int:
    """SimHash by its definition: per bit, the weight of terms whose hash has it minus the
    weight of those whose hash lacks it; the bit is set when positive (signed int64)."""
    weights = Counter(term for term in terms if term)  # a term's weight: how often it occurs
    hashes = {
        term: int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "big")
        for term in weights
    }
    value = 0
    for bit in range(64):
        total = sum(n if (hashes[t] >> bit) & 1 else -n for t, n in weights.items())
        value |= (total > 0) << bit
    return value - (1 << 64) if value >> 63 else value


def test_simhash_matches_its_definition() -> None:
    """The packed SimHash equals the per-bit definition."""
    for seed in range(30):
        terms = prose(seed).lower().split()
        assert simhash(terms) == reference_simhash(terms)


def test_simhash_matches_its_definition_beyond_lane_capacity() -> None:
    """Weights past a 16-bit lane (a term repeated 70,000 times) still give the defined value."""
    terms = ["flood"] * 70_000 + prose(3).lower().split() * 40
    assert simhash(terms) == reference_simhash(terms)
    heavy = ["a"] * 65_535 + ["b"] * 65_535 + ["c"]
    assert simhash(heavy) == reference_simhash(heavy)


def test_fingerprint_index_finds_within_three_bits() -> None:
    """The banded index finds fingerprints up to 3 bits away and no further."""
    index = FingerprintIndex(capacity=2)
    index.add(1, 0b1011 << 40)
    assert index.find((0b1011 << 40) ^ 0b111) == 1
    assert index.find((0b1011 << 40) ^ 0b1111) is None
    index.add(2, 5)
    index.add(3, 9)
    assert index.find(0b1011 << 40) is None  # evicted beyond capacity
