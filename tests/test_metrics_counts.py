"""Metrics recorded where things happen: poll outcomes as counters, search latency."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.fetch import Fetcher
from bot.ingest import IngestService
from bot.metrics import REGISTRY, poll_outcome
from bot.search import SearchService
from bot.settings import Settings
from bot.stories import StoryService
from storage.db import Database
from storage.repos.sources import SourceRepo
from tests.test_ingest import rss


def sample(name: str, **labels: str) -> float:
    """A metric's current value (0 when it has no sample yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def feeds() -> AsyncIterator[str]:
    """A local feed server: /feed answers with an ETag (304 when it matches), /gone 404."""
    body = rss(
        [
            {
                "guid": "g1",
                "link": "https://news.example/harbour",
                "title": "Harbour strike enters second day",
                "text": "Dock workers stayed out for a second day. Ships waited offshore.",
            }
        ]
    )

    async def feed(request: web.Request) -> web.Response:
        """The feed, or 304 for a client that has it."""
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(body=body, headers={"ETag": '"v1"'}, content_type="application/xml")

    app = web.Application()
    app.router.add_get("/feed", feed)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_poll_outcome_labels() -> None:
    """An error fails the poll; a 304 is not_modified; anything else is ok."""
    assert poll_outcome("HTTP 500", False) == "failed"
    assert poll_outcome("HTTP 500", True) == "failed"
    assert poll_outcome(None, True) == "not_modified"
    assert poll_outcome(None, False) == "ok"


async def test_polls_are_counted_by_outcome(db: Database, feeds: str) -> None:
    """A fetched feed, the same feed unchanged (304) and a missing one: one count each."""
    before = {o: sample("akhbar_polls_total", outcome=o) for o in ("ok", "not_modified", "failed")}
    stories = StoryService(db)
    await stories.load()
    async with db.unit_of_work() as s:
        feed = await SourceRepo(s).add(f"{feeds}/feed", "feed", poll_seconds=300)
        gone = await SourceRepo(s).add(f"{feeds}/gone", "gone", poll_seconds=300)
    async with Fetcher(allow_private=True) as fetcher:
        service = IngestService(db, fetcher, stories, Settings(allow_private_sources=True))
        assert (await service.poll_source(feed)).new == 1
        async with db.unit_of_work() as s:
            stored = await SourceRepo(s).get(feed.id)
        assert stored is not None
        await service.poll_source(stored)
        await service.poll_source(gone)
    after = {o: sample("akhbar_polls_total", outcome=o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {"ok": 1, "not_modified": 1, "failed": 1}


async def test_each_search_is_timed(db: Database) -> None:
    """Every ranking the search service runs lands in the latency histogram."""
    search = SearchService(db)
    count = sample("akhbar_search_seconds_count")
    await search.hits("harbour strike")
    await search.hits("bridge")
    assert sample("akhbar_search_seconds_count") == count + 2
