"""Repeated extraction failures: a section page whose linked articles can never be read
sends the operators one notice after five polls in a row; a readable page resets the count."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from bot.fetch import Fetcher
from bot.ingest import IngestService
from bot.ingest.service import WARN_AFTER_FAILURES
from bot.pipeline.notices import read_notice
from bot.presentation.sources import notice_line
from bot.settings import Settings
from bot.stories import StoryService
from storage.db import Database
from storage.repos.ops import NoticeRepo
from storage.repos.sources import SourceRepo
from tests.e2e import FeedServer

LINKS = "".join(
    f'<li><a href="/news/2024/05/story-number-{i}-about-things">Story number {i} headline here</a></li>'
    for i in range(6)
)
SECTION = f"<html><body><h1>Latest</h1><ul>{LINKS}</ul></body></html>".encode()
ARTICLE = (
    "<html><head><title>Story</title></head><body><article><h1>Story number 0 headline</h1>"
    + "<p>The harbour reopened on Monday after a week of strikes by port workers.</p>" * 12
    + "</article></body></html>"
).encode()


@pytest.fixture
def site() -> Iterator[FeedServer]:
    """A local site whose article links 404 until a test serves them."""
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
async def ingest(db: Database) -> AsyncIterator[IngestService]:
    """An ingest service that may reach 127.0.0.1."""
    stories = StoryService(db)
    await stories.load()
    async with Fetcher(allow_private=True) as fetcher:
        yield IngestService(db, fetcher, stories, Settings(allow_private_sources=True))


async def unseen(db: Database) -> list[str]:
    """The texts of notices not yet sent."""
    async with db.unit_of_work() as session:
        return [n.text for n in await NoticeRepo(session).unseen(50)]


async def poll(db: Database, ingest: IngestService, source_id: int) -> None:
    """Poll the source once (its current state)."""
    async with db.unit_of_work() as session:
        source = await SourceRepo(session).get(source_id)
    assert source is not None
    await ingest.poll_source(source)


async def test_unreadable_article_pages_notice_once(
    db: Database, site: FeedServer, ingest: IngestService
) -> None:
    """Five polls whose article pages all fail: one notice; a readable page resets the count."""
    url = site.put("/section", SECTION, "text/html")
    async with db.unit_of_work() as session:
        source = await SourceRepo(session).add(url, "Harbour", poll_seconds=300)
    for _ in range(WARN_AFTER_FAILURES - 1):
        await poll(db, ingest, source.id)
    assert await unseen(db) == []
    await poll(db, ingest, source.id)
    (text,) = await unseen(db)
    facts = read_notice(text)
    assert facts is not None and (facts.kind, facts.source_id, facts.failures) == (
        "extraction",
        source.id,
        WARN_AFTER_FAILURES,
    )
    assert "no article page could be read in 5 polls" in notice_line("en", text)
    assert "تعذّرت قراءة أي صفحة مقال" in notice_line("ar", text)
    await poll(db, ingest, source.id)
    assert len(await unseen(db)) == 1  # one notice per streak
    site.put("/news/2024/05/story-number-0-about-things", ARTICLE, "text/html")
    await poll(db, ingest, source.id)
    async with db.unit_of_work() as session:
        after = await SourceRepo(session).get(source.id)
    assert after is not None and after.error_count == 0 and after.last_success_at is not None


async def test_page_streak_is_stored_per_source(db: Database) -> None:
    """record_poll counts polls whose pages all failed and resets on a readable one."""
    async with db.unit_of_work() as session:
        source = await SourceRepo(session).add("http://127.0.0.1:1/s", "S")
    now = datetime.now(UTC)
    for failed in (True, True, False, True, True):
        async with db.unit_of_work() as session:
            await SourceRepo(session).record_poll(
                source.id, now=now, next_poll_at=now, error=None, pages_failed=failed, warn_after=3
            )
    assert await unseen(db) == []  # never three in a row
    async with db.unit_of_work() as session:
        await SourceRepo(session).record_poll(
            source.id, now=now, next_poll_at=now, error=None, pages_failed=True, warn_after=3
        )
    assert len(await unseen(db)) == 1
