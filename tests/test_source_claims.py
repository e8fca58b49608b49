"""Source claims cover the whole poll, and only the holder records its outcome (both engines)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from bot.fetch import Fetcher
from bot.ingest import IngestService
from bot.settings import Settings
from bot.stories import StoryService
from storage.db import Database
from storage.repos.sources import SourceRepo

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title>'
    b"<item><title>Slow news</title><link>http://127.0.0.1/slow/1</link>"
    b"<description>A story that took a while to serve.</description></item>"
    b"</channel></rss>"
)


async def test_record_poll_only_by_the_holder(db: Database) -> None:
    """A process whose lease lapsed and was taken over records nothing; the new holder does."""
    async with db.unit_of_work() as s:
        source = await SourceRepo(s).add("https://a.example/feed", "A")
    async with db.unit_of_work() as s:
        await SourceRepo(s).claim_due(T0, "p1", T0 + timedelta(seconds=30), 10)
    later = T0 + timedelta(seconds=31)
    async with db.unit_of_work() as s:
        taken = await SourceRepo(s).claim_due(later, "p2", later + timedelta(seconds=30), 10)
    assert [x.id for x in taken] == [source.id]
    async with db.unit_of_work() as s:
        stale = await SourceRepo(s).record_poll(
            source.id, now=later, next_poll_at=later, error="late", holder="p1"
        )
    assert stale is None
    async with db.unit_of_work() as s:
        current = await SourceRepo(s).get(source.id)
    assert current is not None and current.error_count == 0 and current.last_error is None
    async with db.unit_of_work() as s:
        done = await SourceRepo(s).record_poll(
            source.id,
            now=later,
            next_poll_at=later + timedelta(minutes=5),
            error=None,
            holder="p2",
        )
    assert done is not None and done.next_poll_at == later + timedelta(minutes=5)


async def test_renewed_claim_is_not_taken_over(db: Database) -> None:
    """Renewing extends only the holder's own claims; a renewed claim is not due elsewhere."""
    async with db.unit_of_work() as s:
        a = await SourceRepo(s).add("https://a.example/feed", "A")
        b = await SourceRepo(s).add("https://b.example/feed", "B")
    async with db.unit_of_work() as s:
        await SourceRepo(s).claim_due(T0, "p1", T0 + timedelta(seconds=30), 1)
    async with db.unit_of_work() as s:
        held = await SourceRepo(s).renew_claims([a.id, b.id], "p1", T0 + timedelta(seconds=90))
    assert held == [a.id]  # b was never p1's
    at = T0 + timedelta(seconds=60)
    async with db.unit_of_work() as s:
        others = await SourceRepo(s).claim_due(at, "p2", at + timedelta(seconds=30), 10)
    assert [x.id for x in others] == [b.id]


@pytest.fixture
async def slow_feed() -> AsyncIterator[str]:
    """A feed on 127.0.0.1 that takes 1.5 s to answer."""

    async def handler(request: web.Request) -> web.Response:
        """Answer slowly."""
        await asyncio.sleep(1.5)
        return web.Response(body=RSS, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/feed"
    finally:
        await runner.cleanup()


async def test_poll_longer_than_the_lease_keeps_its_claim(db: Database, slow_feed: str) -> None:
    """A poll that outlasts its lease keeps the source claimed (renewed), so a second process
    polling meanwhile finds nothing due; the first then records its outcome."""
    async with db.unit_of_work() as s:
        source = await SourceRepo(s).add(slow_feed, "slow")
    settings = Settings(allow_private_sources=True, lease_seconds=0.6)
    stories = StoryService(db)
    await stories.load()
    async with Fetcher(allow_private=True) as fetcher:
        first = IngestService(db, fetcher, stories, settings)
        polling = asyncio.create_task(first.poll_due("p1"))
        await asyncio.sleep(1.0)  # past the 0.6 s lease, before the 1.5 s answer
        now = datetime.now(UTC)
        async with db.unit_of_work() as s:
            stolen = await SourceRepo(s).claim_due(now, "p2", now + timedelta(seconds=30), 10)
        report = await polling
    assert stolen == []
    assert (report.new, report.failed) == (1, 0), report.errors
    async with db.unit_of_work() as s:
        after = await SourceRepo(s).get(source.id)
    assert after is not None and after.last_polled_at is not None and after.error_count == 0
    assert after.next_poll_at is not None and after.next_poll_at > datetime.now(UTC)
