"""Source names: a source added without a name takes the feed's title or the site's name at
its first successful fetch; operator names are kept; hostile titles are cleaned."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.fetch import Fetcher
from bot.ingest import IngestService
from bot.pipeline.source_names import (
    clean_source_name,
    discover_name,
    page_site_name,
    title_site_name,
)
from bot.settings import Settings
from bot.sources import SourceService
from bot.stories import StoryService
from storage.db import Database
from storage.repos.ops import NoticeRepo
from storage.repos.sources import SourceRepo
from tests.bot_harness import ADMIN_ID, USER_ID, make_harness
from tests.e2e import FeedServer, rss

MINA = "وكالة الميناء"
NOW = datetime.now(UTC)
ITEM = {
    "title": "Port workers end strike after wage deal",
    "link": "https://mina.example/strike-ends",
    "description": "Port workers ended their strike on Monday after a wage deal with the port "
    "authority. Ships queued outside the harbour began unloading again.",
    "published": NOW - timedelta(hours=1),
}
PAGE = (
    "<html><head><title>{title}</title>{meta}</head><body><article><h1>Port reopens</h1>"
    + "<p>The harbour reopened on Monday after a week of strikes by port workers. " * 8
    + "</p></article></body></html>"
)


# --------------------------------------------------------------------------- pure


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  وكالة   الميناء \n", MINA),
        ("\u202eevil\u202c Name", "evil Name"),  # bidi override dropped
        ("A\x00B\x07C", "A B C"),  # control characters become spaces
        ("zero\u200bwidth", "zerowidth"),  # format characters dropped
        ("   \t\n ", None),
        ("", None),
        (None, None),
        ("\u2066\u2069", None),
    ],
)
def test_clean_source_name(raw: str | None, expected: str | None) -> None:
    """Names are stripped, collapsed and freed of control and bidi-override characters."""
    assert clean_source_name(raw) == expected


def test_long_names_are_bounded() -> None:
    """A 10,000-character title is cut to 200 characters with an ellipsis."""
    name = clean_source_name("x" * 10_000)
    assert name is not None and len(name) == 200 and name.endswith("…")


def test_page_site_name_prefers_og_site_name_then_title() -> None:
    """og:site_name wins; otherwise the <title> without its section tail."""
    og = '<meta property="og:site_name" content=" Al  Mina ">'
    assert page_site_name(PAGE.format(title="Port reopens | Politics", meta=og).encode()) == (
        "Al Mina"
    )
    plain = PAGE.format(title=f"{MINA} | سياسة", meta="").encode()
    assert page_site_name(plain) == MINA
    assert title_site_name("Daily News - World - Europe") == "Daily News"
    assert page_site_name(PAGE.format(title="  ", meta="").encode()) is None
    assert page_site_name(b"") is None


def test_discover_name_reads_feed_titles() -> None:
    """RSS, Atom and JSON Feed titles name their source."""
    assert discover_name(rss(MINA, [ITEM]), "http://127.0.0.1/f", {}, NOW) == MINA
    atom = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>Atom  Agency</title><id>x</id><updated>2025-01-01T00:00:00Z</updated></feed>"
    )
    assert discover_name(atom, "http://x/atom", {"Content-Type": "application/atom+xml"}, NOW) == (
        "Atom Agency"
    )
    feed = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "JSON \\u202eNews", "items": []}'
    )
    headers = {"content-type": "application/feed+json"}
    assert discover_name(feed, "http://x/feed.json", headers, NOW) == "JSON News"


# --------------------------------------------------------------------------- storage


async def test_record_poll_names_only_auto_named_sources(db: Database) -> None:
    """A success records last_success_at and replaces a stand-in name, never an operator's."""
    async with db.unit_of_work() as session:
        repo = SourceRepo(session)
        auto = await repo.add("http://127.0.0.1:1/a", "127.0.0.1", name_auto=True)
        mine = await repo.add("http://127.0.0.1:1/b", "My name")
    async with db.unit_of_work() as session:
        repo = SourceRepo(session)
        failed = await repo.record_poll(
            auto.id, now=NOW, next_poll_at=NOW, error="boom", title=MINA
        )
        assert failed is not None and failed.name == "127.0.0.1" and failed.last_success_at is None
        named = await repo.record_poll(auto.id, now=NOW, next_poll_at=NOW, error=None, title=MINA)
        kept = await repo.record_poll(mine.id, now=NOW, next_poll_at=NOW, error=None, title=MINA)
    assert named is not None and (named.name, named.name_auto) == (MINA, False)
    assert named.last_success_at is not None
    assert abs((named.last_success_at.replace(tzinfo=UTC) - NOW).total_seconds()) < 1
    assert kept is not None and (kept.name, kept.name_auto) == ("My name", False)
    async with db.unit_of_work() as session:
        again = await SourceRepo(session).record_poll(
            auto.id, now=NOW, next_poll_at=NOW, error=None, title="Another title"
        )
    assert again is not None and again.name == MINA  # named once: later titles do not rename


async def test_repeated_failures_leave_one_notice_before_the_pause(db: Database) -> None:
    """`warn_after` consecutive failures add one notice; the pause adds another."""
    async with db.unit_of_work() as session:
        source = await SourceRepo(session).add("http://127.0.0.1:1/p", "Page")
    for _ in range(4):
        async with db.unit_of_work() as session:
            await SourceRepo(session).record_poll(
                source.id,
                now=NOW,
                next_poll_at=NOW,
                error="ValueError: no article found on the page",
                warn_after=2,
                pause_after=4,
            )
    async with db.unit_of_work() as session:
        notices = await NoticeRepo(session).unseen(10)
    assert [("2 times in a row" in n.text, "paused" in n.text) for n in notices] == [
        (True, False),
        (False, True),
    ]
    assert all("no article found" in n.text for n in notices)


# --------------------------------------------------------------------------- polling


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    """A local HTTP server for feeds and pages."""
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
async def services(db: Database) -> AsyncIterator[tuple[SourceService, IngestService]]:
    """Source and ingest services that may reach 127.0.0.1."""
    settings = Settings(allow_private_sources=True)
    stories = StoryService(db)
    await stories.load()
    async with Fetcher(allow_private=True) as fetcher:
        yield SourceService(db, fetcher, settings), IngestService(db, fetcher, stories, settings)


async def test_first_fetch_names_feed_and_page_sources(
    db: Database, feeds: FeedServer, services: tuple[SourceService, IngestService]
) -> None:
    """Unnamed sources take the feed title or site name; named ones and blank titles keep theirs."""
    sources, ingest = services
    feed = await sources.add(feeds.put("/ar.xml", rss(MINA, [ITEM])))
    named = await sources.add(feeds.put("/named.xml", rss("Feed title", [ITEM])), name="Mine")
    blank = await sources.add(feeds.put("/blank.xml", rss("   ", [ITEM])))
    meta = '<meta property="og:site_name" content="Harbour Daily">'
    page = await sources.add(
        feeds.put("/page.html", PAGE.format(title="x", meta=meta).encode(), "text/html")
    )
    assert (feed.name, feed.name_auto) == ("127.0.0.1", True)
    assert (named.name, named.name_auto) == ("Mine", False)
    await ingest.poll_due("worker")
    after = {s.id: s for s in await sources.list()}
    assert (after[feed.id].name, after[feed.id].name_auto) == (MINA, False)
    assert after[named.id].name == "Mine"
    assert (after[blank.id].name, after[blank.id].name_auto) == ("127.0.0.1", True)
    assert after[page.id].name == "Harbour Daily"
    assert all(s.last_success_at is not None for s in after.values())


async def test_push_shows_the_feed_title_not_the_host(db: Database, feeds: FeedServer) -> None:
    """A push from a source added by /addsource without a name shows «وكالة الميناء»."""
    async with make_harness(db) as bot, Fetcher(allow_private=True) as fetcher:
        bot.services.ingest.fetcher = fetcher
        url = feeds.put("/ar.xml", rss(MINA, []))
        added = await bot.command(f"/addsource {url}", chat_id=ADMIN_ID, user_id=ADMIN_ID)
        assert "called 127.0.0.1 until its first fetch" in added[0].params["text"]
        await bot.command("/follow port workers strike", lang="ar")
        feeds.put("/ar.xml", rss(MINA, [ITEM]))
        await bot.services.ingest.poll_due("worker")
        await bot.deliver()
        pushes = [c for c in bot.api.sent(USER_ID) if "Port workers" in c.params["text"]]
    assert pushes, [c.params["text"] for c in bot.api.sent(USER_ID)]
    assert MINA in pushes[0].params["text"] and "127.0.0.1" not in pushes[0].params["text"]


async def test_addsource_with_a_name_keeps_it(db: Database, feeds: FeedServer) -> None:
    """/addsource URL name: the operator's name survives the first fetch."""
    async with make_harness(db) as bot, Fetcher(allow_private=True) as fetcher:
        bot.services.ingest.fetcher = fetcher
        url = feeds.put("/named.xml", rss(MINA, [ITEM]))
        calls = await bot.command(
            f"/addsource {url} Port  Desk", chat_id=ADMIN_ID, user_id=ADMIN_ID
        )
        assert "Added source" in calls[0].params["text"] and "Port Desk" in calls[0].params["text"]
        await bot.services.ingest.poll_due("worker")
        (source,) = await bot.services.sources.list()
    assert (source.name, source.name_auto) == ("Port Desk", False)
    assert source.last_success_at is not None
