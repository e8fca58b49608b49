"""One bad item never costs the others: per-item isolation in the ingest batch, both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import select, text

import bot.pipeline.normalise as normalise_module
from bot.fetch import Fetcher
from bot.ingest import IngestService
from bot.settings import Settings
from bot.stories import StoryService
from storage.db import Database
from storage.models import ArticleRow

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
POISON = "Poison pill headline"
FEED_URL = "https://feeds.example/news.xml"
HEADERS = {"content-type": "application/rss+xml"}


def feed(titles: list[str]) -> bytes:
    """An RSS 2.0 feed with one item per title."""
    items = "".join(
        f"<item><guid>g-{i}</guid><link>https://news.example/{i}</link>"
        f"<title>{escape(title)}</title>"
        f"<description>Report {i}: {escape(title)} as officials met on Monday.</description>"
        "</item>"
        for i, title in enumerate(titles)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>{items}</channel></rss>'
    ).encode()


TITLES = [
    "Harbour strike enters third day",
    "Flood warnings issued for the valley",
    POISON,
    "Central bank holds interest rates",
    "Football final moved to Sunday",
]


async def reject_poison(db: Database) -> None:
    """Make the database itself refuse an article row with the poison title."""
    async with db.unit_of_work() as session:
        if db.dialect == "sqlite":
            await session.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON articles "
                    f"WHEN NEW.title = '{POISON}' "
                    "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
                )
            )
        else:
            await session.execute(
                text(f"ALTER TABLE articles ADD CONSTRAINT poison CHECK (title <> '{POISON}')")
            )


@pytest.fixture
async def service(db: Database) -> AsyncIterator[IngestService]:
    """An ingest service over the test database."""
    stories = StoryService(db, now=lambda: NOW)
    await stories.load()
    async with Fetcher(allow_private=True) as fetcher:
        yield IngestService(
            db, fetcher, stories, Settings(allow_private_sources=True), clock=lambda: NOW
        )


async def stored_titles(db: Database) -> list[str]:
    """Titles of the stored articles, sorted."""
    async with db.unit_of_work() as session:
        return sorted(await session.scalars(select(ArticleRow.title)))


async def test_a_row_the_database_rejects_costs_no_other_item(
    db: Database, service: IngestService
) -> None:
    """The database refuses one item's row: it is skipped and counted, the other four are
    stored with their stories, and the next poll stores nothing twice."""
    await reject_poison(db)
    report = await service.ingest_bytes(feed(TITLES), FEED_URL, HEADERS)
    assert (report.new, report.failed) == (4, 1), report.errors
    assert len(report.errors) == 1 and "https://news.example/2" in report.errors[0]
    assert await stored_titles(db) == sorted(t for t in TITLES if t != POISON)
    async with db.unit_of_work() as session:
        stories = list(await session.scalars(select(ArticleRow.story_id)))
    assert all(story_id is not None for story_id in stories)
    again = await service.ingest_bytes(feed(TITLES), FEED_URL, HEADERS)
    assert (again.new, again.duplicate, again.failed) == (0, 4, 1)
    assert len(await stored_titles(db)) == 4


async def test_every_row_rejected_is_an_error_of_the_poll(
    db: Database, service: IngestService
) -> None:
    """When no item of the batch can be stored the failure is the database's, not an item's:
    it is raised (the poll is recorded as failed and retried), not swallowed as skips."""
    await reject_poison(db)
    with pytest.raises(Exception, match="poison"):
        await service.ingest_bytes(feed([POISON, POISON + " "]), FEED_URL, HEADERS)
    assert await stored_titles(db) == []


async def test_an_item_whose_normalising_raises_costs_no_other_item(
    db: Database, service: IngestService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception while normalising one item: that item is reported, the others stored."""
    real = normalise_module.summarise

    def summarise(title: str, body: str, *args: object, **kwargs: object) -> list[str]:
        if title == POISON:
            raise RecursionError("hostile markup")
        return real(title, body, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(normalise_module, "summarise", summarise)
    report = await service.ingest_bytes(feed(TITLES), FEED_URL, HEADERS)
    assert (report.new, report.failed) == (4, 1), report.errors
    assert "RecursionError: hostile markup" in report.errors[0]
    assert await stored_titles(db) == sorted(t for t in TITLES if t != POISON)
